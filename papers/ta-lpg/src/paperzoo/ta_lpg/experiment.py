"""The scale runners of TA-LPG's benchmark (declared in ``bench.py``).

- :func:`run_smoke`: one OpenES generation of TA-LPG: common random numbers within pairs, sigma -> 0, the ES
  gradient against its hand-computed value.
- :func:`run_full` (also the ``paper`` scale's runner, at the official sizes): LPG-ES and TA-LPG-ES meta-trained
  from the same seed, meta-tested at several lifetimes on fixed held-out levels beside the uniform random policy;
  with ``config.lpo`` set, also TA-LPO vs LPO vs PPO (:func:`run_lpo`).

ES meta-training uses the run's seed itself (both arms share levels, lifetimes and agent keys); every other key
is derived from it by :func:`paperzoo.shared.seeding.derive`.
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

from paperzoo.shared import Result
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.ta_lpg.es import init_es, pairwise_rank, tell
from paperzoo.ta_lpg.evaluate import held_out_levels, meta_test, random_policy_score, select_held_out
from paperzoo.ta_lpg.lpo import LPOESConfig, make_lpo_es_train, make_ppo_train
from paperzoo.ta_lpg.meta_es import (
    ESTrainConfig,
    compile_jit,
    evaluate_candidates,
    generation_step,
    initial_mean,
    pair_tasks,
    unravel_fn,
)

if TYPE_CHECKING:
    from paperzoo.ta_lpg.bench import FullConfig, SmokeConfig

log = logging.getLogger("paperzoo.ta_lpg")
ARMS = {"lpg": None, "ta_lpg": "relative"}  # arm -> lifetime conditioning


def _flat_init(train: ESTrainConfig, seed: int) -> jax.Array:
    """The ES mean's initial vector of ``make_es_train`` for ``seed`` (same split of the seed's key)."""
    init_key, _ = jax.random.split(jax.random.key(seed))
    return initial_mean(train, init_key)


def _first_generation_key(train: ESTrainConfig, seed: int) -> jax.Array:
    """The key of ``make_es_train``'s first generation for ``seed`` (the same splits of the seed's key)."""
    _, loop_key = jax.random.split(jax.random.key(seed))
    chunk_key = jax.random.split(loop_key, train.checkpoints)[0]
    return jax.random.split(chunk_key, train.generations // train.checkpoints)[0]


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """The first generation of ``make_es_train(config.train)(key(seed))``: pairs share their tasks, sigma -> 0
    gives equal pair fitness, the ES step equals its hand-computed value."""
    train = config.train
    unravel = unravel_fn(train)
    state = init_es(_flat_init(train, seed), train.es)
    key = _first_generation_key(train, seed)
    start = time.perf_counter()
    fn = compile_jit(lambda s, k: evaluate_candidates(s, k, train, unravel), state, key, fast_compile=True)
    compile_s = time.perf_counter() - start
    eps, fitness, _, lifetimes = fn(state, key)
    # The same (key, level, lifetime) per pair as evaluate_candidates drew (its second key split).
    keys, levels, lifetimes_again = jax.jit(lambda k: pair_tasks(jax.random.split(k)[1], train.dist, train.n_pairs))(
        key
    )
    shared = [jax.random.key_data(keys), lifetimes_again, *jax.tree.leaves(levels)]
    pairs_share = all(bool(np.array_equal(x[::2], x[1::2])) for x in shared)
    # sigma -> 0: both members of a pair train the same agent
    _, fitness0, _, _ = fn(state.replace(sigma=jnp.float32(1e-9)), key)
    new_state, grad = jax.jit(lambda s, e, f: tell(s, e, f, train.es))(state, eps, fitness)
    f, e = np.asarray(fitness, np.float64), np.asarray(eps, np.float64)
    w_plus = (f[::2] > f[1::2]).astype(np.float64)
    hand = ((2 * w_plus - 1)[:, None] * e).sum(0) / (2 * train.n_pairs * float(state.sigma))
    grad_error = float(np.max(np.abs(np.asarray(grad) - hand)) / max(np.max(np.abs(hand)), 1e-12))
    step = np.asarray(new_state.mean - state.mean)
    return Result(
        metrics={
            "ta_lpg/fitness_finite": float(np.isfinite(f).all()),
            "ta_lpg/pairs_share_tasks": float(pairs_share and np.array_equal(lifetimes, lifetimes_again)),
            "ta_lpg/sigma0_pair_gap": float(np.max(np.abs(np.asarray(fitness0[::2] - fitness0[1::2])))),
            "ta_lpg/es_grad_rel_error": grad_error,
            "ta_lpg/es_step_max": float(np.abs(step).max()),
            "ta_lpg/fitness_mean": float(f.mean()),
            "ta_lpg/pair_wins_plus": float(w_plus.mean()),
            "ta_lpg/compile_s": compile_s,
        },
        series={"ta_lpg/fitness": f.tolist(), "ta_lpg/rank": np.asarray(pairwise_rank(fitness)).tolist()},
    )


# ----------------------------------------------------------------------------------------------- full
@functools.cache
def _compiled_chunk(train: ESTrainConfig, n_generations: int) -> tuple[Any, float]:
    """A jitted scan of ``n_generations`` generations (cached per config) and its compile time."""
    unravel = unravel_fn(train)

    def chunk(state, key):
        return jax.lax.scan(
            lambda s, k: generation_step(s, k, train, unravel), state, jax.random.split(key, n_generations)
        )

    state = init_es(_flat_init(train, 0), train.es)
    start = time.perf_counter()
    compiled = compile_jit(chunk, state, jax.random.key(0))
    return compiled, time.perf_counter() - start


def es_train(train: ESTrainConfig, seed: int, chunks: int = 4) -> tuple[Any, dict[str, np.ndarray], dict[str, float]]:
    """Meta-train by OpenES (``make_es_train``'s computation, run in ``chunks`` jitted pieces for a progress
    bar). Returns (final ES state, metrics per generation, timings)."""
    if train.generations % chunks:
        chunks = 1
    per_chunk = train.generations // chunks
    compiled, compile_s = _compiled_chunk(train, per_chunk)
    _, loop_key = jax.random.split(jax.random.key(seed))
    state = init_es(_flat_init(train, seed), train.es)
    keys = jax.random.split(loop_key, chunks)
    out = []
    start = time.perf_counter()
    for i in progress(range(chunks), desc=f"ES seed {seed}"):
        state, m = compiled(state, keys[i])
        out.append(jax.device_get(m))
    jax.block_until_ready(state)
    run_s = time.perf_counter() - start
    metrics = {k: np.concatenate([o[k] for o in out]) for k in out[0]}
    lifetimes = 2 * train.n_pairs * train.generations
    timings = {"es_compile_s": compile_s, "es_run_s": run_s, "lifetimes_per_s": lifetimes / run_s}
    # Environment steps actually used for learning (masked updates past N excluded) per second.
    used = 2 * train.n_pairs * metrics["mean_lifetime"].sum() * train.num_workers * train.rollout_len
    timings["env_steps_per_s"] = float(used / run_s)
    return state, metrics, timings


@functools.cache
def _compiled_test(config: FullConfig, conditioning: str | None) -> Any:
    train = dataclasses.replace(config.train, conditioning=conditioning)
    levels = held_out_levels(train.dist, config.test_levels)
    max_updates = max(config.test_lifetimes)

    def run(key, lpg_params, lifetime):
        return meta_test(
            key, lpg_params, train, levels, lifetime, max_updates, config.test_agents, config.test_eval_workers
        )

    return jax.jit(run)


def run_full(config: FullConfig, seed: int) -> Result:
    """ES meta-training of each arm, meta-test at every test lifetime (and TA-LPO vs LPO vs PPO if ``config.lpo``)."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    test_key = jax.random.key(derive(seed, "meta-test"))
    levels, selection_random, optimal = select_held_out(config.train.dist, config.test_levels)
    random_key = jax.random.key(derive(seed, "meta-test", "random policy"))
    rand = np.asarray(random_policy_score(random_key, config.train, levels, config.test_eval_workers))
    metrics["random/normalised"] = float(rand.mean())
    metrics["random/normalised_max_level"] = float(rand.max())
    # The random policy per held-out level: this seed's estimate (its meta-test workers) and the fixed estimate
    # (256 workers) the levels were selected by (< 0.7 of the optimum); the levels' optimal returns.
    series["random/normalised_per_level"] = rand.tolist()
    series["random/selection_normalised_per_level"] = np.asarray(selection_random).tolist()
    series["heldout/optimal_return"] = np.asarray(optimal).tolist()
    for arm in config.arms:
        train = dataclasses.replace(config.train, conditioning=ARMS[arm])
        log.info("ta_lpg: ES meta-training %s, seed %d", arm, seed)
        state, m, timings = es_train(train, seed)
        params = unravel_fn(train)(state.mean)
        test = _compiled_test(config, ARMS[arm])
        scores = []
        start = time.perf_counter()
        for lifetime in config.test_lifetimes:
            # Same key for both arms and each lifetime: the same agents' initialisations and environment noise.
            out = jax.device_get(test(test_key, params, jnp.int32(lifetime)))
            score = float(np.mean(out["normalised"]))
            series[f"{arm}/normalised_per_level_L{lifetime}"] = np.mean(out["normalised"], axis=1).tolist()
            scores.append(score)
            metrics[f"{arm}/normalised_L{lifetime}"] = score
            ent = np.asarray(out["entropy"])[:, :, :lifetime].mean(axis=(0, 1))
            series[f"{arm}/entropy_L{lifetime}"] = ent.tolist()
            first, last = ent[: max(1, lifetime // 10)].mean(), ent[-max(1, lifetime // 10) :].mean()
            metrics[f"{arm}/entropy_drop_L{lifetime}"] = float(first - last)
        metrics[f"{arm}/meta_test_s"] = time.perf_counter() - start
        metrics[f"{arm}/normalised_mean"] = float(np.mean(scores))
        metrics |= {f"{arm}/{k}": v for k, v in timings.items()}
        metrics[f"{arm}/final_fitness"] = float(m["fitness_mean"][-max(1, len(m["fitness_mean"]) // 4) :].mean())
        metrics[f"{arm}/pair_ties"] = float(m["pair_ties"].mean())
        metrics[f"{arm}/mean_shift"] = float(jnp.linalg.norm(state.mean - _flat_init(train, seed)))
        series[f"{arm}/fitness"] = m["fitness_mean"].tolist()
        series[f"{arm}/final_entropy"] = m["final_entropy"].tolist()
    if config.lpo is not None:
        lpo_metrics, lpo_series = run_lpo(config.lpo, seed)
        metrics |= lpo_metrics
        series |= lpo_series
    return Result(metrics, series)


def run_lpo(config: LPOESConfig, seed: int, test_seeds: int = 8) -> tuple[dict[str, float], dict[str, list[float]]]:
    """TA-LPO vs LPO vs PPO: meta-train the drift network of LPO and of TA-LPO by OpenES (same seed, same ES
    noise and agent keys), then train ``test_seeds`` fresh PPO agents with each final drift (and with PPO's own
    clipped objective) on the same keys; metric: mean final return."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    test_keys = jax.random.split(jax.random.key(derive(seed, "lpo meta-test")), test_seeds)
    for arm in ("lpo", "ta_lpo"):
        es_config = dataclasses.replace(config, ppo=dataclasses.replace(config.ppo, objective=arm))
        train, unravel = make_lpo_es_train(es_config)
        start = time.perf_counter()
        state, m = jax.block_until_ready(jax.jit(train)(jax.random.key(seed)))
        metrics[f"{arm}/es_s"] = time.perf_counter() - start
        series[f"{arm}/fitness"] = np.asarray(m["fitness_mean"]).tolist()
        ppo = make_ppo_train(es_config.ppo)
        out = jax.jit(jax.vmap(ppo, in_axes=(0, None)))(test_keys, unravel(state.mean))
        metrics[f"{arm}/return"] = float(np.mean(out["return"]))
    ppo = make_ppo_train(dataclasses.replace(config.ppo, objective="ppo"))
    out = jax.jit(jax.vmap(lambda k: ppo(k, None)))(test_keys)
    metrics["ppo/return"] = float(np.mean(out["return"]))
    return metrics, series
