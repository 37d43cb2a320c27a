"""The paperzoo benchmark of TA-LPG.

- smoke (seconds): one OpenES generation of TA-LPG (P = 4 antithetic pairs, whole lifetimes of 5-10 updates on
  4x4 grid-worlds, GRU 16): both members of every pair share level, lifetime and keys; fitness is finite; with
  sigma -> 0 the pairs' fitnesses are identical (common random numbers); the ES update equals the hand-computed
  1/(2P sigma) sum_i (w_i^+ - w_i^-) eps_i.
- full (minutes, 2 CPU cores): LPG-ES against TA-LPG-ES (same seeds, levels, lifetimes, agent keys), "small" levels
  with lifetimes log-U[10, 100], P = 16 pairs x 16 workers x 20 steps, GRU 32; meta-test of the final ES mean on 8
  fixed held-out levels at lifetimes {10, 30, 100, 300} (300 is outside meta-training), return / optimal return;
  the uniform random policy as reference; TA-LPG's policy entropy against n/N (the learned schedule). 3 seeds.
- paper: the official TA-LPG run (``--use_es --lifetime_conditioning``, "all_vrandlife", 512 pairs x 64 workers,
  GRU 256) and TA-LPO/LPO on MinAtar SpaceInvaders, for accelerators.
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

from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.progress import progress
from paperzoo.shared.validate import check_positive_int
from paperzoo.ta_lpg.es import ESConfig, init_es, pairwise_rank, tell
from paperzoo.ta_lpg.evaluate import held_out_levels, meta_test, random_policy_score
from paperzoo.ta_lpg.lpo import LPOESConfig, PPOConfig, make_lpo_es_train, make_ppo_train
from paperzoo.ta_lpg.meta_es import (
    ESTrainConfig,
    compile_jit,
    evaluate_candidates,
    generation_step,
    initial_mean,
    pair_tasks,
    unravel_fn,
)

log = logging.getLogger("paperzoo.ta_lpg")
ARMS = {"lpg": None, "ta_lpg": "relative"}  # arm -> lifetime conditioning


@dataclass(frozen=True)
class SmokeConfig:
    """One TA-LPG generation on tiny levels."""

    train: ESTrainConfig = field(
        default_factory=lambda: ESTrainConfig(
            conditioning="relative", distribution="smoke", generations=1, n_pairs=4, num_workers=8, gru_width=16
        )
    )
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.train.conditioning is None:
            raise ValueError("train.conditioning must be set for the smoke run (it checks TA-LPG)")


@dataclass(frozen=True)
class FullConfig:
    """LPG-ES vs TA-LPG-ES on "small" levels with lifetimes log-U[10, 100], meta-tested at 4 lifetimes."""

    train: ESTrainConfig = field(
        default_factory=lambda: ESTrainConfig(
            distribution="small_vrandlife",
            generations=60,
            n_pairs=16,
            num_workers=16,
            gru_width=32,
            checkpoints=1,
            # 100x the official 1e-4: 60 generations instead of tens of thousands (see README, Deviations).
            es=ESConfig(lr=1e-2),
        )
    )
    arms: tuple[str, ...] = tuple(ARMS)
    test_lifetimes: tuple[int, ...] = (10, 30, 100, 300)
    test_levels: int = 8
    test_agents: int = 2
    test_eval_workers: int = 16
    lpo: LPOESConfig | None = None  # TA-LPO vs LPO vs PPO (not run at CPU scale: see README)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {tuple(ARMS)}, got {self.arms}")
        if not self.test_lifetimes:
            raise ValueError("test_lifetimes must not be empty")
        for lifetime in self.test_lifetimes:
            check_positive_int("test_lifetimes", lifetime)
        for name in ("test_levels", "test_agents", "test_eval_workers"):
            check_positive_int(name, getattr(self, name))


def paper_config() -> FullConfig:
    """The official TA-LPG defaults (``experiments/parse_args.py`` with ``--use_es --lifetime_conditioning
    --num_mini_batches 8``, env mode "all_vrandlife"), and TA-LPO on MinAtar SpaceInvaders (PureJaxRL MinAtar
    PPO sizes: 64 envs x 128 steps, 1e7 steps; ES population 64)."""
    return FullConfig(
        train=ESTrainConfig(checkpoints=10),
        test_levels=32,
        test_agents=8,
        test_eval_workers=64,
        lpo=LPOESConfig(
            ppo=PPOConfig(
                env_name="SpaceInvaders-MinAtar",
                objective="ta_lpo",
                total_steps=10_000_000,
                num_envs=64,
                num_steps=128,
                num_minibatches=8,
                lr=5e-3,
                eval_envs=64,
                eval_steps=1000,
            ),
            generations=1024,
            n_pairs=32,
            es=ESConfig(lr=1e-2, sigma=0.03),
        ),
        device="cuda",
    )


def _flat_init(train: ESTrainConfig, seed: int) -> jax.Array:
    """The ES mean's initial vector of ``make_es_train`` for ``seed`` (same split of the seed's key)."""
    init_key, _ = jax.random.split(jax.random.key(seed))
    return initial_mean(train, init_key)


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: SmokeConfig, seed: int) -> Result:
    train = config.train
    unravel = unravel_fn(train)
    state = init_es(_flat_init(train, seed), train.es)
    key = jax.random.key(seed + 1)
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
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    test_key = jax.random.key(20_000 + seed)
    levels = held_out_levels(config.train.dist, config.test_levels)
    rand = random_policy_score(jax.random.fold_in(test_key, 999), config.train, levels, config.test_eval_workers)
    metrics["random/normalised"] = float(rand.mean())
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
    return Result(metrics, series)


def run_lpo(config: LPOESConfig, seed: int, test_seeds: int = 8) -> tuple[dict[str, float], dict[str, list[float]]]:
    """TA-LPO vs LPO vs PPO: meta-train the drift network of LPO and of TA-LPO by OpenES (same seed, same ES
    noise and agent keys), then train ``test_seeds`` fresh PPO agents with each final drift (and with PPO's own
    clipped objective) on the same keys; metric: mean final return."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    test_keys = jax.random.split(jax.random.key(30_000 + seed), test_seeds)
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


def run(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Dispatch on the scale's config type (the full/paper configs add TA-LPO vs LPO vs PPO when ``lpo`` is set)."""
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    result = run_full(config, seed)
    if config.lpo is not None:
        metrics, series = run_lpo(config.lpo, seed)
        result.metrics.update(metrics)
        result.series.update(series)
    return result


# ----------------------------------------------------------------------------------------------- plots
def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Held-out return / optimal against the test lifetime; ES fitness per generation; the learned schedule
    (policy entropy against n/N at each test lifetime)."""
    if records[0]["scale"] == "smoke":
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ARMS if f"{a}/normalised_mean" in records[0]["metrics"]]
    lifetimes = sorted(int(k.split("_L")[1]) for k in records[0]["metrics"] if k.startswith(f"{arms[0]}/normalised_L"))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for arm in arms:
        vals = np.array([[r["metrics"][f"{arm}/normalised_L{n}"] for n in lifetimes] for r in records])
        ax.errorbar(lifetimes, vals.mean(0), yerr=vals.std(0), marker="o", capsize=3, label=arm)
    ax.axhline(np.mean([r["metrics"]["random/normalised"] for r in records]), color="k", ls=":", label="random")
    ax.axvspan(10, 100, color="grey", alpha=0.1, label="meta-training range")
    ax.set(xscale="log", xlabel="test lifetime N (agent updates)", ylabel="return / optimal return")
    ax.set_title("Held-out levels: mean over seeds ±1 std")
    ax.legend()
    fig.tight_layout()
    lifetime_path = folder / "lifetimes.png"
    fig.savefig(lifetime_path)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(arms), figsize=(5 * len(arms), 4), dpi=120, sharey=True, squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        for n in lifetimes:
            ent = np.array([r["series"][f"{arm}/entropy_L{n}"] for r in records])
            x = (np.arange(n) + 1) / n
            ax.plot(x, ent.mean(0), label=f"N = {n}")
        ax.set(title=f"{arm}: policy entropy over the lifetime", xlabel="n / N")
        ax.legend()
    axes[0][0].set_ylabel("policy entropy (nats)")
    fig.tight_layout()
    schedule_path = folder / "schedule.png"
    fig.savefig(schedule_path)
    plt.close(fig)

    fitness_path = plot_curves(
        folder / "es_fitness.png",
        {a: [r["series"][f"{a}/fitness"] for r in records] for a in arms},
        title="ES meta-training: mean candidate return per generation",
        xlabel="generation",
        ylabel="mean return",
    )
    return [lifetime_path, schedule_path, fitness_path]


# ----------------------------------------------------------------------------------------------- perf
def perf(device: str) -> dict[str, float]:
    """Agent lifetimes evaluated per second during ES (population x whole lifetime under one jit) for LPG and
    TA-LPG at the full scale's sizes (4 generations each), compile time separately; the ratio TA-LPG / LPG."""
    full = FullConfig()
    figures: dict[str, float] = {}
    for arm, conditioning in ARMS.items():
        train = dataclasses.replace(full.train, conditioning=conditioning, generations=4)
        _, _, timings = es_train(train, 0, chunks=2)
        figures |= {f"{arm}/{k}": v for k, v in timings.items()}
    figures["ta_lpg_over_lpg/lifetimes_per_s"] = figures["ta_lpg/lifetimes_per_s"] / figures["lpg/lifetimes_per_s"]
    return figures


# ---------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    Claim(
        "Antithetic pairs share level, lifetime and every PRNG key (common random numbers)",
        Compare("ta_lpg/pairs_share_tasks", ">=", 1.0),
    ),
    Claim(
        "With sigma -> 0 the two members of each pair reach identical fitness",
        Compare("ta_lpg/sigma0_pair_gap", "<=", 0.0),
        guards=(Compare("ta_lpg/fitness_finite", ">=", 1.0),),
    ),
    Claim(
        "The ES gradient equals 1/(2 P sigma) sum_i (w_i^+ - w_i^-) eps_i computed by hand",
        Compare("ta_lpg/es_grad_rel_error", "<=", 1e-5),
        guards=(Compare("ta_lpg/es_step_max", ">", 0.0),),
    ),
)

_ABOVE_RANDOM = 0.05  # non-degeneracy: 5 points of the optimal return above the uniform random policy
_GUARDS = (
    Compare("lpg/normalised_mean", ">", "random/normalised", margin=_ABOVE_RANDOM),
    Compare("ta_lpg/normalised_mean", ">", "random/normalised", margin=_ABOVE_RANDOM),
)

FULL_CLAIMS = (
    Claim(
        "TA-LPG >= LPG on held-out levels, averaged over test lifetimes {10, 30, 100, 300}",
        Compare("ta_lpg/normalised_mean", ">=", "lpg/normalised_mean"),
        guards=_GUARDS,
    ),
    Claim(
        "TA-LPG >= LPG at the out-of-range lifetime N = 300",
        Compare("ta_lpg/normalised_L300", ">=", "lpg/normalised_L300"),
        guards=_GUARDS,
    ),
)

BENCHMARK = Benchmark(
    slug="ta-lpg",
    title="Discovering Temporally-Aware Reinforcement Learning Algorithms (ICLR 2024)",
    framework="jax",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("ta_lpg/pairs_share_tasks", better="higher", tolerance=0.0),
        MetricSpec("ta_lpg/fitness_finite", better="higher", tolerance=0.0),
        MetricSpec("ta_lpg/sigma0_pair_gap", better="lower", tolerance=0.0),
        MetricSpec("ta_lpg/es_grad_rel_error", better="lower", tolerance=1e-5),
        MetricSpec("ta_lpg/fitness_mean", better="higher", tolerance=0.05),
        MetricSpec("*/normalised_mean", better="higher", tolerance=0.1),
    ),
    plot=plot,
    perf=perf,
    paper_needs="an accelerator (1024 candidates x whole lifetimes of up to 250 updates x 64 workers, GRU 256)",
)
