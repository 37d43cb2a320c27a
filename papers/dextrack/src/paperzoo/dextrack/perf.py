"""The speed figures of dextrack (``python -m paperzoo.dextrack --perf``; never run in CI): env steps/s of the batched
env vs SB3's ``DummyVecEnv`` of single envs in the same process, and the time split physics / policy / update."""

from __future__ import annotations

import time

import numpy as np


def perf(device: str) -> dict[str, float]:
    """Steps/s (batched vs DummyVecEnv, 32 envs, random actions) and a PPO iteration's time split."""
    from paperzoo.dextrack.experiment import setup_process

    setup_process()
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv

    from paperzoo.dextrack.flywheel import PPOConfig, make_env, make_ppo
    from paperzoo.dextrack.hand_env import HandTrackingEnv
    from paperzoo.dextrack.refs import ReferenceGenerator

    n, steps = 32, 80
    refs = ReferenceGenerator("train").sample(n, 0)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (steps, n, 10)).astype(np.float32)
    cfg = PPOConfig(n_envs=n)
    figures: dict[str, float] = {}
    for name, env in (
        ("batched", make_env(refs, n, cfg)),
        ("dummy", DummyVecEnv([lambda r=r: HandTrackingEnv(r) for r in refs])),
    ):
        env.reset()
        start = time.perf_counter()
        for a in acts:
            env.step(a)
        figures[f"env/{name}_steps_per_s"] = steps * n / (time.perf_counter() - start)
    figures["env/batched_vs_dummy"] = figures["env/batched_steps_per_s"] / figures["env/dummy_steps_per_s"]
    model = make_ppo(make_env(refs, n, cfg), cfg, 0)
    env = model.env
    obs = env.reset()
    policy_s = physics_s = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        with torch.no_grad():
            a = model.policy.predict(obs, deterministic=False)[0]
        t1 = time.perf_counter()
        obs = env.step(a)[0]
        policy_s += t1 - t0
        physics_s += time.perf_counter() - t1
    model.learn(n * env.horizon)
    t0 = time.perf_counter()
    model.train()
    update_s = time.perf_counter() - t0
    total = policy_s + physics_s + update_s * steps / env.horizon
    figures["split/physics"] = physics_s / total
    figures["split/policy"] = policy_s / total
    figures["split/update"] = update_s * steps / env.horizon / total
    return figures
