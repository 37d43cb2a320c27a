"""The scale runners of the RAMario benchmark (``bench.py`` declares them).

- :func:`run_smoke`: two Reptile outer iterations on mini-levels of the real game, checked against the update
  rule; a k = 0 step; a short adaptation on a held-out mini-level.
- :func:`run_full` (also the ``paper`` scale's runner): Reptile meta-training on the training tasks; few-shot on
  the held-out task from Reptile's theta and from the random init it started from; PPO and DQN from scratch on the
  held-out task at Reptile's total environment steps; a scripted "run right" reference; Reptile's supervised sine
  check. A task is a level's mini-levels (``config.mini_levels``) or the whole level as one environment.

Seeding: the run's seed initialises every arm's network (so Reptile, the random-init arm, PPO and DQN share the
conv kernel and the head seeds) and the task sampling; the held-out adaptation episodes (the same for both inits:
paired) and the baselines' evaluation episodes draw from ``derive(seed, ...)`` generators.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from paperzoo.ramario.envs import make_env
from paperzoo.ramario.envs.minilevels import EnvSet, mini_levels
from paperzoo.shared import Result
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive

if TYPE_CHECKING:
    from collections.abc import Sequence

    import gymnasium

    from paperzoo.ramario.bench import FullConfig, SmokeConfig
    from paperzoo.ramario.evaluate import Evaluation

Level = tuple[int, int]
Task = tuple["gymnasium.Env", ...]

log = logging.getLogger("paperzoo.ramario")


# ---------------------------------------------------------------------------------------------- smoke
def _max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b, strict=True)
    )


def tasks(config: SmokeConfig | FullConfig) -> tuple[dict[Level, Task], Task]:
    """The training tasks by level and the held-out task: each level's first mini-levels (``config.mini_levels``),
    or, with ``mini_levels=None``, the whole level from its start as one environment."""
    horizon = config.max_episode_steps
    if config.mini_levels is None:
        train = {lv: (make_env(lv, max_episode_steps=horizon),) for lv in config.train_levels}
        return train, (make_env(config.held_out, max_episode_steps=horizon),)
    train = {lv: mini_levels(lv, config.mini_levels, horizon) for lv in config.train_levels}
    return train, mini_levels(config.held_out, config.held_out_mini_levels, horizon)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """Two Reptile outer steps checked against the update rule in float64, a k = 0 step, a held-out adaptation."""
    # TensorFlow is imported here, not at module level: listing the benchmark stays cheap.
    from paperzoo.ramario.evaluate import adapt_and_evaluate
    from paperzoo.ramario.model import conv_policy, get_weights
    from paperzoo.ramario.policy_gradient import PolicyGradientInner
    from paperzoo.ramario.reptile import Reptile

    rng = np.random.default_rng(seed)
    train, held = tasks(config)
    model = conv_policy(seed=seed)
    theta0 = get_weights(model)
    inner = PolicyGradientInner(model, config.inner)
    reptile = Reptile(model, inner, outer_steps=config.outer_steps)
    errors, steps = [], 0
    for j in range(config.outer_steps):
        level = config.train_levels[int(rng.integers(len(config.train_levels)))]
        out = reptile.outer_step(j, [train[level]], rng)
        steps += sum(e.length for e in out.inner_outputs[0])
        # theta_{j+1} == theta_j + epsilon_j (phi - theta_j), recomputed here in float64
        expected = [t + out.epsilon * (p.astype(np.float64) - t) for t, p in zip(out.theta, out.phis[0], strict=True)]
        errors.append(_max_abs_diff(get_weights(model), expected))
    theta = get_weights(model)
    inner.k = 0  # k = 0: phi = theta, so the outer step cannot move theta
    reptile_k0 = Reptile(model, inner, outer_steps=1)
    reptile_k0.outer_step(0, [train[config.train_levels[0]]], rng)
    k0_change = _max_abs_diff(get_weights(model), theta)
    inner.k = config.inner.k
    adapt_rng = np.random.default_rng(derive(seed, "held-out adaptation"))
    adapt = adapt_and_evaluate(inner, held, config.eval_rounds, adapt_rng)
    return Result(
        metrics={
            "reptile/outer_step_error": max(errors),
            "reptile/k0_theta_change": k0_change,
            "reptile/theta_change": _max_abs_diff(theta, theta0),
            "reptile/meta_env_steps": float(steps),
            "reptile/progress_0": adapt.before.progress,
            "reptile/progress_k": adapt.after.progress,
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
    arm: str, held: Task, budget: int, config: FullConfig, seed: int
) -> tuple[Evaluation, list[int], list[float]]:
    """Train PPO or DQN from scratch for ``budget`` steps on the held-out task (each episode on one of its
    environments, drawn uniformly), then evaluate; also the (steps, progress) of each training episode."""
    from paperzoo.ramario.baselines.dqn import train_dqn
    from paperzoo.ramario.baselines.ppo import train_ppo
    from paperzoo.ramario.evaluate import evaluate

    ep_steps: list[int] = []
    ep_progress: list[float] = []

    def on_episode(steps: int, _reward: float, progress: int) -> None:
        ep_steps.append(steps)
        ep_progress.append(float(progress))

    env = EnvSet(held)
    eval_rng = np.random.default_rng(derive(seed, "baseline evaluation"))
    if arm == "ppo":
        ppo = train_ppo(env, budget, config.ppo, seed, on_episode)
        result = evaluate(held, ppo.policy_logits, config.eval_rounds, eval_rng)
    else:
        dqn = train_dqn(env, budget, config.dqn, seed, on_episode)
        result = evaluate(held, dqn.forward, config.eval_rounds, eval_rng, epsilon=config.dqn_eval_epsilon)
    return result, ep_steps, ep_progress


def run_right(task: Sequence[gymnasium.Env]) -> float:
    """Mean progress of the scripted policy "run right" (``right + B`` at every step) over the task's
    environments (deterministic: the game is)."""
    progress = []
    for env in task:
        _, info = env.reset()
        start = best = info["x_pos"]
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(3)
            best, done = max(best, info["x_pos"]), terminated or truncated
        progress.append(best - start)
    return float(np.mean(progress))


def run_full(config: FullConfig, seed: int) -> Result:
    """Reptile meta-training, few-shot on the held-out task from theta and from theta_0, PPO and DQN at equal
    environment steps, the scripted "run right" reference, and the sine sanity check."""
    from paperzoo.ramario.evaluate import adapt_and_evaluate
    from paperzoo.ramario.model import conv_policy, get_weights, set_weights
    from paperzoo.ramario.policy_gradient import PolicyGradientInner
    from paperzoo.ramario.reptile import Reptile
    from paperzoo.ramario.sine import sine_experiment

    rng = np.random.default_rng(seed)
    train, held = tasks(config)
    metrics: dict[str, float] = {"scripted/run_right": run_right(held)}
    series: dict[str, list[float]] = {}

    # Reptile meta-training on the training tasks.
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
        out = reptile.outer_step(j, [train[lv] for lv in levels], rng)
        episodes = [e for eps in out.inner_outputs for e in eps]
        meta_steps += sum(e.length for e in episodes)
        meta_curve.append(float(np.mean([e.progress for e in episodes])))
    metrics["reptile/meta_wall_s"] = time.perf_counter() - start
    metrics["reptile/meta_env_steps"] = float(meta_steps)
    series["reptile/meta_progress"] = meta_curve
    theta = get_weights(model)
    # ||theta - theta_0||: how far meta-training moved the initialisation (the few-shot claim's mechanism)
    distance = sum(float(np.sum((t - t0) ** 2)) for t, t0 in zip(theta, theta0, strict=True))
    metrics["reptile/theta_distance"] = float(np.sqrt(distance))

    # Few-shot on the held-out task: k updates from Reptile's theta and from the random init it started from.
    adapt_steps = 0
    for arm, weights in (("reptile", theta), ("random_init", theta0)):
        set_weights(model, weights)
        adapt = adapt_and_evaluate(
            inner, held, config.eval_rounds, np.random.default_rng(derive(seed, "held-out adaptation"))
        )
        metrics |= {
            f"{arm}/progress_0": adapt.before.progress,
            f"{arm}/progress_k": adapt.after.progress,
            f"{arm}/reward_k": adapt.after.reward,
        }
        adapt_curve = [adapt.before.progress, *map(float, adapt.adapt_progress), adapt.after.progress]
        series[f"{arm}/adapt_progress"] = adapt_curve
        if arm == "reptile":
            adapt_steps = adapt.adapt_steps

    # PPO and DQN from scratch on the held-out task, with Reptile's total environment steps.
    budget = meta_steps + adapt_steps
    metrics["budget/env_steps"] = float(budget)
    for arm in ("ppo", "dqn"):
        log.info("ramario: %s from scratch on %s, seed %d, %d env steps", arm, config.held_out, seed, budget)
        start = time.perf_counter()
        result, ep_steps, ep_progress = _train_baseline(arm, held, budget, config, seed)
        metrics[f"{arm}/wall_s"] = time.perf_counter() - start
        metrics[f"{arm}/progress"] = result.progress
        metrics[f"{arm}/reward"] = result.reward
        metrics[f"{arm}/train_episodes"] = float(len(ep_steps))
        series[f"{arm}/train_progress"] = _curve(ep_steps, ep_progress, budget)

    # Reptile's supervised sanity check (sine regression, Nichol et al. 2018), a guard of the claims.
    sine = sine_experiment(config.sine_outer_steps, seed)
    metrics["sine/random_init_mse"] = sine["random_init_mse"]
    metrics["sine/reptile_mse"] = sine["reptile_mse"]
    metrics["sine/mse_ratio"] = sine["reptile_mse"] / sine["random_init_mse"]
    return Result(metrics, series)
