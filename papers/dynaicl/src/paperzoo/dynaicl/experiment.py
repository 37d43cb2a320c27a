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
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

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
    test_tasks: int = 8
    test_per_task: int = 50
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


@dataclass
class Items:
    """Inputs of several tasks: each input's task, demonstration pool, text and sampler key."""

    tasks: list[Task]
    pools: list[list[str]]
    task_of: list[int]
    xs: list[str]
    keys: list[str]


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


def evaluate(g: GeneralistLM, items: Items, ks: np.ndarray, sampler: DemoSampler, draw: int) -> Evaluation:
    """Send every input with its ``ks[i]`` demonstrations (draw ``draw``) to G; score against the task's rule."""
    tok = tokenizer()
    prompts = []
    for i, k in enumerate(ks):
        t = items.task_of[i]
        demos = sampler.demos(items.pools[t], items.keys[i], int(k), draw)
        prompts.append(prompt_text(items.tasks[t], demos, items.xs[i]))
    answers = g.predict(prompts)
    truth = [items.tasks[t].label(x) for t, x in zip(items.task_of, items.xs, strict=True)]
    correct = np.array([a == y for a, y in zip(answers, truth, strict=True)])
    return Evaluation(prompts, np.array([prompt_tokens(tok, p) for p in prompts]), correct)


def controller_ids(items: Items) -> torch.Tensor:
    """The controller's view of each input: the task's instruction token, then the input (never G's answer)."""
    tok = tokenizer()
    return torch.tensor(
        [tok.encode(INSTRUCTIONS[items.tasks[t].family] + x) for t, x in zip(items.task_of, items.xs, strict=True)]
    )


def _label(g: GeneralistLM, items: Items, sampler: DemoSampler, config: ExperimentConfig) -> np.ndarray:
    n = len(items.xs)

    def correct(k: int, draw: int) -> np.ndarray:
        return evaluate(g, items, np.full(n, k), sampler, draw).correct

    k_star, _ = label_k_star(correct, n, config.K, config.m, config.delta)
    return k_star


def run(config: ExperimentConfig, seed: int) -> Result:
    """One seed of the experiment (module docstring); metrics ``<arm>/b<B>/accuracy`` and the claims' inputs."""
    g1, info1 = meta_trained_generalist(config.generalist, config.cache_dir)
    g2, _ = meta_trained_generalist(config.transfer_generalist, config.cache_dir)
    sampler = DemoSampler(derive(seed, "demos"))
    train = make_items("train", "last2", config.train_tasks, config.train_per_task, config.pool_size, seed)
    test = make_items("test", "last2", config.test_tasks, config.test_per_task, config.pool_size, seed)
    unseen = make_items("unseen", "last3", config.test_tasks, config.test_per_task, config.pool_size, seed)
    K, draw = config.K, config.m  # evaluation uses demonstration draw m: no label saw it
    log.info("labelling k* (%d train + %d test inputs, m=%d)", len(train.xs), len(test.xs), config.m)
    k_star_train = _label(g1, train, sampler, config)
    k_star_test = _label(g1, test, sampler, config)

    torch.manual_seed(derive(seed, "controller"))
    vocab = tokenizer().vocab_size
    controller = MetaController(vocab, K, config.controller)
    train_ids, test_ids, unseen_ids = controller_ids(train), controller_ids(test), controller_ids(unseen)
    log.info("stage 1")
    s1_losses = train_stage1(
        controller, train_ids, k_star_train, config.stage1_epochs, config.batch, config.stage1_lr, derive(seed, "s1")
    )
    pred_s1 = controller.expected_k(test_ids)
    pred_s1_train = controller.expected_k(train_ids)

    def rl_correct(rows: np.ndarray, ks: np.ndarray, step: int) -> np.ndarray:
        sub = Items(
            train.tasks,
            train.pools,
            [train.task_of[r] for r in rows],
            [train.xs[r] for r in rows],
            [train.keys[r] for r in rows],
        )
        return evaluate(g1, sub, ks, sampler, config.m + 1 + step).correct

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
    pred_unseen = controller.expected_k(unseen_ids)
    random_scores = np.random.default_rng(derive(seed, "random")).uniform(0, K, len(test.xs))
    n = len(test.xs)
    preds = {"uniform": np.ones(n), "random": random_scores, "stage1": pred_s1, "dynaicl": pred, "oracle": k_star_test}

    metrics: dict[str, float] = {
        "g1/meta_final_loss": info1["final_loss"],
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
    sum_error = 0
    for b in config.budgets:
        for arm, p in preds.items():
            ks = allocate(p, b, K)
            sum_error = max(sum_error, abs(int(ks.sum()) - round(b * n)))
            ev = evaluate(g1, test, ks, sampler, draw)
            metrics[f"{arm}/b{b:g}/accuracy"] = ev.accuracy
            metrics[f"{arm}/b{b:g}/tokens"] = ev.tokens_per_input
            if arm == "dynaicl":
                metrics[f"dynaicl/b{b:g}/alloc_std"] = float(ks.std())
        for arm, p in (("uniform", np.ones(n)), ("dynaicl", pred)):
            ks = allocate(p, b, K)
            metrics[f"g2_{arm}/b{b:g}/accuracy"] = evaluate(g2, test, ks, sampler, draw).accuracy
            ks_unseen = allocate(np.ones(n) if arm == "uniform" else pred_unseen, b, K)
            metrics[f"unseen_{arm}/b{b:g}/accuracy"] = evaluate(g1, unseen, ks_unseen, sampler, draw).accuracy
    metrics["alloc/sum_error"] = float(sum_error)
    metrics["alloc/constant_is_uniform"] = float(
        all(np.all(allocate(np.full(n, 3.0), b, K) == b) for b in range(K + 1))
    )
    for prefix in ("", "g2_", "unseen_"):
        for arm in ("uniform", "dynaicl"):
            metrics[f"{prefix}{arm}/mean_accuracy"] = float(
                np.mean([metrics[f"{prefix}{arm}/b{b:g}/accuracy"] for b in config.budgets])
            )
    metrics["oracle/mean_accuracy"] = float(np.mean([metrics[f"oracle/b{b:g}/accuracy"] for b in config.budgets]))

    # the uniform curve (k = 0..K) and the performance-constrained comparison on a budget grid
    uniform_curve = [evaluate(g1, test, np.full(n, k), sampler, draw) for k in range(K + 1)]
    series["uniform_k/accuracy"] = [e.accuracy for e in uniform_curve]
    series["uniform_k/tokens"] = [e.tokens_per_input for e in uniform_curve]
    metrics["uniform/k0_accuracy"] = uniform_curve[0].accuracy
    metrics["g2_uniform/k0_accuracy"] = evaluate(g2, test, np.zeros(n, dtype=int), sampler, draw).accuracy
    grid = [float(b) for b in np.arange(config.grid_step, config.target_budget + 1e-9, config.grid_step)]
    target = metrics[f"uniform/b{config.target_budget:g}/accuracy"]
    for arm, p in (("uniform", np.ones(n)), ("dynaicl", pred)):
        evs = [evaluate(g1, test, allocate(p, b, K), sampler, draw) for b in grid]
        series[f"{arm}_grid/accuracy"] = [e.accuracy for e in evs]
        series[f"{arm}_grid/tokens"] = [e.tokens_per_input for e in evs]
        b_min = min_budget(target, grid, [e.accuracy for e in evs])
        metrics[f"{arm}/budget_to_target"] = b_min
        metrics[f"{arm}/tokens_to_target"] = evs[grid.index(b_min)].tokens_per_input if b_min == b_min else float("nan")
    metrics["dynaicl/token_saving"] = 1.0 - metrics["dynaicl/tokens_to_target"] / metrics["uniform/tokens_to_target"]
    for arm in ARMS:
        series[f"{arm}/accuracy"] = [metrics[f"{arm}/b{b:g}/accuracy"] for b in config.budgets]
        series[f"{arm}/tokens"] = [metrics[f"{arm}/b{b:g}/tokens"] for b in config.budgets]
    return Result(metrics=metrics, series=series)
