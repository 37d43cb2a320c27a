"""MetaInf-style selection of an acceleration method, its baselines, and their grouped cross-validation.

Every selector is fitted on the measured matrix of training tasks and returns, for each test task, a choice
distribution ``Q[j, a]`` over the methods (one-hot for a deterministic selector, uniform for random), so that
expected metrics are exact: with speedups ``S[j, a]`` (0 where the method failed its fidelity gate),

- regret ``r(j) = sum_a Q[j, a] (1 - S[j, a] / max_b S[j, b])``;
- top-1 accuracy: ``sum_a Q[j, a] [S[j, a] >= (1 - tie) max_b S[j, b]]`` (near-ties within ``tie`` count as hits);
- achieved speedup ``sum_a Q[j, a] S[j, a]``.

MetaInf [ours where the public text is silent]: an MLP ``g([e_task; e_a]) -> (log speedup, log runtime)`` on
numeric task meta-features and a method embedding (one-hot + component flags), trained full-batch with MSE
(optionally plus a pairwise ranking loss); selection ``a* = argmax_a P_hat(j, a)`` subject to ``C_hat(j, a) =
exp(R_hat(j, a)) x price(j) <= B``, falling back to the baseline when no method is predicted to fit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from paperzoo.meta_accel.accel import BASELINE, BY_NAME
from paperzoo.meta_accel.models import FAMILIES, profile
from paperzoo.meta_accel.timing import Matrix
from paperzoo.meta_accel.workloads import TaskSpec
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range

SPEEDUP_FLOOR = 0.05  # the regression target of a gate failure: log(0.05) [ours]
TIE = 0.03  # near-ties within 3 % of the best speedup count as hits (the brief)
SELECTORS = ("random", "expert", "global_best", "isac", "alors", "rf", "gbm", "metainf", "oracle")


def task_features(task: TaskSpec) -> dict[str, float]:
    """Deterministic numeric meta-features of a task (the offline stand-in for the paper's LLM text embeddings).

    Sizes are log-scaled; FLOPs and bytes estimate the baseline's work: ``FLOPs = 2 x non-embedding params x
    tokens processed`` (a decoder recomputes its prefix: ``batch x sum_t (prompt + t)`` tokens; the CNN's convs are
    counted per pixel), ``bytes = 4 x params x forward passes`` (one pass per request and generated token).
    """
    spec, prof = task.model, profile(task.model)
    dense = prof["params"] - prof["embedding_params"]
    if spec.is_decoder:
        tokens = task.batch * sum(task.prompt_len + t for t in range(task.gen_len))
        passes = task.batch * task.gen_len
        flops = 2.0 * dense * tokens
    else:
        passes = task.batch
        flops = 2.0 * dense * task.batch
        if spec.family == "cnn":
            w, s = spec.d_model, spec.input_size
            flops = 2.0 * task.batch * (9 * w * s * s + 9 * w * 2 * w * (s // 2) ** 2 + prof["linear_params"])
    n_bytes = 4.0 * prof["params"] * passes
    return {
        "log_params": math.log(prof["params"]),
        "log_linear_params": math.log(prof["linear_params"]),
        "linear_fraction": prof["linear_params"] / prof["params"],
        "n_layer": float(spec.n_layer if spec.is_decoder else 2),
        "log_d_model": math.log(spec.d_model),
        **{f"family_{f}": float(spec.family == f) for f in FAMILIES},
        "log_batch": math.log(task.batch),
        "log_prompt_len": math.log1p(task.prompt_len),
        "log_gen_len": math.log1p(task.gen_len),
        "threads": float(task.threads),
        "price": task.price,
        "log_flops": math.log(flops),
        "log_bytes": math.log(n_bytes),
        "log_flops_per_byte": math.log(flops / n_bytes),
    }


def feature_matrix(tasks: list[TaskSpec]) -> np.ndarray:
    """The tasks' meta-features as rows (:func:`task_features` order)."""
    return np.asarray([list(task_features(t).values()) for t in tasks], dtype=np.float64)


def method_embedding(methods: tuple[str, ...]) -> np.ndarray:
    """Each method as a one-hot of its index followed by its component flags."""
    flags = np.asarray([list(BY_NAME[m].components().values()) for m in methods])
    return np.concatenate([np.eye(len(methods)), flags], axis=1)


def log_speedup(speedup: np.ndarray) -> np.ndarray:
    """The regression target: ``log(max(S, SPEEDUP_FLOOR))`` (a gate failure, S = 0, becomes the floor)."""
    return np.log(np.maximum(speedup, SPEEDUP_FLOOR))


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return [(x - mean) / std for x in (train, *others)]


@dataclass
class MetaInf:
    """The MetaInf-style predictor ``g([e_task; e_a]) -> (log speedup, log runtime)`` (an MLP, ``layers`` x
    ``hidden`` ReLU), trained full-batch with Adam on ``MSE(log speedup) + MSE(log runtime)`` of standardised
    targets, plus ``rank_weight x`` a pairwise logistic ranking loss over the methods of each task (0: MSE only)."""

    hidden: int = 64
    layers: int = 2
    steps: int = 400
    lr: float = 1e-2
    weight_decay: float = 1e-4
    rank_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "steps"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        check_non_negative("rank_weight", self.rank_weight)

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        n, m = len(x), len(self._emb)
        pairs = np.concatenate([np.repeat(x, m, axis=0), np.tile(self._emb, (n, 1))], axis=1)
        return torch.as_tensor(pairs, dtype=torch.float32)

    def fit(self, x: np.ndarray, methods: tuple[str, ...], target: np.ndarray, log_time: np.ndarray) -> MetaInf:
        """Fit on task features ``x`` (n, f), targets ``target`` = log speedup (n, m) and ``log_time`` (n, m)."""
        self._x_mean, self._x_std = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
        self._emb = method_embedding(methods)
        y = np.stack([target, log_time], axis=-1).reshape(-1, 2)
        self._y_mean, self._y_std = y.mean(0), np.where(y.std(0) > 0, y.std(0), 1.0)
        inputs = self._inputs((x - self._x_mean) / self._x_std)
        y_t = torch.as_tensor((y - self._y_mean) / self._y_std, dtype=torch.float32)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            dims = [inputs.shape[1]] + [self.hidden] * self.layers
            blocks = [m for a, b in itertools.pairwise(dims) for m in (nn.Linear(a, b), nn.ReLU())]
            self.net = nn.Sequential(*blocks, nn.Linear(self.hidden, 2))
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n, m = target.shape
        t = torch.as_tensor(target, dtype=torch.float32)
        better = (t[:, :, None] - t[:, None, :]) > 0  # pairs (a, b) of a task with S[a] > S[b]
        for _ in range(self.steps):
            pred = self.net(inputs)
            loss = ((pred - y_t) ** 2).mean()
            if self.rank_weight:
                p = pred[:, 0].reshape(n, m)
                margin = p[:, :, None] - p[:, None, :]
                loss = loss + self.rank_weight * nn.functional.softplus(-margin)[better].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted log speedup and log runtime, each (n, m)."""
        with torch.no_grad():
            pred = self.net(self._inputs((x - self._x_mean) / self._x_std)).numpy().astype(np.float64)
        pred = pred * self._y_std + self._y_mean
        return pred[:, 0].reshape(len(x), -1), pred[:, 1].reshape(len(x), -1)


def one_hot(choice: np.ndarray, n_methods: int) -> np.ndarray:
    """Choice indices (n,) as a choice distribution (n, m)."""
    return np.eye(n_methods)[np.asarray(choice)]


def expert_choice(task: TaskSpec, methods: tuple[str, ...], big_linear: float = 2.5e5) -> int:
    """The expert rule: batching if batch > 1, KV cache for a decoder generating >= 4 tokens, int8 for a model with
    >= ``big_linear`` parameters in Linear layers; the registered method (no bf16/jit/inference_mode) whose effective
    components match most of these wishes (earliest in ``methods`` on ties)."""
    prof = profile(task.model)
    decoder = task.model.is_decoder
    wish = (prof["linear_params"] >= big_linear, task.batch > 1, decoder and task.gen_len >= 4)

    def matches(name: str) -> int:
        m = BY_NAME[name]
        if m.bf16 or m.jit or m.inference_mode:
            return -1
        effective = (m.int8, m.batching and task.batch > 1, m.kv_cache and decoder)
        return sum(a == b for a, b in zip(effective, wish, strict=True))

    return int(np.argmax([matches(n) for n in methods]))


def isac_scores(x_train: np.ndarray, target: np.ndarray, x_test: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """ISAC: k-means on the standardised task features; a test task scores each method by its mean target in the
    nearest cluster (``n_clusters = 1``: global-best)."""
    from sklearn.cluster import KMeans

    check_positive_int("n_clusters", n_clusters)
    xs, xt = _standardise(x_train, x_test)
    k = min(n_clusters, len(np.unique(xs, axis=0)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(xs)
    means = np.stack([target[km.labels_ == c].mean(0) for c in range(k)])
    return means[km.predict(xt)]


def alors_scores(
    x_train: np.ndarray, target: np.ndarray, x_test: np.ndarray, rank: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """ALORS: the rank-``rank`` SVD ``target ~ U V^T`` of the training matrix and a random forest from task features
    to the latent rows ``U``; a test task scores ``f(x) V^T``. Also returns the training reconstruction."""
    from sklearn.ensemble import RandomForestRegressor

    check_positive_int("rank", rank)
    u, s, vt = np.linalg.svd(target, full_matrices=False)
    r = min(rank, len(s))
    latent, v = u[:, :r] * s[:r], vt[:r]
    xs, xt = _standardise(x_train, x_test)
    forest = RandomForestRegressor(n_estimators=100, random_state=seed).fit(xs, latent if r > 1 else latent[:, 0])
    return forest.predict(xt).reshape(len(xt), r) @ v, latent @ v


def forest_scores(x_train: np.ndarray, target: np.ndarray, x_test: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """Per-method regressors from task features to the target: random forest (``rf``) or gradient boosting
    (``gbm``), scikit-learn with 100 trees each."""
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    xs, xt = _standardise(x_train, x_test)
    scores = np.empty((len(xt), target.shape[1]))
    for a in range(target.shape[1]):
        if kind == "rf":
            model = RandomForestRegressor(n_estimators=100, random_state=seed)
        elif kind == "gbm":
            model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed)
        else:
            raise ValueError(f"kind must be 'rf' or 'gbm', got {kind!r}")
        scores[:, a] = model.fit(xs, target[:, a]).predict(xt)
    return scores


def select(scores: np.ndarray, predicted_cost: np.ndarray, budget: float, fallback: int) -> np.ndarray:
    """Budgeted selection: per task, ``argmax_a scores`` over the methods with ``predicted_cost <= budget``, or
    ``fallback`` when none is predicted to fit."""
    check_positive("budget", budget)
    masked = np.where(predicted_cost <= budget, scores, -np.inf)
    return np.where(np.isfinite(masked).any(1), masked.argmax(1), fallback)


def selection_metrics(choice: np.ndarray, speedup: np.ndarray, tie: float = TIE) -> dict[str, np.ndarray]:
    """Per-task expected regret, top-1 hit and achieved speedup of the choice distribution ``choice`` (n, m)."""
    check_range("tie", tie, 0.0, 1.0)
    best = speedup.max(1, keepdims=True)
    return {
        "regret": (choice * (1.0 - speedup / best)).sum(1),
        "accuracy": (choice * (speedup >= (1.0 - tie) * best)).sum(1),
        "speedup": (choice * speedup).sum(1),
    }


def choices(
    selector: str,
    train: Matrix,
    test: Matrix,
    seed: int,
    metainf: MetaInf | None = None,
    n_clusters: int = 8,
    rank: int = 3,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The test tasks' choice distribution (n_test, m) of ``selector`` fitted on ``train``, and extras (MetaInf's
    predicted log speedup ``scores`` and log runtime ``log_time``)."""
    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {SELECTORS}, got {selector!r}")
    m = len(train.methods)
    target = log_speedup(train.speedup)
    x_train, x_test = feature_matrix(train.tasks), feature_matrix(test.tasks)
    if selector == "random":
        return np.full((len(test.tasks), m), 1.0 / m), {}
    if selector == "oracle":
        return one_hot(test.speedup.argmax(1), m), {}
    if selector == "expert":
        return one_hot([expert_choice(t, train.methods) for t in test.tasks], m), {}
    if selector == "global_best":
        return one_hot(np.full(len(test.tasks), target.mean(0).argmax()), m), {}
    if selector == "isac":
        scores = isac_scores(x_train, target, x_test, n_clusters, seed)
    elif selector == "alors":
        scores, _ = alors_scores(x_train, target, x_test, rank, seed)
    elif selector in ("rf", "gbm"):
        scores = forest_scores(x_train, target, x_test, selector, seed)
    else:
        model = MetaInf(seed=seed) if metainf is None else metainf
        model.fit(x_train, train.methods, target, np.log(train.time_s))
        scores, log_time = model.predict(x_test)
        return one_hot(scores.argmax(1), m), {"scores": scores, "log_time": log_time}
    return one_hot(scores.argmax(1), m), {}


def grouped_folds(groups: np.ndarray, n_folds: int, n_repeats: int, split_seed: int) -> list[list[np.ndarray]]:
    """Per repeat, ``n_folds`` test-index arrays that partition the tasks with every group inside one fold (groups
    shuffled by ``derive(split_seed, repeat)`` and dealt round-robin). ``n_folds`` = number of groups: leave one
    group out."""
    groups = np.asarray(groups)
    unique = np.unique(groups)
    check_positive_int("n_repeats", n_repeats)
    if not 2 <= n_folds <= len(unique):
        raise ValueError(f"n_folds must be in [2, number of groups = {len(unique)}], got {n_folds}")
    repeats = []
    for r in range(n_repeats):
        order = np.random.default_rng(derive(split_seed, "folds", r)).permutation(unique)
        fold_of = {g: i % n_folds for i, g in enumerate(order)}
        assigned = np.asarray([fold_of[g] for g in groups])
        repeats.append([np.flatnonzero(assigned == f) for f in range(n_folds)])
    return repeats


def evaluate_selectors(
    matrix: Matrix,
    groups: np.ndarray,
    split_seed: int,
    n_folds: int,
    n_repeats: int = 1,
    seed: int = 0,
    selectors: tuple[str, ...] = SELECTORS,
    budget_quantiles: tuple[float, ...] = (0.25, 0.5, 0.75),
    metainf: Callable[[int], MetaInf] | None = None,
) -> dict[str, float]:
    """Grouped cross-validation of ``selectors`` on ``matrix``: every task is a test task once per repeat, chosen
    for by selectors fitted on the other folds' tasks only. Returns ``<selector>/<metric>`` means over test tasks and
    repeats (regret, accuracy, speedup), and MetaInf's budgeted metrics ``metainf/budget_q<q>/...`` and
    ``oracle/budget_q<q>/...`` (budget = the q-quantile of the training tasks' simulated costs; satisfied: the
    true cost of the choice is within it)."""
    for q in budget_quantiles:
        check_range("budget_quantiles", q, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    sums: dict[str, list[np.ndarray]] = {}
    base = matrix.methods.index(BASELINE)
    for r, folds in enumerate(grouped_folds(groups, n_folds, n_repeats, split_seed)):
        for f, test_rows in enumerate(folds):
            train_rows = np.setdiff1d(np.arange(len(matrix.tasks)), test_rows)
            train, test = matrix.subset(train_rows), matrix.subset(test_rows)
            fold_seed = derive(seed, "fold", r, f)
            for name in selectors:
                model = None if metainf is None or name != "metainf" else metainf(fold_seed)
                choice, extra = choices(name, train, test, fold_seed, metainf=model)
                for metric, values in selection_metrics(choice, test.speedup).items():
                    sums.setdefault(f"{name}/{metric}", []).append(values)
                if name != "metainf":
                    continue
                price = np.asarray([t.price for t in test.tasks])[:, None]
                for q in budget_quantiles:
                    budget = float(np.quantile(train.cost, q))
                    picks = {
                        "metainf": select(extra["scores"], np.exp(extra["log_time"]) * price, budget, base),
                        "oracle": select(test.speedup, test.cost, budget, base),
                    }
                    for arm, pick in picks.items():
                        rows = np.arange(len(pick))
                        key = f"{arm}/budget_q{q:g}"
                        sums.setdefault(f"{key}/satisfied", []).append(test.cost[rows, pick] <= budget)
                        sums.setdefault(f"{key}/speedup", []).append(test.speedup[rows, pick])
                        sums.setdefault(f"{key}/cost", []).append(test.cost[rows, pick])
    return {k: float(np.concatenate(v).mean()) for k, v in sums.items()}
