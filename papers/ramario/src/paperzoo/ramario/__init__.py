"""RAMario: Experimental Approach to Reptile Algorithm -- Reinforcement Learning for Mario (Sanyam Jain, 2023).

Reptile (Nichol et al. 2018) meta-learns the initialisation of a small conv policy across Super Mario Bros
levels; the initialisation is then adapted with k policy-gradient updates on a held-out level. Public API:

- :class:`SuperMarioBros`, :func:`make_env`: the real game (nes-py) as a Gymnasium environment;
  :class:`MiniLevel`, :func:`mini_levels`: start states saved from the emulator just before a level's obstacles,
  short episodes, x-progress as reward; :class:`EnvSet`: several environments as one (``paperzoo.ramario.envs``;
  importing it does not import TensorFlow);
- :func:`conv_policy`: the tf.keras policy; :class:`PolicyGradientInner`, :class:`InnerConfig`: the inner
  REINFORCE loop; :class:`Reptile`, :func:`reptile_step`, :func:`linear_epsilon`: the outer loop;
- :func:`train_ppo`, :func:`train_dqn`: the baselines (tf.keras, own code);
- :func:`adapt_and_evaluate`: few-shot evaluation by progress (max ``x_pos`` - start).

TensorFlow-based names are loaded on first use, so ``paperzoo.ramario.envs`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from paperzoo.ramario.envs import HELD_OUT_LEVEL, TRAIN_LEVELS, EnvSet, MiniLevel, SuperMarioBros, make_env, mini_levels

_LAZY = {
    "conv_policy": "model",
    "compiled_forward": "model",
    "get_weights": "model",
    "set_weights": "model",
    "InnerConfig": "policy_gradient",
    "PolicyGradientInner": "policy_gradient",
    "reinforce_loss": "policy_gradient",
    "Reptile": "reptile",
    "reptile_step": "reptile",
    "linear_epsilon": "reptile",
    "PPOConfig": "baselines.ppo",
    "train_ppo": "baselines.ppo",
    "DQNConfig": "baselines.dqn",
    "train_dqn": "baselines.dqn",
    "adapt_and_evaluate": "evaluate",
    "run_episode": "rollout",
    "run_episodes": "rollout",
    "sine_experiment": "sine",
}

__all__ = ["HELD_OUT_LEVEL", "TRAIN_LEVELS", "EnvSet", "MiniLevel", "SuperMarioBros", "make_env", "mini_levels", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"paperzoo.ramario.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'paperzoo.ramario' has no attribute {name!r}")
