"""The scale runners of meta-accel: ``run(config, seed) -> Result``.

- smoke: 6 workloads of one 2-layer d = 64 GPT-2 decoder x 4 methods (eager, int8, batching, KV cache) and a second
  copy of eager, measured live: fidelity gates, eager vs eager speedup, and MetaInf fitted on the committed
  fixture matrix scoring its own training tasks.
- full / paper: the P/C matrix of ``n_tasks`` tasks x the methods (measured once, then read from the disk cache by
  every seed), and every selector under leave-family-out and repeated grouped k-fold CV (groups: model configs).
  A seed changes the CV splits and every selector's initialisation, never the matrix. Then the in-run speed figure:
  choosing for a new task (features + one prediction per method) vs measuring every method on it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from importlib import resources

import numpy as np

from paperzoo.meta_accel.accel import BASELINE, BY_NAME, METHODS, get_methods
from paperzoo.meta_accel.meta import (
    SELECTORS,
    TIE,
    MetaInf,
    choices,
    evaluate_selectors,
    feature_matrix,
    log_speedup,
    selection_metrics,
)
from paperzoo.meta_accel.models import FAMILIES, ModelSpec
from paperzoo.meta_accel.timing import CLOCKS, DEFAULT_CACHE_DIR, Matrix, measure, measure_matrix
from paperzoo.meta_accel.workloads import NODE, TaskSpec, generate_tasks
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int, check_range

log = logging.getLogger("paperzoo.meta_accel")
FIXTURE = "fixture_matrix.json"


def load_fixture() -> Matrix:
    """The committed small matrix (16 tasks x 9 methods measured on a development machine) of the smoke check and
    the tests."""
    import json

    return Matrix.from_json(json.loads(resources.files("paperzoo.meta_accel").joinpath(FIXTURE).read_text()))


@dataclass(frozen=True)
class ExperimentConfig:
    """The full pipeline (defaults: the full CPU scale). ``clock="process"`` and ``nodes`` without the 2-thread
    ``large`` node are for development on a contended machine only (see ``timing.measure``)."""

    n_tasks: int = 150
    task_seed: int = 0
    families: tuple[str, ...] = FAMILIES
    nodes: tuple[str, ...] = tuple(NODE)
    hub_models: tuple[str, ...] = ()  # the paper scale: pretrained decoders replace the random configs
    methods: tuple[str, ...] = tuple(m.name for m in METHODS)
    repeats: int = 5
    warmup: int = 1
    clock: str = "wall"
    n_folds: int = 5
    n_repeats: int = 5
    selectors: tuple[str, ...] = SELECTORS
    metainf_hidden: int = 64
    metainf_layers: int = 2
    metainf_steps: int = 400
    metainf_lr: float = 1e-2
    rank_weight: float = 0.0
    budget_quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    perf_tasks: int = 3
    cache_dir: str | None = DEFAULT_CACHE_DIR
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n_tasks", "repeats", "n_folds", "n_repeats", "metainf_hidden", "metainf_layers"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("metainf_steps", self.metainf_steps)
        check_positive("metainf_lr", self.metainf_lr)
        check_one_of("clock", self.clock, tuple(CLOCKS))
        get_methods(self.methods)
        if BASELINE not in self.methods:
            raise ValueError(f"methods must include the baseline {BASELINE!r}")
        for s in self.selectors:
            check_one_of("selectors", s, SELECTORS)
        for q in self.budget_quantiles:
            check_range("budget_quantiles", q, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        if self.warmup < 0 or self.perf_tasks < 0:
            raise ValueError("warmup and perf_tasks must be >= 0")

    def metainf(self, seed: int) -> MetaInf:
        return MetaInf(
            hidden=self.metainf_hidden,
            layers=self.metainf_layers,
            steps=self.metainf_steps,
            lr=self.metainf_lr,
            rank_weight=self.rank_weight,
            seed=seed,
        )

    def tasks(self) -> list[TaskSpec]:
        """The task list (fixed by ``task_seed``; with ``hub_models``, those decoders' workloads)."""
        tasks = generate_tasks(self.n_tasks, self.task_seed, self.families, self.nodes)
        if not self.hub_models:
            return tasks
        from transformers import AutoConfig

        hub = []
        for h in self.hub_models:
            c = AutoConfig.from_pretrained(h)
            d_model, n_layer = (
                getattr(c, "hidden_size", None) or c.n_embd,
                getattr(c, "num_hidden_layers", None) or c.n_layer,
            )
            hub.append(ModelSpec("llama", d_model, n_layer=n_layer, vocab=min(c.vocab_size, 32000), hub_id=h))
        decoders = [t for t in tasks if t.model.is_decoder]
        return [dataclasses.replace(t, model=hub[i % len(hub)]) for i, t in enumerate(decoders)]


@dataclass(frozen=True)
class SmokeConfig:
    """The smoke check: ``batches`` x ``gen_lens`` workloads (prompt ``prompt_len``) of one decoder."""

    model: ModelSpec = dataclasses.field(default_factory=lambda: ModelSpec("gpt2", 64, n_layer=2))
    batches: tuple[int, ...] = (1, 2, 4)
    gen_lens: tuple[int, ...] = (2, 4)
    prompt_len: int = 8
    methods: tuple[str, ...] = ("eager", "int8", "batching", "kv_cache")
    repeats: int = 9
    clock: str = "wall"
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("prompt_len", self.prompt_len)
        check_positive_int("repeats", self.repeats)
        check_one_of("clock", self.clock, tuple(CLOCKS))
        get_methods(self.methods)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """Fidelity gates and eager-vs-eager timing on live measurements; MetaInf on the fixture's training tasks."""
    tasks = [
        TaskSpec(config.model, derive(seed, "weights"), b, config.prompt_len, g)
        for b in config.batches
        for g in config.gen_lens
    ]
    again = dataclasses.replace(BY_NAME[BASELINE], name="eager_again")
    methods = (*get_methods(config.methods), again)
    rows = [measure(t, methods, config.repeats, seed=seed, clock=config.clock) for t in tasks]
    metrics = {f"gates/{m.name}/pass_rate": float(np.mean([r[m.name]["passed"] for r in rows])) for m in methods[1:-1]}
    ratio = [r[BASELINE]["time_s"] / r["eager_again"]["time_s"] for r in rows]
    metrics["timing/eager_vs_eager_speedup"] = float(np.median(ratio))
    fixture = load_fixture()
    choice, _ = choices("metainf", fixture, fixture, derive(seed, "fixture"))
    for name, values in selection_metrics(choice, fixture.speedup).items():
        metrics[f"fixture/metainf_train_{name}"] = float(values.mean())
    return Result(metrics=metrics)


def n_methods_best(speedup: np.ndarray, tie: float = TIE) -> int:
    """How many methods are the clear best (by more than ``tie`` over every other method) on at least one task: twins
    that run the same code on a family (batching and batch_kv on a classifier) never win clearly against each other."""
    top2 = np.sort(speedup, axis=1)[:, -2:]
    clear = top2[:, 1] > (1.0 + tie) * top2[:, 0]
    return len(np.unique(speedup.argmax(1)[clear]))


def run(config: ExperimentConfig, seed: int) -> Result:
    """The matrix (cached), every selector under leave-family-out and grouped CV, and the selection speed."""
    methods = get_methods(config.methods)
    tasks = config.tasks()
    matrix, info = measure_matrix(
        tasks, methods, config.repeats, config.warmup, config.task_seed, config.cache_dir, config.clock, config.device
    )
    log.info("matrix: %s (cache hit %s, built in %.1f s)", info["path"], bool(info["cache_hit"]), info["build_s"])
    speedup = matrix.speedup
    best = speedup.max(1, keepdims=True)
    metrics = {
        "matrix/n_tasks": float(len(tasks)),
        "matrix/n_methods_best": float(n_methods_best(speedup)),
        "matrix/n_methods_best_any": float(len(np.unique(speedup.argmax(1)))),
        "matrix/gate_pass_rate": float(matrix.passed.mean()),
        "matrix/median_spread": float(np.median(matrix.spread)),
        "matrix/mean_best_speedup": float(best.mean()),
        "matrix/build_s": float(info["build_s"]),
    }
    families = np.asarray([t.model.family for t in tasks])
    schemes = {"cv": (np.asarray([t.model.name for t in tasks]), config.n_folds, config.n_repeats)}
    if len(set(families)) > 1:  # leave one model family out (a paper run of one family has none)
        schemes = {"lfo": (families, len(set(families)), 1), **schemes}
    for scheme, (groups, n_folds, n_repeats) in schemes.items():
        start = time.process_time()
        results = evaluate_selectors(
            matrix,
            groups,
            derive(seed, "split", scheme),
            n_folds,
            n_repeats,
            seed=derive(seed, "selectors", scheme),
            selectors=config.selectors,
            budget_quantiles=config.budget_quantiles,
            metainf=config.metainf,
        )
        metrics |= {f"{scheme}/{k}": v for k, v in results.items()}
        log.info("%s: %d folds x %d repeats in %.1f CPU s", scheme, n_folds, n_repeats, time.process_time() - start)
    if config.perf_tasks:
        metrics |= selection_speed(config, matrix, methods, seed)
    series = {f"matrix/{m}/speedup": matrix.speedup[:, a].tolist() for a, m in enumerate(matrix.methods)}
    series |= {f"matrix/{m}/time_s": matrix.time_s[:, a].tolist() for a, m in enumerate(matrix.methods)}
    series |= {f"matrix/{m}/passed": matrix.passed[:, a].tolist() for a, m in enumerate(matrix.methods)}
    series["matrix/family_index"] = [float(FAMILIES.index(t.model.family)) for t in tasks]
    return Result(metrics=metrics, series=series)


def selection_speed(config: ExperimentConfig, matrix: Matrix, methods: tuple, seed: int) -> dict[str, float]:
    """Seconds to choose for ``perf_tasks`` new tasks (features + one MetaInf prediction per method, fitted on the
    matrix beforehand) vs to measure every method on them, in this run; and their ratio (the issue: <= 0.01)."""
    fresh = generate_tasks(
        config.n_tasks + config.perf_tasks, derive(seed, "perf tasks"), config.families, config.nodes
    )
    known = {t.name for t in matrix.tasks}
    fresh = [t for t in fresh if t.name not in known][: config.perf_tasks]
    x = feature_matrix(matrix.tasks)
    model = config.metainf(derive(seed, "perf")).fit(
        x, matrix.methods, log_speedup(matrix.speedup), np.log(matrix.time_s)
    )
    start = time.perf_counter()
    for task in fresh:
        scores, _ = model.predict(feature_matrix([task]))
        int(scores.argmax())
    choose_s = time.perf_counter() - start
    start = time.perf_counter()
    for task in fresh:
        measure(task, methods, config.repeats, config.warmup, seed, clock=config.clock, device=config.device)
    measure_s = time.perf_counter() - start
    return {
        "perf/choose_s": choose_s / len(fresh),
        "perf/measure_all_s": measure_s / len(fresh),
        "perf/choose_over_measure": choose_s / measure_s,
    }
