"""The scale runners of dextrack: ``run_smoke`` and ``run_full`` (``(config, seed) -> Result``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from paperzoo.shared import Result
from paperzoo.shared.seeding import derive

log = logging.getLogger(__name__)


def setup_process() -> None:
    """One torch thread, deterministic kernels, quiet third-party warnings."""
    import warnings

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=UserWarning)


def run_smoke(config: Any, seed: int) -> Result:
    """Tier B load + reward; Tier A: zero residual gives the reference targets, the reward prefers the object on
    its reference to 5 cm away, one specialist PPO iteration runs and its rollout replays bit for bit."""
    setup_process()
    from paperzoo.dextrack.flywheel import PPOConfig, Specialist, rollout
    from paperzoo.dextrack.hand_env import RewardConfig, tracking_reward
    from paperzoo.dextrack.refs import ReferenceGenerator
    from paperzoo.dextrack.shadow import shadow_reward_rollout

    shadow = shadow_reward_rollout(config.shadow_steps)
    ref = ReferenceGenerator("train", config.horizon).sample(1, derive(seed, "ref"))[0]
    cfg = PPOConfig(n_envs=config.n_envs, updates=1, batch_size=config.n_envs * config.horizon // 4)
    spec = Specialist(ref, cfg, derive(seed, "specialist"))
    env = spec.model.env
    env.reset()
    targets = env.pd_targets(np.zeros((env.num_envs, 10)), np.zeros((env.num_envs, 10)))
    zero_gap = float(np.abs(targets - ref.hand[1]).max())
    spec.solve()
    first = rollout(spec.model.policy, [ref], cfg)
    again = rollout(None, [ref], cfg, actions=first.actions)
    p, q = ref.obj_pos[5:6], ref.obj_quat[5:6]
    tips = p[:, None] + np.array([[0.03, 0, 0], [-0.015, 0.026, 0], [-0.015, -0.026, 0]])
    r_on, _ = tracking_reward(p, q, p, q, p, tips, ref.hand[5:6], ref.hand[5:6], RewardConfig())
    r_off, _ = tracking_reward(
        p + np.array([[0.05, 0.0, 0.0]]), q, p, q, p, tips, ref.hand[5:6], ref.hand[5:6], RewardConfig()
    )
    return Result(
        metrics={
            "shadow/nq": shadow["nq"],
            "shadow/finite_reward": float(np.isfinite(shadow["mean_reward"])),
            "env/zero_residual_gap": zero_gap,
            "env/reward_on_minus_off": float(r_on[0] - r_off[0]),
            "env/replay_gap": float(np.abs(first.qpos - again.qpos).max()),
            "specialist/pos_err_cm": float(100 * first.pos_err[0]),
        }
    )


def _policy_metrics(prefix: str, stats: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in stats.items()}


def run_full(config: Any, seed: int) -> Result:
    """Tier A flywheel rounds 0 and 1; RL+IL vs PPO-only vs BC-only at equal env steps and demos on held-out test
    references; zero-residual reference playback as the floor."""
    setup_process()
    from paperzoo.dextrack.flywheel import Flywheel, demo_arrays, evaluate, make_env, make_ppo
    from paperzoo.dextrack.refs import ReferenceGenerator
    from paperzoo.dextrack.rlil import train_bc

    fw_cfg = config.flywheel
    g = fw_cfg.generalist
    train = ReferenceGenerator("train", config.horizon).sample(config.n_train, derive(seed, "train_refs"))
    test = ReferenceGenerator("test", config.horizon).sample(config.n_test, derive(seed, "test_refs"))
    fly = Flywheel(train, fw_cfg, seed)
    times: dict[str, float] = {}
    metrics: dict[str, float] = {}
    t0 = time.process_time()
    metrics["flywheel/demos_round0"] = float(fly.round0())
    times["round0_specialists"] = time.process_time() - t0
    log.info("seed %d: round 0: %d demos (%.0f s CPU)", seed, len(fly.demos), times["round0_specialists"])
    gen0 = fly.train_generalist(fw_cfg.lambda_il, "rlil0")
    metrics.update(_policy_metrics("rlil_round0", evaluate(gen0.policy, test, g)))
    t0 = time.process_time()
    metrics["flywheel/demos_round1"] = float(fly.round1(gen0))
    metrics.update({f"flywheel/homotopy_{k}": float(v) for k, v in fly.homotopy.items()})
    times["round1_specialists"] = time.process_time() - t0
    log.info("seed %d: round 1: %d demos, homotopy %s", seed, len(fly.demos), fly.homotopy)
    arms = {}
    t0 = time.process_time()
    arms["rlil"] = fly.train_generalist(fw_cfg.lambda_il, "rlil1").policy
    times["generalist"] = time.process_time() - t0
    log.info("seed %d: generalist trained (%.0f s CPU)", seed, times["generalist"])
    arms["ppo_only"] = fly.train_generalist(0.0, "ppo").policy
    bc = make_ppo(make_env(train, g.n_envs, g), g, derive(seed, "generalist"))  # the generalists' initial weights
    steps = g.updates * g.n_epochs * max(g.n_envs * config.horizon // g.batch_size, 1)
    demos = demo_arrays(list(fly.demos.values()))
    if len(demos[0]):
        train_bc(bc.policy, demos, steps, g.batch_size, derive(seed, "bc"))
    arms["bc_only"] = bc.policy
    arms["playback"] = None
    for arm, policy in arms.items():
        metrics.update(_policy_metrics(arm, evaluate(policy, test, g)))
        metrics[f"{arm}/train_success"] = evaluate(policy, train, g)["success"]
    metrics.update({f"cpu_s/{k}": v for k, v in times.items()})
    return Result(
        metrics=metrics,
        series={
            "success_per_round": [metrics["rlil_round0/success"], metrics["rlil/success"]],
            "demos_per_round": [metrics["flywheel/demos_round0"], metrics["flywheel/demos_round1"]],
            "demo_steps": [float(len(demos[0]))],
        },
    )
