"""The speed figure of policy smoothing (``python -m paperzoo.policy_smoothing --perf``; never run in CI).

Certification episodes per second: N episodes side by side in gymnasium's ``CartPoleVectorEnv``
(``vectorization_mode="vector_entry_point"``) with one batched Q-network call per step (:func:`rollout`), against
SB3's ``evaluate_policy`` playing them one at a time on the noisy frame-stacked env, the same network and sigma.
"""

from __future__ import annotations

import time

from paperzoo.policy_smoothing.experiment import setup_process


def perf(device: str) -> dict[str, float]:
    """Episodes/s of the batched certification and of SB3's ``evaluate_policy`` (same process, same Q-network)."""
    setup_process()
    from stable_baselines3 import DQN
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from paperzoo.policy_smoothing.bench import FullConfig
    from paperzoo.policy_smoothing.envs import make_env
    from paperzoo.policy_smoothing.policy import SmoothedPolicy, rollout

    config, sigma = FullConfig(), 0.2
    env = DummyVecEnv([lambda: Monitor(make_env(config.env_id, sigma, config.frames))])
    # an untrained network of the full scale's size: the cost per step does not depend on the weights, and its
    # short episodes (~10 steps) make the comparison conservative for the batched side (fewer steps per call)
    model = DQN("MlpPolicy", env, policy_kwargs={"net_arch": list(config.dqn.net_arch)}, seed=0, device=device)
    env.seed(0)
    n_single = 200
    start = time.perf_counter()
    returns, _ = evaluate_policy(model, env, n_eval_episodes=n_single, deterministic=True, return_episode_rewards=True)
    single = n_single / (time.perf_counter() - start)
    policy = SmoothedPolicy(model.q_net, sigma, config.frames, seed=0)
    n = config.certify_episodes
    start = time.perf_counter()
    batched_returns = rollout(policy, n, seed=0, env_id=config.env_id)
    batched = n / (time.perf_counter() - start)
    return {
        "certify/batched_episodes_per_s": batched,
        "certify/sb3_evaluate_policy_episodes_per_s": single,
        "certify/batched_vs_sb3": batched / single,
        "certify/mean_steps_sb3": float(sum(returns) / len(returns)),
        "certify/mean_steps_batched": float(batched_returns.mean()),
    }
