"""The speed figures of the Meta-World benchmark (``python -m paperzoo.metaworld --perf``; never run in CI)."""

from __future__ import annotations

import time

import numpy as np

from paperzoo.metaworld.experiment import setup_process


def _best_rate(count: int, fn, repeats: int = 3) -> float:
    """``count / seconds`` of the fastest of ``repeats`` calls of ``fn`` (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def perf(device: str) -> dict[str, float]:
    """Environment steps/s with random actions (one env; the package's sync vector env of the full scale's tasks
    and of MT10's; async with the full scale's tasks) and SAC updates/s at the full scale's sizes (our MTSAC
    subclass vs SB3's SAC, same process)."""
    setup_process()
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import metaworld  # noqa: F401  (registers the Meta-World/* envs)
    from paperzoo.metaworld.agents.sac import SAC, make_sac
    from paperzoo.metaworld.bench import MT10_TASKS, FullConfig
    from paperzoo.metaworld.envs import make_mt_env_fns, make_mt_envs

    figures: dict[str, float] = {}
    rng = np.random.default_rng(0)
    env = gym.make("Meta-World/MT1", env_name="reach-v3", seed=0, disable_env_checker=True)
    env.reset()

    def single(n: int = 2000) -> None:
        for _ in range(n):
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4))
            if term or trunc:
                env.reset()

    figures["env/single_steps_per_s"] = _best_rate(2000, single)
    full = FullConfig()
    n = len(full.tasks)
    for label, tasks, strategy in (
        (f"vector{n}", full.tasks, "sync"),
        ("vector10", MT10_TASKS, "sync"),
        (f"vector{n}_async", full.tasks, "async"),
    ):
        envs = make_mt_envs(tasks, 0, vector_strategy=strategy)
        envs.reset()
        k = len(tasks)
        n_vec = 2000 // k
        figures[f"env/{label}_steps_per_s"] = _best_rate(
            n_vec * k, lambda envs=envs, k=k, n_vec=n_vec: [envs.step(rng.uniform(-1, 1, (k, 4))) for _ in range(n_vec)]
        )
        envs.close()
    figures["env/vector10_vs_single"] = figures["env/vector10_steps_per_s"] / figures["env/single_steps_per_s"]
    figures[f"env/vector{n}_async_vs_sync"] = (
        figures[f"env/vector{n}_async_steps_per_s"] / figures[f"env/vector{n}_steps_per_s"]
    )

    cfg = full.sac
    models = {
        "sac": make_sac(full.tasks[:1], 10_000, 0, cfg),
        "mt_sac": make_sac(full.tasks, 10_000, 0, cfg),
        "sb3_sac": SAC(
            "MlpPolicy",
            DummyVecEnv(make_mt_env_fns(full.tasks[:1], 0)),
            batch_size=cfg.batch_size,
            learning_starts=cfg.learning_starts,
            policy_kwargs={"net_arch": list(cfg.net_arch)},
            seed=0,
            device="cpu",
        ),
    }
    for name, model in models.items():
        model.learn(cfg.learning_starts * model.n_envs + 10)  # fill the buffer with random steps
        figures[f"{name}/updates_per_s"] = _best_rate(
            200, lambda model=model: model.train(gradient_steps=200, batch_size=cfg.batch_size)
        )
    figures["sac/updates_vs_sb3"] = figures["sac/updates_per_s"] / figures["sb3_sac/updates_per_s"]
    figures["sac/updates_per_s_vs_env_steps_per_s"] = figures["sac/updates_per_s"] / figures["env/single_steps_per_s"]
    return figures
