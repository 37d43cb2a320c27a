"""Confronting Reward Model Overoptimization with Constrained RLHF (Moskovitz et al., ICLR 2024).

The method as a library: :class:`LagrangeMultipliers` (learned dynamic weights on component returns),
:func:`mixed_advantage` (the "kl", "all" and "task" objectives), :class:`ConstrainedPPO` (PPO on a causal LM with
one value head per reward stream, PPO-SAT and fixed-weight PPO as :class:`Mixing` modes) and
:func:`nelder_mead` (the NM-PPO threshold search); the paper's task: :func:`load_dailydialog` (RL4LMs' DailyDialog
examples), :class:`MeteorReward` (nltk METEOR) and :class:`IntentReward` (a ``transformers`` intent classifier).
"""

from paperzoo.constrained_rlhf.dailydialog import IntentReward, MeteorReward, Turn, load_dailydialog
from paperzoo.constrained_rlhf.lagrange import KINDS, OBJECTIVES, LagrangeMultipliers, mixed_advantage, normalise
from paperzoo.constrained_rlhf.nelder_mead import CachedFunction, nelder_mead
from paperzoo.constrained_rlhf.ppo import (
    COMPONENTS,
    ConstrainedPPO,
    Mixing,
    PolicyWithValues,
    PPOConfig,
    RewardModels,
    TopK,
    clipped_surrogate,
    stream_rewards,
)

__all__ = [
    "COMPONENTS",
    "KINDS",
    "OBJECTIVES",
    "CachedFunction",
    "ConstrainedPPO",
    "IntentReward",
    "LagrangeMultipliers",
    "MeteorReward",
    "Mixing",
    "PPOConfig",
    "PolicyWithValues",
    "RewardModels",
    "TopK",
    "Turn",
    "clipped_surrogate",
    "load_dailydialog",
    "mixed_advantage",
    "nelder_mead",
    "normalise",
    "stream_rewards",
]
