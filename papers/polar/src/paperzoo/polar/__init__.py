"""POLAR: Pre-Trained Policy Discriminators are General Reward Models (Dou et al., 2025; InternLM).

A reward model r(x, y_ref, y) that scores a candidate relative to a reference, pre-trained to tell whether two
trajectories come from the same policy (Policy Discriminative Learning), then fine-tuned on preference triplets:

- :func:`encode_polar` / :func:`polar_text`: the official reference template (xtuner's ``tokenize_ref``), as ids
  with the reward token appended, and the inference client's string form; :class:`PolarTokenizer`, a character
  tokenizer with Hugging Face's interface; :func:`encode_reference_free` for the standard Bradley-Terry RM.
- :class:`PolarRM`: a one-label Hugging Face sequence-classification backbone read at the reward token
  (:func:`build_llama_rm` builds a tiny Llama from :class:`RMConfig`).
- :func:`ranking_loss`, :func:`train_rm` (the official fine-tuning recipe, :class:`TrainConfig`),
  :func:`pairwise_accuracy`.
- :class:`PolicyPool`, :func:`sample_triplets` (pre-training triplets), :func:`preference_pairs`.
"""

from paperzoo.polar.encoding import (
    REWARD_TEXT,
    REWARD_TOKEN,
    WRAPPERS,
    PolarTokenizer,
    encode_polar,
    encode_reference_free,
    polar_text,
)
from paperzoo.polar.model import PolarRM, RMConfig, build_llama_rm
from paperzoo.polar.policies import Policy, PolicyPool, Triplet, preference_pairs, sample_triplets
from paperzoo.polar.training import TrainConfig, lr_factor, pairwise_accuracy, ranking_loss, train_rm

__all__ = [
    "REWARD_TEXT",
    "REWARD_TOKEN",
    "WRAPPERS",
    "PolarRM",
    "PolarTokenizer",
    "Policy",
    "PolicyPool",
    "RMConfig",
    "TrainConfig",
    "Triplet",
    "build_llama_rm",
    "encode_polar",
    "encode_reference_free",
    "lr_factor",
    "pairwise_accuracy",
    "polar_text",
    "preference_pairs",
    "ranking_loss",
    "sample_triplets",
    "train_rm",
]
