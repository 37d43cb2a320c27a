"""GROOVE — Discovering General Reinforcement Learning Algorithms with Adversarial Environment Design.
Matthew T. Jackson, Minqi Jiang, Jack Parker-Holder, Risto Vuorio, Chris Lu, Gregory Farquhar, Shimon
Whiteson, Jakob N. Foerster. NeurIPS 2023. Official code: github.com/EmptyJackson/groove (JAX).

GROOVE meta-trains Learned Policy Gradient (LPG, Oh et al. 2020) on a curriculum of grid-world levels chosen
by prioritised level replay, scored by algorithmic regret AR = R(A2C agent) - R(LPG agent).

Public API (also what TA-LPG builds on):

- grid-worlds: :class:`GridWorld` (pure-JAX env: ``reset``/``step``, exact ``optimal_return``),
  :class:`EnvParams`, :class:`LevelDistribution`, :data:`DISTRIBUTIONS`, :func:`sample_level`,
  :func:`make_level`, :func:`held_out_levels`;
- LPG: :class:`LPG` (flax module: embedding, reverse GRU, two heads);
- agents: :class:`AgentConfig`, :class:`Agent`, :func:`init_agent`, :func:`rollout`, :func:`evaluate`,
  :func:`lpg_update`, :func:`a2c_update`, :func:`gae`;
- meta-gradient: :class:`MetaConfig`, :func:`agent_meta_loss`, :func:`inner_updates`;
- curriculum: :class:`PLRConfig`, :class:`LevelBuffer`, :func:`plr_sample`, :func:`algorithmic_regret`;
- training: :class:`TrainConfig`, :func:`make_train` (``train(key)``, pure and ``jit``-able);
- evaluation: :func:`meta_test`, :func:`train_agent`.
"""

from paperzoo.groove.agent import (
    Agent,
    AgentConfig,
    Transition,
    Workers,
    a2c_update,
    evaluate,
    gae,
    init_agent,
    lpg_update,
    policy_fn,
    reset_workers,
    rollout,
    uniform_policy,
)
from paperzoo.groove.evaluation import meta_test, train_agent
from paperzoo.groove.gridworld import (
    DISTRIBUTIONS,
    EnvParams,
    EnvState,
    GridWorld,
    LevelDistribution,
    held_out_levels,
    make_level,
    sample_level,
)
from paperzoo.groove.level_buffer import Level, LevelBuffer, PLRConfig, algorithmic_regret, plr_sample
from paperzoo.groove.lpg import LPG
from paperzoo.groove.meta_grad import MetaConfig, agent_meta_loss, inner_updates
from paperzoo.groove.train import MetaState, TrainConfig, make_train

__all__ = [
    "DISTRIBUTIONS",
    "LPG",
    "Agent",
    "AgentConfig",
    "EnvParams",
    "EnvState",
    "GridWorld",
    "Level",
    "LevelBuffer",
    "LevelDistribution",
    "MetaConfig",
    "MetaState",
    "PLRConfig",
    "TrainConfig",
    "Transition",
    "Workers",
    "a2c_update",
    "agent_meta_loss",
    "algorithmic_regret",
    "evaluate",
    "gae",
    "held_out_levels",
    "init_agent",
    "inner_updates",
    "lpg_update",
    "make_level",
    "make_train",
    "meta_test",
    "plr_sample",
    "policy_fn",
    "reset_workers",
    "rollout",
    "sample_level",
    "train_agent",
    "uniform_policy",
]
