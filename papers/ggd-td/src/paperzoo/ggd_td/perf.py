"""The speed figure of ggd-td (``make perf-ggd-td``): environment steps per second of PPO with the paper's
IEV-GGD critic against SB3's plain PPO, same process, the full scale's sizes (target: within 1.5x)."""

from __future__ import annotations

import time


def perf(device: str) -> dict[str, float]:
    """Steps/s of SB3's PPO and of :class:`~paperzoo.ggd_td.ppo.EnsemblePPO` with each full-scale critic over
    10 rollouts of NoisyCartPole (4 x 256 steps, 10 epochs of batch 64), best of 2; ratios to SB3's."""
    import dataclasses

    from paperzoo.ggd_td.bench import FullConfig
    from paperzoo.ggd_td.experiment import _make_env, _make_ppo, arm_loss, setup_process

    setup_process()
    from stable_baselines3 import PPO

    ppo = dataclasses.replace(FullConfig().ppo, device=device)
    steps = 10 * ppo.n_envs * ppo.n_steps

    def sb3():
        return PPO(
            "MlpPolicy",
            _make_env(ppo, 0, ppo.n_envs),
            n_steps=ppo.n_steps,
            batch_size=ppo.batch_size,
            n_epochs=ppo.n_epochs,
            policy_kwargs={"net_arch": list(ppo.net_arch)},
            seed=0,
            device=device,
        )

    makers = {"sb3_ppo": sb3} | {
        arm: (lambda arm=arm: _make_ppo(ppo, *arm_loss(arm), 0)) for arm in ("mse", "ggd", "iev_ggd")
    }
    figures: dict[str, float] = {}
    for name, make in makers.items():
        best = float("inf")
        for _ in range(2):
            model = make()
            start = time.perf_counter()
            model.learn(steps)
            best = min(best, time.perf_counter() - start)
        figures[f"{name}/env_steps_per_s"] = steps / best
    for arm in ("mse", "ggd", "iev_ggd"):
        figures[f"{arm}/slowdown_vs_sb3"] = figures["sb3_ppo/env_steps_per_s"] / figures[f"{arm}/env_steps_per_s"]
    return figures
