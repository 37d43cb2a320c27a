"""The scale runners of GROOVE's benchmark (declared in ``bench.py``).

- :func:`run_smoke`: 3 meta-steps of GROOVE on tiny levels; the meta-gradient, LPG's change, the buffer scores
  (compiled at XLA backend optimisation level 0, through JAX's persistent compilation cache: ``compile_cache.py``).
- :func:`run_full` (also the ``paper`` scale's runner, at the official sizes): LPG (random levels) and GROOVE
  meta-trained on the same distribution, then meta-tested on the held-out levels, with the uniform random policy
  and A2C as references (:func:`reference_metrics`).

Every held-out key is derived from the run's seed by :func:`paperzoo.shared.seeding.derive`; meta-training uses
the run's seed itself, so both arms share their first levels and initial LPG parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from paperzoo.groove.compile_cache import enable_compilation_cache
from paperzoo.groove.evaluation import meta_test
from paperzoo.groove.gridworld import HELD_OUT_ENV, HELD_OUT_EPISODE_LEN, HELD_OUT_LIFETIME, held_out_levels
from paperzoo.groove.train import TrainConfig, make_train
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive

if TYPE_CHECKING:
    from paperzoo.groove.bench import FullConfig, SmokeConfig

log = logging.getLogger("paperzoo.groove")
ARMS = {"lpg": "random", "groove": "groove"}  # arm -> level sampler
REFERENCES = ("random", "a2c")  # reference learners on the held-out levels: the uniform policy, A2C


# XLA:CPU compiles the meta-step about 1.5x faster at backend optimisation level 0, and runs it several times
# slower: worth it only for programs that run for a second (the smoke), not for the full scale.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@functools.cache
def _compiled_train(train: TrainConfig, fast_compile: bool = False) -> tuple[Any, float]:
    """The jitted, compiled ``train`` of a config, and its compile time (tracing included; cached: seeds share one
    compilation). ``fast_compile`` lowers XLA's backend optimisation level to 0."""
    start = time.perf_counter()
    lowered = jax.jit(make_train(train)).lower(jax.random.key(0))
    compiled = lowered.compile(compiler_options=FAST_COMPILE) if fast_compile else lowered.compile()
    return compiled, time.perf_counter() - start


def meta_train(
    train: TrainConfig, seed: int, fast_compile: bool = False
) -> tuple[Any, dict[str, np.ndarray], Any, dict[str, float]]:
    """Compile (once per config) and run meta-training; returns (final state, metrics, checkpoints, timings)."""
    compiled, compile_s = _compiled_train(train, fast_compile)
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


def held_out() -> tuple[list[str], Any, jax.Array]:
    """The held-out levels' names, the levels stacked along a leading axis, and their lifetimes."""
    levels = held_out_levels()
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *levels.values())
    return list(levels), stacked, jnp.full((len(levels),), HELD_OUT_LIFETIME, jnp.int32)


def held_out_key(seed: int, *names: str | int) -> jax.Array:
    """The meta-test key of ``names`` (a reference learner, or ``"checkpoint", i``) in the run seeded ``seed``."""
    return jax.random.key(derive(seed, "held-out", *names))


@functools.cache
def compiled_test(config: FullConfig, learner: str) -> Any:
    """``run(key, lpg_params) -> meta_test output`` on the held-out levels, jitted (cached per config, learner)."""
    _names, levels, lifetimes = held_out()
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
    out = compiled_test(config, learner)(key, lpg_params)
    return np.asarray(out["normalised"]).mean(axis=1)


def _windowed(total: np.ndarray, count: np.ndarray, windows: int) -> list[float]:
    """Ratio sum(total)/sum(count) over ``windows`` equal chunks of meta-steps (nan where no count)."""
    out = []
    for t, c in zip(np.array_split(total, windows), np.array_split(count, windows), strict=True):
        out.append(float(t.sum() / c.sum()) if c.sum() else float("nan"))
    return out


def _level_metrics(arm: str, names: list[str], scores: np.ndarray) -> dict[str, float]:
    """``<arm>/heldout_normalised`` (mean over levels) and ``<arm>/<level>_normalised``."""
    return {
        f"{arm}/heldout_normalised": float(scores.mean()),
        **{f"{arm}/{name}_normalised": float(s) for name, s in zip(names, scores, strict=True)},
    }


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """3 meta-steps of GROOVE: the meta-gradient, LPG's parameter change and the buffer's regret scores."""
    enable_compilation_cache()
    state, metrics, _checkpoints, timings = meta_train(config.train, seed, fast_compile=True)
    # make_train's initial LPG parameters: the first of three keys split from the first half of the seed's key
    # (jitted: flax's eager initialisation compiles dozens of small programs).
    init = jax.jit(lambda k: config.train.lpg.init_params(jax.random.split(jax.random.split(k)[0], 3)[0]))(
        jax.random.key(seed)
    )
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
            "groove/run_s": timings["run_s"],
        },
        series={"groove/meta_loss": metrics["meta_loss"].tolist()},
    )


# ----------------------------------------------------------------------------------------------- full
def reference_metrics(config: FullConfig, seed: int, references: tuple[str, ...] = REFERENCES) -> dict[str, float]:
    """The references on the held-out levels: the uniform random policy and A2C (the antagonist's algorithm)."""
    names, _, _ = held_out()
    metrics: dict[str, float] = {}
    for ref in references:
        metrics |= _level_metrics(ref, names, held_out_scores(config, ref, held_out_key(seed, ref)))
    return metrics


def run_full(config: FullConfig, seed: int) -> Result:
    """Meta-train each arm, meta-test every checkpoint on the held-out levels; the references beside them."""
    names, _, _ = held_out()
    metrics = reference_metrics(config, seed)
    series: dict[str, list[float]] = {}
    for arm in config.arms:
        train = dataclasses.replace(config.train, sampler=ARMS[arm])
        log.info("groove: meta-training %s, seed %d", arm, seed)
        _, m, checkpoints, timings = meta_train(train, seed)
        curve = []
        for i in range(train.checkpoints):
            params = jax.tree.map(lambda x, i=i: x[i], checkpoints)
            # The same key for both arms at each checkpoint: the same fresh agents and environment noise.
            scores = held_out_scores(config, "lpg", held_out_key(seed, "checkpoint", i), params)
            curve.append(float(scores.mean()))
        metrics |= _level_metrics(arm, names, scores)
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
