"""The paperzoo benchmark of GROOVE.

- smoke (seconds + compilation): 3 meta-steps of GROOVE (PLR + algorithmic regret) with 4 agents x 8 workers,
  GRU 32, on tiny "debug" levels whose lifetimes end within the run: the meta-gradient is finite and nonzero,
  LPG's parameters move, and each finished level's buffer score is exactly R(A2C) - R(LPG agent).
- full (minutes, 2 CPU cores): LPG meta-trained on uniformly random "small" levels against GROOVE on the same
  distribution (16 agents x 16 workers, GRU 64, K = 5), 3 seeds; meta-test: fresh tabular agents trained by
  each frozen LPG for 250 updates on 7 held-out 7x7 levels, return / optimal return (exact DP); the uniform
  random policy and A2C as references.
- paper: the official defaults (the "all" distribution, 512 agents x 64 workers, GRU 256, 30k meta-steps,
  buffer 4000), for accelerators.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paperzoo.groove.evaluation import meta_test
from paperzoo.groove.gridworld import HELD_OUT_ENV, HELD_OUT_EPISODE_LEN, HELD_OUT_LIFETIME, held_out_levels
from paperzoo.groove.level_buffer import PLRConfig
from paperzoo.groove.meta_grad import MetaConfig
from paperzoo.groove.train import TrainConfig, make_train
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.validate import check_positive_int

log = logging.getLogger("paperzoo.groove")
ARMS = {"lpg": "random", "groove": "groove"}  # arm -> level sampler


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds of running: GROOVE's whole meta-step on tiny levels."""

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            sampler="groove",
            distribution="debug",
            meta_steps=3,
            num_agents=4,
            num_workers=8,
            gru_width=32,
            plr=PLRConfig(buffer_size=16),
        )
    )
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.train.sampler != "groove":
            raise ValueError(f"train.sampler must be 'groove' for the smoke run, got {self.train.sampler!r}")


@dataclass(frozen=True)
class FullConfig:
    """LPG (random levels) vs GROOVE (PLR + AR) on "small", meta-tested on the held-out levels."""

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            distribution="small",
            meta_steps=200,
            num_agents=16,
            num_workers=16,
            gru_width=64,
            checkpoints=2,
            plr=PLRConfig(buffer_size=128),
            # 10x the official 1e-4: 200 meta-steps instead of 30k (at 1e-4 LPG does not move off its
            # initialisation in 200 steps: held-out 0.01 vs 0.32 at 1e-3, pilot on seed 0).
            meta=MetaConfig(lpg_lr=1e-3),
        )
    )
    arms: tuple[str, ...] = tuple(ARMS)
    test_agents: int = 2  # fresh agents per held-out level and checkpoint
    test_workers: int = 16  # their training workers
    test_eval_workers: int = 64  # workers of the final evaluation (official: env_workers = 64)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {tuple(ARMS)}, got {self.arms}")
        for name in ("test_agents", "test_workers", "test_eval_workers"):
            check_positive_int(name, getattr(self, name))


def paper_config() -> FullConfig:
    """The official defaults (``experiments/parse_args.py``): "all" levels, 512 agents x 64 workers, GRU 256,
    30k meta-steps; PLR buffer 4000, p_replay 0.5, rank transform."""
    return FullConfig(
        train=TrainConfig(
            distribution="all", meta_steps=30_000, num_agents=512, num_workers=64, gru_width=256, checkpoints=10
        ),
        test_agents=8,
        test_workers=64,
        device="cuda",
    )


@functools.cache
def _compiled_train(train: TrainConfig) -> tuple[Any, float]:
    """The jitted, compiled ``train`` of a config, and its compile time (cached: seeds share one compilation)."""
    start = time.perf_counter()
    compiled = jax.jit(make_train(train)).lower(jax.random.key(0)).compile()
    return compiled, time.perf_counter() - start


def meta_train(train: TrainConfig, seed: int) -> tuple[Any, dict[str, np.ndarray], Any, dict[str, float]]:
    """Compile (once per config) and run meta-training; returns (final state, metrics, checkpoints, timings)."""
    compiled, compile_s = _compiled_train(train)
    start = time.perf_counter()
    state, metrics, checkpoints = jax.block_until_ready(compiled(jax.random.key(seed)))
    run_s = time.perf_counter() - start
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    steps = train.meta_steps
    # Environment steps of one meta-step: K inner updates + 1 meta rollout of B x W workers x T steps,
    # plus the antagonists' K updates for GROOVE (evaluations of finished agents not counted).
    per_step = (train.meta.num_agent_updates + 1) * train.num_agents * train.num_workers * train.meta.rollout_len
    if train.sampler == "groove":
        per_step += train.meta.num_agent_updates * train.num_agents * train.num_workers * train.meta.rollout_len
    timings = {
        "compile_s": compile_s,
        "run_s": run_s,
        "meta_steps_per_s": steps / run_s,
        "env_steps_per_s": steps * per_step / run_s,
    }
    return state, metrics, checkpoints, timings


def _held_out() -> tuple[list[str], Any, jax.Array]:
    levels = held_out_levels()
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *levels.values())
    return list(levels), stacked, jnp.full((len(levels),), HELD_OUT_LIFETIME, jnp.int32)


@functools.cache
def _compiled_test(config: FullConfig, learner: str) -> Any:
    _names, levels, lifetimes = _held_out()
    train = config.train

    def run(key, lpg_params):
        return meta_test(
            key,
            HELD_OUT_ENV,
            levels,
            lifetimes,
            HELD_OUT_LIFETIME,
            HELD_OUT_EPISODE_LEN,
            train.agent,
            train.meta,
            config.test_agents,
            config.test_workers,
            config.test_eval_workers,
            learner,
            train.lpg if learner == "lpg" else None,
            lpg_params,
        )

    return jax.jit(run)


def held_out_scores(config: FullConfig, learner: str, key: jax.Array, lpg_params: Any = None) -> np.ndarray:
    """Normalised return per held-out level (mean over the fresh agents)."""
    out = _compiled_test(config, learner)(key, lpg_params)
    return np.asarray(out["normalised"]).mean(axis=1)


def _windowed(total: np.ndarray, count: np.ndarray, windows: int) -> list[float]:
    """Ratio sum(total)/sum(count) over ``windows`` equal chunks of meta-steps (nan where no count)."""
    out = []
    for t, c in zip(np.array_split(total, windows), np.array_split(count, windows), strict=True):
        out.append(float(t.sum() / c.sum()) if c.sum() else float("nan"))
    return out


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: SmokeConfig, seed: int) -> Result:
    state, metrics, _checkpoints, timings = meta_train(config.train, seed)
    init = config.train.lpg.init_params(jax.random.split(jax.random.split(jax.random.key(seed))[0], 3)[0])
    change = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(state.lpg_params), strict=True)
    )
    finished = metrics["n_finished"].sum()
    return Result(
        metrics={
            "groove/grad_norm_min": float(metrics["grad_norm"].min()),
            "groove/grad_finite": float(np.isfinite(metrics["grad_norm"]).all()),
            "groove/lpg_param_change": change,
            "groove/n_finished": float(finished),
            "groove/buffer_score_error": float(metrics["buffer_score_error"].max()),
            "groove/finished_scores_finite": float(np.isfinite(metrics["finished_regret_sum"]).all()),
            "groove/compile_s": timings["compile_s"],
        },
        series={"groove/meta_loss": metrics["meta_loss"].tolist()},
    )


# ----------------------------------------------------------------------------------------------- full
def run_full(config: FullConfig, seed: int) -> Result:
    names, _, _ = _held_out()
    key = jax.random.key(10_000 + seed)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    # References on the held-out levels: the uniform random policy and A2C (the antagonist's algorithm).
    for ref in ("random", "a2c"):
        scores = held_out_scores(config, ref, jax.random.fold_in(key, hash(ref) % 1000))
        metrics[f"{ref}/heldout_normalised"] = float(scores.mean())
        metrics |= {f"{ref}/{name}_normalised": float(s) for name, s in zip(names, scores, strict=True)}
    for arm in config.arms:
        train = dataclasses.replace(config.train, sampler=ARMS[arm])
        log.info("groove: meta-training %s, seed %d", arm, seed)
        _, m, checkpoints, timings = meta_train(train, seed)
        curve = []
        for i in range(train.checkpoints):
            params = jax.tree.map(lambda x, i=i: x[i], checkpoints)
            scores = held_out_scores(config, "lpg", jax.random.fold_in(key, i), params)
            curve.append(float(scores.mean()))
        metrics[f"{arm}/heldout_normalised"] = curve[-1]
        metrics |= {f"{arm}/{name}_normalised": float(s) for name, s in zip(names, scores, strict=True)}
        windows = 10
        train_curve = _windowed(m["finished_normalised_sum"], m["n_finished_solvable"], windows)
        metrics[f"{arm}/train_finished_normalised"] = _windowed(
            m["finished_normalised_sum"], m["n_finished_solvable"], 4
        )[-1]
        metrics |= {f"{arm}/{k}": v for k, v in timings.items()}
        metrics[f"{arm}/levels_finished"] = float(m["n_finished"].sum())
        series[f"{arm}/heldout_curve"] = curve
        series[f"{arm}/train_finished_normalised"] = train_curve
        series[f"{arm}/meta_loss"] = m["meta_loss"].tolist()
        if arm == "groove":
            metrics["groove/levels_replayed"] = float(m["n_replayed"].sum())
            series["groove/regret"] = _windowed(m["finished_regret_sum"], m["n_finished"], windows)
            series["groove/antagonist_normalised"] = _windowed(
                m["finished_antagonist_normalised_sum"], m["n_finished_solvable"], windows
            )
    return Result(metrics, series)


def run(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    return run_full(config, seed)


# ----------------------------------------------------------------------------------------------- plots
def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out normalised return per checkpoint, the training curve of finished levels, and (bar chart) the
    normalised return per held-out level."""
    if records[0]["scale"] == "smoke":
        return []
    arms = [a for a in ARMS if f"{a}/heldout_curve" in records[0]["series"]]
    n_ckpt = len(records[0]["series"][f"{arms[0]}/heldout_curve"])
    config = records[0]["config"]  # the config dataclass in-process, a dict when read back from JSON
    steps = config["train"]["meta_steps"] if isinstance(config, dict) else config.train.meta_steps
    paths = [
        plot_curves(
            folder / "heldout_curve.png",
            {a: [r["series"][f"{a}/heldout_curve"] for r in records] for a in arms},
            title="Held-out levels: return / optimal return",
            xlabel="meta-step",
            ylabel="normalised return",
            x=[steps * (i + 1) / n_ckpt for i in range(n_ckpt)],
        ),
        plot_curves(
            folder / "train_curve.png",
            {a: [np.nan_to_num(r["series"][f"{a}/train_finished_normalised"]).tolist() for r in records] for a in arms},
            title="Meta-training: agents finishing their lifetime, return / optimal",
            xlabel="tenth of meta-training",
            ylabel="normalised return",
        ),
    ]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(held_out_levels())
    groups = ["random", *arms, "a2c"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.8 / len(groups)
    for j, g in enumerate(groups):
        vals = np.array([[r["metrics"][f"{g}/{n}_normalised"] for n in names] for r in records])
        ax.bar(np.arange(len(names)) + j * width, vals.mean(0), width, yerr=vals.std(0), label=g)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20)
    ax.set(ylabel="return / optimal", title="Held-out levels (mean over seeds, ±1 std)")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.legend()
    fig.tight_layout()
    path = folder / "heldout_levels.png"
    fig.savefig(path)
    plt.close(fig)
    return [*paths, path]


# ----------------------------------------------------------------------------------------------- perf
def perf(device: str) -> dict[str, float]:
    """Compile time, meta-steps/s and environment steps/s of the full-scale meta-training (20 meta-steps per
    arm), and environment steps/s of the meta-test inner loop (frozen LPG, no meta-gradient)."""
    full = FullConfig()
    figures: dict[str, float] = {}
    for arm, sampler in ARMS.items():
        train = dataclasses.replace(full.train, sampler=sampler, meta_steps=20, checkpoints=1)
        _, _, _, timings = meta_train(train, 0)
        figures |= {f"{arm}/{k}": v for k, v in timings.items()}
    names, _, _ = _held_out()
    fn = _compiled_test(full, "lpg")
    params = full.train.lpg.init_params(jax.random.key(0))
    start = time.perf_counter()
    jax.block_until_ready(fn(jax.random.key(1), params))
    figures["meta_test/compile_and_first_run_s"] = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(fn(jax.random.key(2), params))
    run_s = time.perf_counter() - start
    steps = len(names) * full.test_agents * full.test_workers * HELD_OUT_LIFETIME * full.train.meta.rollout_len
    figures["meta_test/env_steps_per_s"] = steps / run_s
    return figures


# ---------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    Claim(
        "The meta-gradient through K LPG updates is finite and nonzero",
        Compare("groove/grad_norm_min", ">", 0.0),
        guards=(Compare("groove/grad_finite", ">=", 1.0),),
    ),
    Claim("LPG's parameters change under meta-training", Compare("groove/lpg_param_change", ">", 0.0)),
    Claim(
        "Finished levels are scored by AR = R(A2C) - R(LPG agent), exactly, in the buffer",
        Compare("groove/buffer_score_error", "<=", 0.0),
        guards=(Compare("groove/n_finished", ">=", 1.0), Compare("groove/finished_scores_finite", ">=", 1.0)),
    ),
)

_ABOVE_RANDOM = 0.1  # "well above random": 10 points of the optimal return

FULL_CLAIMS = (
    Claim(
        "GROOVE >= LPG on held-out levels (mean return / optimal return over levels, mean over seeds)",
        Compare("groove/heldout_normalised", ">=", "lpg/heldout_normalised"),
        guards=(
            Compare("groove/heldout_normalised", ">", "random/heldout_normalised", margin=_ABOVE_RANDOM),
            Compare("lpg/heldout_normalised", ">", "random/heldout_normalised", margin=_ABOVE_RANDOM),
        ),
    ),
    Claim(
        "LPG meta-trained on random levels is well above a random policy on held-out levels",
        Compare("lpg/heldout_normalised", ">", "random/heldout_normalised", margin=_ABOVE_RANDOM),
    ),
    Claim(
        "GROOVE is well above a random policy on held-out levels",
        Compare("groove/heldout_normalised", ">", "random/heldout_normalised", margin=_ABOVE_RANDOM),
    ),
)

BENCHMARK = Benchmark(
    slug="groove",
    title="GROOVE: Discovering General RL Algorithms with Adversarial Environment Design (NeurIPS 2023)",
    framework="jax",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("groove/buffer_score_error", better="lower", tolerance=0.0),
        MetricSpec("groove/grad_finite", better="higher", tolerance=0.0),
        MetricSpec("groove/finished_scores_finite", better="higher", tolerance=0.0),
        MetricSpec("*/heldout_normalised", better="higher", tolerance=0.1),
    ),
    plot=plot,
    perf=perf,
    paper_needs="an accelerator (512 agents x 64 workers, GRU 256, 30k meta-steps)",
)
