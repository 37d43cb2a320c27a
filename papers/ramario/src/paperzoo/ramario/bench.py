"""The paperzoo benchmark of RAMario (Reptile meta-RL on Super Mario Bros), on the real game at every scale.

- smoke (seconds after TensorFlow's import): 2 Reptile outer iterations (k = 2 inner REINFORCE updates, episodes
  of at most 32 agent steps) on 1-1; checks that theta moves by exactly epsilon_j (phi - theta), that k = 0 leaves
  theta unchanged, and a 2-update adaptation on the held-out 1-2.
- full (CPU minutes): Reptile meta-trained on 1-1, 1-3, 1-4, 2-1; few-shot on the held-out 1-2 (k updates) from
  Reptile's theta and from the random initialisation it started from; PPO and DQN trained from scratch on 1-2
  for the same number of environment steps as Reptile used in total (meta-training + adaptation); Reptile's
  supervised sine sanity check as a metric; 3 seeds.
- paper: the paper's setting as a config (full-length episodes, long meta-training), for a GPU machine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.ramario.config import DQNConfig, InnerConfig, PPOConfig
from paperzoo.ramario.envs import HELD_OUT_LEVEL, TRAIN_LEVELS, make_env
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result
from paperzoo.shared.progress import progress
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

if TYPE_CHECKING:
    from paperzoo.ramario.evaluate import Evaluation

log = logging.getLogger("paperzoo.ramario")
Level = tuple[int, int]


def _check_levels(levels: tuple[Level, ...], held_out: Level) -> None:
    if not levels or any(len(lv) != 2 for lv in levels):
        raise ValueError(f"train_levels must be a non-empty tuple of (world, stage), got {levels!r}")
    if held_out in levels:
        raise ValueError(f"held_out {held_out} must not be a training level")


@dataclass(frozen=True)
class SmokeConfig:
    """Two Reptile outer iterations on 1-1 and a 2-update adaptation on 1-2, with short episodes."""

    train_levels: tuple[Level, ...] = ((1, 1),)
    held_out: Level = HELD_OUT_LEVEL
    max_episode_steps: int = 32
    outer_steps: int = 2
    inner: InnerConfig = field(default_factory=lambda: InnerConfig(k=2))
    n_eval: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        for name in ("max_episode_steps", "outer_steps", "n_eval"):
            check_positive_int(name, getattr(self, name))


@dataclass(frozen=True)
class FullConfig:
    """Reptile vs random-init adaptation vs PPO and DQN at equal environment steps, held-out 1-2."""

    train_levels: tuple[Level, ...] = TRAIN_LEVELS
    held_out: Level = HELD_OUT_LEVEL
    max_episode_steps: int = 128
    outer_steps: int = 32
    meta_batch: int = 1
    epsilon0: float = 1.0
    epsilon_final: float = 0.0
    inner: InnerConfig = field(default_factory=InnerConfig)
    n_eval: int = 6
    ppo: PPOConfig = field(default_factory=PPOConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    dqn_eval_epsilon: float = 0.05
    sine_outer_steps: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        for name in ("max_episode_steps", "outer_steps", "meta_batch", "n_eval", "sine_outer_steps"):
            check_positive_int(name, getattr(self, name))
        check_range("epsilon0", self.epsilon0, 0.0, 1.0)
        check_range("epsilon_final", self.epsilon_final, 0.0, 1.0)
        check_range("dqn_eval_epsilon", self.dqn_eval_epsilon, 0.0, 1.0)
        check_non_negative("inner.k", self.inner.k)


def paper_config() -> FullConfig:
    """The paper's setting as far as it is stated: full-length episodes (the game's own end: death, flag or the
    400-tick clock, no step cap), long meta-training ("1M episodes" in the paper; here 100k outer iterations x
    k = 3 episodes = 300k training episodes, then PPO/DQN at the same number of environment steps)."""
    return FullConfig(max_episode_steps=10_000, outer_steps=100_000, n_eval=20, sine_outer_steps=30_000, device="cuda")


# ---------------------------------------------------------------------------------------------- smoke
def _max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b, strict=True)
    )


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    # TensorFlow is imported here, not at module level: listing the benchmark stays cheap.
    from paperzoo.ramario.evaluate import adapt_and_evaluate
    from paperzoo.ramario.model import conv_policy, get_weights
    from paperzoo.ramario.policy_gradient import PolicyGradientInner
    from paperzoo.ramario.reptile import Reptile

    rng = np.random.default_rng(seed)
    envs = {lv: make_env(lv, max_episode_steps=config.max_episode_steps) for lv in config.train_levels}
    model = conv_policy(seed=seed)
    theta0 = get_weights(model)
    inner = PolicyGradientInner(model, config.inner)
    reptile = Reptile(model, inner, outer_steps=config.outer_steps)
    errors, steps = [], 0
    for j in range(config.outer_steps):
        level = config.train_levels[int(rng.integers(len(config.train_levels)))]
        out = reptile.outer_step(j, [envs[level]], rng)
        steps += sum(e.length for e in out.inner_outputs[0])
        # theta_{j+1} == theta_j + epsilon_j (phi - theta_j), recomputed here in float64
        expected = [t + out.epsilon * (p.astype(np.float64) - t) for t, p in zip(out.theta, out.phis[0], strict=True)]
        errors.append(_max_abs_diff(get_weights(model), expected))
    theta = get_weights(model)
    inner.k = 0  # k = 0: phi = theta, so the outer step cannot move theta
    reptile_k0 = Reptile(model, inner, outer_steps=1)
    reptile_k0.outer_step(0, [envs[config.train_levels[0]]], rng)
    k0_change = _max_abs_diff(get_weights(model), theta)
    inner.k = config.inner.k
    held = make_env(config.held_out, max_episode_steps=config.max_episode_steps)
    adapt = adapt_and_evaluate(inner, held, config.n_eval, np.random.default_rng([seed, 1]))
    return Result(
        metrics={
            "reptile/outer_step_error": max(errors),
            "reptile/k0_theta_change": k0_change,
            "reptile/theta_change": _max_abs_diff(theta, theta0),
            "reptile/meta_env_steps": float(steps),
            "reptile/max_x_0": adapt.before.max_x,
            "reptile/max_x_k": adapt.after.max_x,
        }
    )


# ----------------------------------------------------------------------------------------------- full
def _curve(steps: list[int], values: list[float], total: int, bins: int = 10) -> list[float]:
    """Mean of ``values`` of the episodes ending in each tenth of ``total`` steps; an empty bin repeats the
    previous one (the first non-empty one before any episode ended; 0 if no episode ended at all)."""
    out: list[float | None] = []
    for b in range(bins):
        lo, hi = total * b / bins, total * (b + 1) / bins
        vals = [v for s, v in zip(steps, values, strict=True) if lo < s <= hi]
        out.append(float(np.mean(vals)) if vals else (out[-1] if out else None))
    first = next((v for v in out if v is not None), 0.0)
    return [first if v is None else v for v in out]


def _train_baseline(
    arm: str, env: Any, budget: int, config: FullConfig, seed: int
) -> tuple[Evaluation, list[int], list[float]]:
    """Train PPO or DQN from scratch for ``budget`` steps, then evaluate; also the (steps, max x) of each episode."""
    from paperzoo.ramario.baselines.dqn import train_dqn
    from paperzoo.ramario.baselines.ppo import train_ppo
    from paperzoo.ramario.evaluate import evaluate

    ep_steps: list[int] = []
    ep_x: list[float] = []

    def on_episode(steps: int, _reward: float, max_x: int) -> None:
        ep_steps.append(steps)
        ep_x.append(float(max_x))

    eval_rng = np.random.default_rng([seed, 2])
    if arm == "ppo":
        ppo = train_ppo(env, budget, config.ppo, seed, on_episode)
        result = evaluate(env, ppo.policy_logits, config.n_eval, eval_rng)
    else:
        dqn = train_dqn(env, budget, config.dqn, seed, on_episode)
        result = evaluate(env, dqn.forward, config.n_eval, eval_rng, epsilon=config.dqn_eval_epsilon)
    return result, ep_steps, ep_x


def run_full(config: FullConfig, seed: int) -> Result:
    from paperzoo.ramario.evaluate import adapt_and_evaluate
    from paperzoo.ramario.model import conv_policy, get_weights, set_weights
    from paperzoo.ramario.policy_gradient import PolicyGradientInner
    from paperzoo.ramario.reptile import Reptile
    from paperzoo.ramario.sine import sine_experiment

    rng = np.random.default_rng(seed)
    envs = {lv: make_env(lv, max_episode_steps=config.max_episode_steps) for lv in config.train_levels}
    held = make_env(config.held_out, max_episode_steps=config.max_episode_steps)
    start_x = float(held.reset()[1]["x_pos"])
    metrics: dict[str, float] = {"level/start_x": start_x}
    series: dict[str, list[float]] = {}

    # Reptile meta-training on the training levels.
    model = conv_policy(seed=seed)
    theta0 = get_weights(model)
    inner = PolicyGradientInner(model, config.inner)
    reptile = Reptile(
        model,
        inner,
        outer_steps=config.outer_steps,
        epsilon0=config.epsilon0,
        epsilon_final=config.epsilon_final,
        meta_batch=config.meta_batch,
    )
    meta_steps, meta_curve = 0, []
    start = time.perf_counter()
    for j in progress(range(config.outer_steps), desc=f"reptile seed {seed}"):
        levels = [config.train_levels[int(i)] for i in rng.integers(len(config.train_levels), size=config.meta_batch)]
        out = reptile.outer_step(j, [envs[lv] for lv in levels], rng)
        episodes = [e for eps in out.inner_outputs for e in eps]
        meta_steps += sum(e.length for e in episodes)
        meta_curve.append(float(np.mean([e.max_x for e in episodes])))
    metrics["reptile/meta_wall_s"] = time.perf_counter() - start
    metrics["reptile/meta_env_steps"] = float(meta_steps)
    series["reptile/meta_max_x"] = meta_curve
    theta = get_weights(model)

    # Few-shot on the held-out level: k updates from Reptile's theta and from the random init it started from.
    adapt_steps = 0
    for arm, weights in (("reptile", theta), ("random_init", theta0)):
        set_weights(model, weights)
        adapt = adapt_and_evaluate(inner, held, config.n_eval, np.random.default_rng([seed, 1]))
        metrics |= {
            f"{arm}/max_x_0": adapt.before.max_x,
            f"{arm}/max_x_k": adapt.after.max_x,
            f"{arm}/reward_0": adapt.before.reward,
            f"{arm}/reward_k": adapt.after.reward,
            f"{arm}/gain_x": adapt.after.max_x - adapt.before.max_x,
        }
        series[f"{arm}/adapt_max_x"] = [adapt.before.max_x, *map(float, adapt.adapt_max_x), adapt.after.max_x]
        if arm == "reptile":
            adapt_steps = adapt.adapt_steps

    # PPO and DQN from scratch on the held-out level, with Reptile's total environment steps.
    budget = meta_steps + adapt_steps
    metrics["budget/env_steps"] = float(budget)
    for arm in ("ppo", "dqn"):
        log.info("ramario: %s from scratch on %s, seed %d, %d env steps", arm, config.held_out, seed, budget)
        start = time.perf_counter()
        result, ep_steps, ep_x = _train_baseline(arm, held, budget, config, seed)
        metrics[f"{arm}/wall_s"] = time.perf_counter() - start
        metrics[f"{arm}/max_x"] = result.max_x
        metrics[f"{arm}/reward"] = result.reward
        metrics[f"{arm}/train_episodes"] = float(len(ep_steps))
        series[f"{arm}/train_max_x"] = _curve(ep_steps, ep_x, budget)

    # Reptile's supervised sanity check (sine regression, Nichol et al. 2018).
    sine = sine_experiment(config.sine_outer_steps, seed)
    metrics["sine/random_init_mse"] = sine["random_init_mse"]
    metrics["sine/reptile_mse"] = sine["reptile_mse"]
    metrics["sine/mse_ratio"] = sine["reptile_mse"] / sine["random_init_mse"]
    return Result(metrics, series)


def run(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    return run_full(config, seed)


# ----------------------------------------------------------------------------------------------- plots
BAR_METRICS = {
    "random_init/max_x_0": "random init, 0 updates",
    "random_init/max_x_k": "random init, k updates",
    "reptile/max_x_0": "Reptile, 0 updates",
    "reptile/max_x_k": "Reptile, k updates",
    "ppo/max_x": "PPO (same steps)",
    "dqn/max_x": "DQN (same steps)",
}


def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Bar chart of the held-out distance per arm (mean ± std over seeds, seeds as dots); training curves."""
    if records[0]["scale"] != "full":
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4), dpi=120)
    for i, name in enumerate(BAR_METRICS):
        vals = np.array([r["metrics"][name] for r in records])
        ax.bar(i, vals.mean(), yerr=vals.std(), color="C0" if "reptile" in name else "C7", alpha=0.8)
        ax.scatter(np.full(len(vals), i), vals, color="k", s=10, zorder=3)
    ax.axhline(records[0]["metrics"]["level/start_x"], color="r", linewidth=0.8, label="start x")
    ax.set_xticks(range(len(BAR_METRICS)), list(BAR_METRICS.values()), rotation=20, fontsize=8)
    ax.set(ylabel="max x_pos (mean over eval episodes)", title="Held-out level 1-2: distance reached")
    ax.legend()
    fig.tight_layout()
    bar = folder / "heldout_distance.png"
    fig.savefig(bar)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=120)
    for r in records:
        axes[0].plot(r["series"]["reptile/meta_max_x"], alpha=0.7, label=f"seed {r['seed']}")
        for arm, color in (("ppo", "C1"), ("dqn", "C2")):
            axes[1].plot(np.arange(1, 11) / 10, r["series"][f"{arm}/train_max_x"], color=color, alpha=0.7)
    axes[0].set(xlabel="outer iteration", ylabel="max x (inner episodes)", title="Reptile meta-training")
    axes[0].legend(fontsize=7)
    axes[1].set(
        xlabel="fraction of the step budget", ylabel="max x (training episodes)", title="PPO (C1), DQN (C2) on 1-2"
    )
    fig.tight_layout()
    curves = folder / "training_curves.png"
    fig.savefig(curves)
    plt.close(fig)
    return [bar, curves]


# ----------------------------------------------------------------------------------------------- perf
def perf(device: str) -> dict[str, float]:
    """Environment frames per second (raw emulator, wrapped), and agent steps per second with the policy in the
    loop: compiled ``tf.function`` forward vs eager ``model(obs)`` per step (ratio = speed-up of tf.function)."""
    from paperzoo.ramario.model import compiled_forward, conv_policy

    n_frames, n_steps = 3000, 600
    env = make_env(HELD_OUT_LEVEL)
    nes = env.nes.unwrapped
    rng = np.random.default_rng(0)
    nes.reset()
    start = time.perf_counter()
    for _ in range(n_frames):
        if nes.step(int(rng.integers(256)))[2]:
            nes.reset()
    raw = n_frames / (time.perf_counter() - start)

    def steps_per_s(policy: Any) -> float:
        obs, _ = env.reset()
        start = time.perf_counter()
        for _ in range(n_steps):
            action = int(rng.integers(7)) if policy is None else int(np.argmax(np.asarray(policy(obs[None]))[0]))
            obs, _, term, trunc, _ = env.step(action)
            if term or trunc:
                obs, _ = env.reset()
        return n_steps / (time.perf_counter() - start)

    model = conv_policy()
    forward = compiled_forward(model)
    forward(np.zeros((1, *model.input_shape[1:]), np.uint8))  # trace once
    wrapped = steps_per_s(None)
    compiled = steps_per_s(forward)
    eager = steps_per_s(lambda obs: model(obs, training=False))
    obs = np.zeros((1, *model.input_shape[1:]), np.uint8)
    timings = {}
    for name, fn in (("tf_function", forward), ("eager", lambda o: model(o, training=False))):
        start = time.perf_counter()
        for _ in range(500):
            np.asarray(fn(obs))
        timings[name] = (time.perf_counter() - start) / 500 * 1e3
    return {
        "env/raw_frames_per_s": raw,
        "env/wrapped_agent_steps_per_s": wrapped,
        "env/wrapped_frames_per_s": wrapped * env.frame_skip,
        "policy_loop/tf_function_steps_per_s": compiled,
        "policy_loop/eager_steps_per_s": eager,
        "policy_loop/tf_function_over_eager": compiled / eager,
        "policy/tf_function_forward_ms": timings["tf_function"],
        "policy/eager_forward_ms": timings["eager"],
        "policy/eager_over_tf_function_time": timings["eager"] / timings["tf_function"],
    }


# ---------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    Claim(
        "Reptile's outer step moves theta by exactly epsilon_j (phi - theta)",
        Compare("reptile/outer_step_error", "<=", 1e-6),
        guards=(Compare("reptile/theta_change", ">", 0.0),),
    ),
    Claim(
        "With k = 0 inner updates, the outer step leaves theta unchanged", Compare("reptile/k0_theta_change", "<=", 0.0)
    ),
)

# "Above chance": the untrained policy (the random init, 0 updates, near-uniform over the 7 actions) is the
# trivial baseline on Mario; an arm that does not beat it has not learned to go further, and a comparison
# between such arms says which one degraded least, not which one learned (guards added after the first full
# run, where every trained arm fell below the untrained policy; see the README).
_CHANCE = "random_init/max_x_0"

FULL_CLAIMS = (
    Claim(
        "Reptile's initialisation adapts faster than a random one on held-out 1-2 (max x after k updates)",
        Compare("reptile/max_x_k", ">", "random_init/max_x_k"),
        guards=(Compare("reptile/max_x_k", ">", _CHANCE),),
    ),
    Claim(
        "RAMario (Reptile, few-shot) reaches at least PPO's distance on 1-2 at equal environment steps",
        Compare("reptile/max_x_k", ">=", "ppo/max_x"),
        guards=(Compare("reptile/max_x_k", ">", _CHANCE), Compare("ppo/max_x", ">", _CHANCE)),
    ),
    Claim(
        "RAMario (Reptile, few-shot) reaches at least DQN's distance on 1-2 at equal environment steps",
        Compare("reptile/max_x_k", ">=", "dqn/max_x"),
        guards=(Compare("reptile/max_x_k", ">", _CHANCE), Compare("dqn/max_x", ">", _CHANCE)),
    ),
    Claim(
        "Sine sanity check: Reptile's init adapts to a far lower MSE than the random init (ratio < 0.5)",
        Compare("sine/mse_ratio", "<", 0.5),
        guards=(Compare("sine/random_init_mse", ">", 1.0),),
    ),
)

BENCHMARK = Benchmark(
    slug="ramario",
    title="RAMario: Experimental Approach to Reptile Algorithm -- Reinforcement Learning for Mario",
    framework="tensorflow",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("reptile/outer_step_error", better="lower", tolerance=1e-6),
        MetricSpec("reptile/k0_theta_change", better="lower", tolerance=0.0),
        MetricSpec("reptile/meta_env_steps", better="higher", tolerance=0.0),
        MetricSpec("*/max_x*", better="higher", tolerance=50.0),
    ),
    plot=plot,
    perf=perf,
    paper_needs="a GPU and days of emulator time (100k Reptile outer iterations on full-length Mario episodes)",
)
