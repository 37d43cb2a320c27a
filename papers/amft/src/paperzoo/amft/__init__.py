"""AMFT (He et al., 2025): single-stage SFT + RL with a meta-learned imitation weight mu.

L(theta) = (1 - mu_t) L_RL + mu_t L_SFT, with mu_t updated by :class:`AdaptiveWeightController`
(meta-gradient of a validation objective through a one-step look-ahead, plus an entropy term).
"""

from paperzoo.amft.controller import (
    AdaptiveWeightController,
    functional_objective,
    meta_gradient,
    reinforce_surrogate,
    target_entropy,
    token_entropy,
)
from paperzoo.amft.model import ModelConfig, PolicyWithValue, build_lm, load_lm
from paperzoo.amft.rl import RLLossConfig, Rollouts, collect_rollouts, group_advantages, rl_loss, sft_loss
from paperzoo.amft.task import CharTokenizer, Problem, make_split, sft_batch, verify
from paperzoo.amft.train import REGIMES, BaseConfig, TrainConfig, greedy_accuracy, pretrain_base, train_regime

__all__ = [
    "REGIMES",
    "AdaptiveWeightController",
    "BaseConfig",
    "CharTokenizer",
    "ModelConfig",
    "PolicyWithValue",
    "Problem",
    "RLLossConfig",
    "Rollouts",
    "TrainConfig",
    "build_lm",
    "collect_rollouts",
    "functional_objective",
    "greedy_accuracy",
    "group_advantages",
    "load_lm",
    "make_split",
    "meta_gradient",
    "pretrain_base",
    "reinforce_surrogate",
    "rl_loss",
    "sft_batch",
    "sft_loss",
    "target_entropy",
    "token_entropy",
    "train_regime",
    "verify",
]
