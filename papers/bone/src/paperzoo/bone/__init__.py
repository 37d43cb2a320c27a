"""Bone: Block Affine Transformation as Parameter Efficient Fine-tuning Methods for Large Language Models
(Jiale Kang, 2024, arXiv:2409.15371; official code JL-er/Bone, later MiSS; in Hugging Face peft as MiSS).

The public API:

- :class:`BoneLinear`: a frozen ``nn.Linear`` (or GPT-2 ``Conv1D``) with a trainable block update; variants
  ``"bat"`` (the paper's weight-guided Bone, default), ``"bone"`` (peft's default) and ``"mini"``; forward,
  ``merge``, exact ``unmerge``, ``delta_weight``.
- :class:`BoneConfig` and :func:`apply_bone`: inject Bone into the named layers of any Hugging Face model.
- :func:`bone_state_dict`, :func:`load_bone_state_dict`, :func:`save_bone`, :func:`load_bone`: the adapter alone.
- :func:`merge_bone`, :func:`unmerge_bone`, :func:`merge_and_unload`: merged inference, and back to a plain model.
- :func:`bone_parameter_count`, :func:`matched_lora_rank`, :func:`trainable_parameter_count`: parameter budgets.
"""

from paperzoo.bone.adapter import (
    LLAMA_TARGETS,
    BoneConfig,
    apply_bone,
    bone_layers,
    bone_state_dict,
    load_bone,
    load_bone_state_dict,
    merge_and_unload,
    merge_bone,
    save_bone,
    trainable_parameter_count,
    unmerge_bone,
)
from paperzoo.bone.layer import BoneLinear, bone_parameter_count, matched_lora_rank

__all__ = [
    "LLAMA_TARGETS",
    "BoneConfig",
    "BoneLinear",
    "apply_bone",
    "bone_layers",
    "bone_parameter_count",
    "bone_state_dict",
    "load_bone",
    "load_bone_state_dict",
    "matched_lora_rank",
    "merge_and_unload",
    "merge_bone",
    "save_bone",
    "trainable_parameter_count",
    "unmerge_bone",
]
