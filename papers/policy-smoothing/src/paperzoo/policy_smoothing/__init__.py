"""Policy Smoothing for Provably Robust Reinforcement Learning (Kumar, Levine, Feizi; ICLR 2022).

A policy acting on observations with fresh Gaussian noise, a_t = pi(o_t + eps_t + eta_t), eta_t ~ N(0, sigma^2 I),
has an expected total reward that an adaptive adversary with total l2 budget B cannot push below
R_cert(B) = sum_i Phi(Phi^-1(p_i) - B / sigma) (the CDF certificate). Public API:

- :class:`NoisyObs`, :func:`make_env`: the noise wrapper and the noisy frame-stacked env (gymnasium; CartPole, and
  the paper scale's Atari games through :class:`AtariFrames` and :class:`OneRound`);
- :class:`SmoothedPolicy`, :func:`rollout`, :func:`train_dqn`, :class:`DQNConfig`: the smoothed agent over a
  stable-baselines3 DQN base policy, batched certification episodes;
- :func:`cp_lower`, :func:`certified_reward`, :func:`certified_action`, :func:`np_bound`: the certificates;
- :class:`AttackConfig`, :func:`attack_episodes`, :func:`perturb`: the adaptive budgeted gradient attack.
"""

from paperzoo.policy_smoothing.attack import AttackConfig, attack_episodes, perturb
from paperzoo.policy_smoothing.certify import certified_action, certified_reward, cp_lower, np_bound
from paperzoo.policy_smoothing.envs import AtariFrames, NoisyObs, OneRound, make_env
from paperzoo.policy_smoothing.policy import DQNConfig, SmoothedPolicy, rollout, train_dqn

__all__ = [
    "AtariFrames",
    "AttackConfig",
    "DQNConfig",
    "NoisyObs",
    "OneRound",
    "SmoothedPolicy",
    "attack_episodes",
    "certified_action",
    "certified_reward",
    "cp_lower",
    "make_env",
    "np_bound",
    "perturb",
    "rollout",
    "train_dqn",
]
