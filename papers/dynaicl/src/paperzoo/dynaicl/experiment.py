"""The scale runners of DynaICL: ``run(config, seed) -> Result`` (every scale runs the same pipeline).

One seed: the generalists G1 and G2 (meta-trained once, cached on disk; G2 differs in seed and size), held-out
tasks of the ``last2`` family for the controller's training inputs and for the test inputs, and held-out tasks of
the unseen ``last3`` family. k* labels of the training inputs from G1 (m draws per k), stage 1, stage 2; then,
on the test inputs (demonstration draw ``m``, used by no label), accuracy and prompt tokens of

- uniform (every input B demos; a constant controller through :func:`allocate`), random (random scores through
  :func:`allocate`: the same total), DynaICL stage 1 and stage 1+2 (the controller's expected k through
  :func:`allocate`), oracle (test inputs' own k* labels from G1 through :func:`allocate`), at each budget B;
- the uniform curve k = 0..K, and uniform and DynaICL on a budget grid (step 0.5) for the tokens each needs to
  reach uniform's accuracy at B = 8 (:func:`min_budget`);
- transfer: uniform and DynaICL (the controller trained on G1's labels) on G2, and on the unseen family with G1.

:func:`run_dynaicl` is the pipeline after the models and inputs are built (the paper scale's ``run_paper`` calls
it too); :func:`compare_arms` builds every allocation first and sends all the prompts of one (generalist, input
set) to G in one call, so that G's prefix-tree batching computes an input's shared demonstrations once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from paperzoo.dynaicl.allocation import allocate, min_budget
from paperzoo.dynaicl.controller import (
    ControllerConfig,
    DemoSampler,
    MetaController,
    label_k_star,
    train_stage1,
    train_stage2,
)
from paperzoo.dynaicl.generalist import GeneralistConfig, GeneralistLM, meta_trained_generalist
from paperzoo.dynaicl.tasks import INSTRUCTIONS, Task, draw_inputs, draw_task, prompt_text, prompt_tokens, tokenizer
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.arithmetic_lm import DEFAULT_CACHE_DIR, ModelConfig
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range

log = logging.getLogger("paperzoo.dynaicl")
ARMS = ("uniform", "random", "stage1", "dynaicl", "oracle")


@dataclass(frozen=True)
class ExperimentConfig:
    """One scale's settings (defaults: the full CPU scale)."""

    generalist: GeneralistConfig = field(default_factory=GeneralistConfig)
    # G2: another seed and size (3 layers, d = 128, 1000 steps) for the transfer test.
    transfer_generalist: GeneralistConfig = field(
        default_factory=lambda: GeneralistConfig(
            model=ModelConfig(n_layer=3, d_model=128, d_ff=256, n_head=4, max_positions=80), steps=1000, seed=1234
        )
    )
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    K: int = 16
    m: int = 4
    delta: float = 1.0  # (R) "G makes a good prediction": every one of the m draws correct
    pool_size: int = 64
    train_tasks: int = 8
    train_per_task: int = 40
    test_tasks: int = 32
    test_per_task: int = 100
    budgets: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    target_budget: float = 8.0  # the performance target: uniform's accuracy at this budget
    grid_step: float = 0.5
    stage1_epochs: int = 40
    stage1_lr: float = 3e-3
    stage2_steps: int = 150
    stage2_lr: float = 1e-3
    gamma: float = 0.1  # (R) the efficiency penalty of stage 2
    batch: int = 32
    cache_dir: str | None = DEFAULT_CACHE_DIR
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("K", "m", "pool_size", "train_tasks", "train_per_task", "test_tasks", "test_per_task"):
            check_positive_int(name, getattr(self, name))
        for name in ("stage1_epochs", "stage2_steps", "batch"):
            check_positive_int(name, getattr(self, name))
        check_range("delta", self.delta, 0.0, 1.0, low_inclusive=False)
        check_non_negative("gamma", self.gamma)
        check_positive("grid_step", self.grid_step)
        if self.pool_size < self.K:
            raise ValueError(f"pool_size must be >= K={self.K}, got {self.pool_size}")
        for b in (*self.budgets, self.target_budget):
            check_range("budgets", b, 0.0, float(self.K))
        if self.generalist.k_max < self.K:
            raise ValueError(f"the generalist must be meta-trained with k_max >= K={self.K}")


class PipelineConfig(Protocol):
    """What :func:`run_dynaicl` and :func:`compare_arms` read of a scale's config (the CPU scales'
    :class:`ExperimentConfig` and the paper scale's ``PaperConfig``)."""

    K: int
    m: int
    delta: float
    budgets: tuple[float, ...]
    target_budget: float
    grid_step: float
    stage1_epochs: int
    stage1_lr: float
    stage2_steps: int
    stage2_lr: float
    gamma: float
    batch: int


class InputSet(Protocol):
    """Inputs with their tasks' demonstration pools: what :func:`evaluate_many` sends to G."""

    def __len__(self) -> int: ...

    def prompt(self, i: int, k: int, sampler: DemoSampler, draw: int) -> str:
        """Input ``i``'s prompt with its ``k`` demonstrations of draw ``draw``."""
        ...

    def truth(self) -> list[str]:
        """Each input's correct label."""
        ...

    def count_tokens(self, prompt: str) -> int:
        """A prompt's cost in G's tokens."""
        ...

    def subset(self, rows: Sequence[int]) -> InputSet:
        """The inputs ``rows`` (same tasks, pools and sampler keys)."""
        ...


_TOKENIZER = tokenizer()


@dataclass
class Items:
    """Inputs of several synthetic tasks: each input's task, demonstration pool, text and sampler key."""

    tasks: list[Task]
    pools: list[list[str]]
    task_of: list[int]
    xs: list[str]
    keys: list[str]

    def __len__(self) -> int:
        return len(self.xs)

    def prompt(self, i: int, k: int, sampler: DemoSampler, draw: int) -> str:
        t = self.task_of[i]
        return prompt_text(self.tasks[t], sampler.demos(self.pools[t], self.keys[i], k, draw), self.xs[i])

    def truth(self) -> list[str]:
        return [self.tasks[t].label(x) for t, x in zip(self.task_of, self.xs, strict=True)]

    def count_tokens(self, prompt: str) -> int:
        return prompt_tokens(_TOKENIZER, prompt)

    def subset(self, rows: Sequence[int]) -> Items:
        return Items(
            self.tasks,
            self.pools,
            [self.task_of[r] for r in rows],
            [self.xs[r] for r in rows],
            [self.keys[r] for r in rows],
        )


def make_items(name: str, family: str, n_tasks: int, per_task: int, pool_size: int, seed: int) -> Items:
    """``n_tasks`` held-out tasks of ``family``, each with a demonstration pool and ``per_task`` inputs."""
    rng = random.Random(derive(seed, name))
    items = Items([], [], [], [], [])
    for t in range(n_tasks):
        items.tasks.append(draw_task(family, rng, held_out=True))
        items.pools.append(draw_inputs(pool_size, rng))
        for i, x in enumerate(draw_inputs(per_task, rng)):
            items.task_of.append(t)
            items.xs.append(x)
            items.keys.append(f"{name}/{t}/{i}")
    return items


@dataclass
class Evaluation:
    """What one allocation cost and scored: the prompts sent, their token counts, G's correctness."""

    prompts: list[str]
    tokens: np.ndarray
    correct: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def tokens_per_input(self) -> float:
        return float(self.tokens.mean())


def evaluate_many(
    g: GeneralistLM, items: InputSet, allocations: Sequence[np.ndarray], sampler: DemoSampler, draw: int
) -> list[Evaluation]:
    """Send every input with its ``ks[i]`` demonstrations (draw ``draw``) to G, for each allocation ``ks``, in
    one call (an input's prompts under different allocations share their prefix: the demonstrations of one draw
    are nested in k); score against the correct labels."""
    prompts = [items.prompt(i, int(k), sampler, draw) for ks in allocations for i, k in enumerate(ks)]
    answers = g.predict(prompts)
    truth = items.truth()
    out, start = [], 0
    for ks in allocations:
        sent, got = prompts[start : start + len(ks)], answers[start : start + len(ks)]
        correct = np.array([a == y for a, y in zip(got, truth, strict=True)])
        out.append(Evaluation(sent, np.array([items.count_tokens(p) for p in sent]), correct))
        start += len(ks)
    return out


def evaluate(g: GeneralistLM, items: InputSet, ks: np.ndarray, sampler: DemoSampler, draw: int) -> Evaluation:
    """One allocation of :func:`evaluate_many`."""
    return evaluate_many(g, items, [ks], sampler, draw)[0]


def controller_ids(items: Items) -> torch.Tensor:
    """The controller's view of each input: the task's instruction token, then the input (never G's answer)."""
    tok = tokenizer()
    return torch.tensor(
        [tok.encode(INSTRUCTIONS[items.tasks[t].family] + x) for t, x in zip(items.task_of, items.xs, strict=True)]
    )


def _label(g: GeneralistLM, items: InputSet, sampler: DemoSampler, config: PipelineConfig) -> np.ndarray:
    """k* of every input: per draw, the prompts of every k in 0..K go to G in one call (the demonstration sets
    of one draw are nested in k, so G's prefix-tree batching computes their shared demonstrations once)."""
    n, K = len(items), config.K
    every_k = [np.full(n, k) for k in range(K + 1)]
    table = [[e.correct for e in evaluate_many(g, items, every_k, sampler, draw)] for draw in range(config.m)]
    k_star, _ = label_k_star(lambda k, draw: table[draw][k], n, K, config.m, config.delta)
    return k_star


def run(config: ExperimentConfig, seed: int) -> Result:
    """One seed of the experiment (module docstring); metrics ``<arm>/b<B>/accuracy`` and the claims' inputs."""
    g1, info1 = meta_trained_generalist(config.generalist, config.cache_dir)
    g2, _ = meta_trained_generalist(config.transfer_generalist, config.cache_dir)
    train = make_items("train", "last2", config.train_tasks, config.train_per_task, config.pool_size, seed)
    test = make_items("test", "last2", config.test_tasks, config.test_per_task, config.pool_size, seed)
    unseen = make_items("unseen", "last3", config.test_tasks, config.test_per_task, config.pool_size, seed)
    torch.manual_seed(derive(seed, "controller"))
    controller = MetaController(tokenizer().vocab_size, config.K, config.controller)
    ids = {name: controller_ids(items) for name, items in (("train", train), ("test", test), ("unseen", unseen))}
    result = run_dynaicl(
        config,
        seed,
        g1,
        controller,
        (train, ids["train"]),
        (test, ids["test"]),
        {"g2": (g2, test, ids["test"]), "unseen": (g1, unseen, ids["unseen"])},
    )
    result.metrics["g1/meta_final_loss"] = info1["final_loss"]
    return result


def run_dynaicl(
    config: PipelineConfig,
    seed: int,
    g1: GeneralistLM,
    controller: MetaController,
    train: tuple[InputSet, torch.Tensor],
    test: tuple[InputSet, torch.Tensor],
    transfer: dict[str, tuple[GeneralistLM, InputSet, torch.Tensor]],
) -> Result:
    """DynaICL end to end on one seed, for any scale: k* labels of the training and test inputs from ``g1``
    (m draws per k), stage 1, stage 2, then every arm on the test inputs (demonstration draw ``m``, used by no
    label) with :func:`compare_arms`, and uniform vs DynaICL on each ``transfer`` target (a generalist, inputs
    and their controller ids). ``train`` and ``test``: inputs and their controller ids (instruction + input,
    never G's answer)."""
    (train_items, train_ids), (test_items, test_ids) = train, test
    sampler = DemoSampler(derive(seed, "demos"))
    K, draw = config.K, config.m  # evaluation uses demonstration draw m: no label saw it
    log.info("labelling k* (%d train + %d test inputs, m=%d)", len(train_items), len(test_items), config.m)
    k_star_train = _label(g1, train_items, sampler, config)
    k_star_test = _label(g1, test_items, sampler, config)

    log.info("stage 1")
    s1_losses = train_stage1(
        controller, train_ids, k_star_train, config.stage1_epochs, config.batch, config.stage1_lr, derive(seed, "s1")
    )
    pred_s1 = controller.expected_k(test_ids)
    pred_s1_train = controller.expected_k(train_ids)

    def rl_correct(rows: np.ndarray, ks: np.ndarray, step: int) -> np.ndarray:
        return evaluate(g1, train_items.subset(rows.tolist()), ks, sampler, config.m + 1 + step).correct

    log.info("stage 2")
    s2 = train_stage2(
        controller,
        train_ids,
        rl_correct,
        config.gamma,
        config.stage2_steps,
        config.batch,
        config.stage2_lr,
        derive(seed, "s2"),
    )
    pred = controller.expected_k(test_ids)
    n = len(test_items)
    random_scores = np.random.default_rng(derive(seed, "random")).uniform(0, K, n)
    preds = {"uniform": np.ones(n), "random": random_scores, "stage1": pred_s1, "dynaicl": pred, "oracle": k_star_test}

    metrics: dict[str, float] = {
        "labels/mean_k_star": float(k_star_train.mean()),
        "labels/frac_at_K": float((k_star_train == K).mean()),
        "stage1/loss_first": float(np.mean(s1_losses[:5])),
        "stage1/loss_last": float(np.mean(s1_losses[-5:])),
        "stage1/mean_pred_k": float(pred_s1.mean()),
        "dynaicl/mean_pred_k": float(pred.mean()),
        "dynaicl/stage2_shift": float(np.abs(controller.expected_k(train_ids) - pred_s1_train).mean()),
        "dynaicl/pred_k_corr_k_star": float(np.corrcoef(pred, k_star_test)[0, 1]),
    }
    series: dict[str, list[float]] = {"stage1/loss": s1_losses, **{f"stage2/{k}": v for k, v in s2.items()}}
    log.info("evaluating")
    targets = {"g1": (g1, test_items), **{t: (g, items) for t, (g, items, _) in transfer.items()}}

    def evaluate_on(target: str, allocations: list[np.ndarray]) -> list[Evaluation]:
        g, items = targets[target]
        return evaluate_many(g, items, allocations, sampler, draw)

    transfer_preds = {t: controller.expected_k(ids) for t, (_, _, ids) in transfer.items()}
    found, curves = compare_arms(evaluate_on, preds, transfer_preds, config)
    return Result(metrics=metrics | found, series=series | curves)


def compare_arms(
    evaluate_on: Callable[[str, list[np.ndarray]], list[Evaluation]],
    preds: dict[str, np.ndarray],
    transfer: dict[str, np.ndarray],
    config: PipelineConfig,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """The arms' metrics and curves: every allocation first, then one ``evaluate_on(target, allocations)`` call
    per target (``"g1"``: the test inputs on G; each key of ``transfer``: another (generalist, input set) with
    DynaICL's predictions for it), so that an input's prompts, which share their prefix (the demonstrations of
    one draw are nested in k), go to G together.

    ``preds`` maps each arm to its per-input scores (``uniform`` and ``dynaicl`` required), each allocated with
    :func:`allocate` at every budget; metrics ``<arm>/b<B>/accuracy`` and ``/tokens``, the uniform curve
    k = 0..K, tokens to reach uniform's accuracy at the target budget on the budget grid, and per transfer
    target ``<target>_<arm>/b<B>/accuracy`` for uniform and DynaICL and ``<target>_uniform/k0_accuracy``."""
    K, n = config.K, len(preds["uniform"])
    grid = [float(b) for b in np.arange(config.grid_step, config.target_budget + 1e-9, config.grid_step)]
    plans: dict[str, dict[str, np.ndarray]] = {"g1": {}, **{t: {} for t in transfer}}
    for b in config.budgets:
        plans["g1"] |= {f"{arm}/b{b:g}": allocate(p, b, K) for arm, p in preds.items()}
        for t, p in transfer.items():
            plans[t] |= {
                f"{t}_{arm}/b{b:g}": allocate(q, b, K) for arm, q in (("uniform", np.ones(len(p))), ("dynaicl", p))
            }
    plans["g1"] |= {f"uniform_k/{k}": np.full(n, k) for k in range(K + 1)}
    for t, p in transfer.items():
        plans[t][f"{t}_uniform/k0"] = np.zeros(len(p), dtype=int)
    for arm in ("uniform", "dynaicl"):
        plans["g1"] |= {f"{arm}_grid/{b:g}": allocate(preds[arm], b, K) for b in grid}
    evs = {}
    for target, named in plans.items():
        evs |= zip(named, evaluate_on(target, list(named.values())), strict=True)

    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    sum_error = 0
    for b in config.budgets:
        for arm in preds:
            ks, ev = plans["g1"][f"{arm}/b{b:g}"], evs[f"{arm}/b{b:g}"]
            sum_error = max(sum_error, abs(int(ks.sum()) - round(b * n)))
            metrics[f"{arm}/b{b:g}/accuracy"] = ev.accuracy
            metrics[f"{arm}/b{b:g}/tokens"] = ev.tokens_per_input
            if arm == "dynaicl":
                metrics[f"dynaicl/b{b:g}/alloc_std"] = float(ks.std())
        for t in transfer:
            for arm in ("uniform", "dynaicl"):
                metrics[f"{t}_{arm}/b{b:g}/accuracy"] = evs[f"{t}_{arm}/b{b:g}"].accuracy
    metrics["alloc/sum_error"] = float(sum_error)
    metrics["alloc/constant_is_uniform"] = float(
        all(np.all(allocate(np.full(n, 3.0), b, K) == b) for b in range(K + 1))
    )
    for prefix in ("", *(f"{t}_" for t in transfer)):
        for arm in ("uniform", "dynaicl"):
            metrics[f"{prefix}{arm}/mean_accuracy"] = float(
                np.mean([metrics[f"{prefix}{arm}/b{b:g}/accuracy"] for b in config.budgets])
            )
    if "oracle" in preds:
        metrics["oracle/mean_accuracy"] = float(np.mean([metrics[f"oracle/b{b:g}/accuracy"] for b in config.budgets]))

    # the uniform curve (k = 0..K) and the performance-constrained comparison on a budget grid
    uniform_curve = [evs[f"uniform_k/{k}"] for k in range(K + 1)]
    series["uniform_k/accuracy"] = [e.accuracy for e in uniform_curve]
    series["uniform_k/tokens"] = [e.tokens_per_input for e in uniform_curve]
    metrics["uniform/k0_accuracy"] = uniform_curve[0].accuracy
    for t in transfer:
        metrics[f"{t}_uniform/k0_accuracy"] = evs[f"{t}_uniform/k0"].accuracy
    target = metrics[f"uniform/b{config.target_budget:g}/accuracy"]
    for arm in ("uniform", "dynaicl"):
        on_grid = [evs[f"{arm}_grid/{b:g}"] for b in grid]
        series[f"{arm}_grid/accuracy"] = [e.accuracy for e in on_grid]
        series[f"{arm}_grid/tokens"] = [e.tokens_per_input for e in on_grid]
        b_min = min_budget(target, grid, [e.accuracy for e in on_grid])
        metrics[f"{arm}/budget_to_target"] = b_min
        metrics[f"{arm}/tokens_to_target"] = (
            on_grid[grid.index(b_min)].tokens_per_input if b_min == b_min else float("nan")
        )
    metrics["dynaicl/token_saving"] = 1.0 - metrics["dynaicl/tokens_to_target"] / metrics["uniform/tokens_to_target"]
    for arm in preds:
        series[f"{arm}/accuracy"] = [metrics[f"{arm}/b{b:g}/accuracy"] for b in config.budgets]
        series[f"{arm}/tokens"] = [metrics[f"{arm}/b{b:g}/tokens"] for b in config.budgets]
    return metrics, series
