"""The speed figure of IWOCS (``python -m paperzoo.iwocs --perf``; never run in CI): evaluating a policy on the
whole Ω grid in the numpy-batched Pendulum with one batched actor call per step, against SB3's
``evaluate_policy`` on single Pendulum-v1 envs (one per grid point), same policy, same episodes."""

from __future__ import annotations

import time


def perf(device: str) -> dict[str, float]:
    """Episodes/s of both evaluations of one TD3 actor on the 5x5 grid x 5 episodes, and their ratio."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    from paperzoo.iwocs.deep import DeepConfig, make_td3, td3_actor
    from paperzoo.iwocs.pendulum import ParametricPendulum, box_grid, grid_returns

    config = DeepConfig()
    omegas = box_grid(config.low, config.high, config.eval_points)
    episodes = 5  # SB3's single-env evaluation runs at about 1.5 episodes/s: keep it short
    model = make_td3(ParametricPendulum(), 1000, 0, config.td3)
    act = td3_actor(model)
    start = time.perf_counter()
    grid_returns(act, omegas, episodes, 0)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for m, l in omegas:  # noqa: E741
        evaluate_policy(model, Monitor(ParametricPendulum((m, l))), n_eval_episodes=episodes, deterministic=True)
    single = time.perf_counter() - start
    n = len(omegas) * episodes
    return {
        "eval/batched_episodes_per_s": n / batched,
        "eval/sb3_episodes_per_s": n / single,
        "eval/speedup": single / batched,
    }
