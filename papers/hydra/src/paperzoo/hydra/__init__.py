"""Hydra: Multi-head Low-rank Adaptation for Parameter Efficient Fine-tuning (Sanghyeon Kim, Hyunmo Yang,
Younghyun Kim, Youngjoon Hong, Eunbyung Park; arXiv:2309.06922; official code
extremebird/Hydra).

The public API:

- :class:`HydraLinear`: a frozen ``nn.Linear`` with a parallel (on the input) and a sequential (on the output)
  low-rank branch, ``y = W0 x + b0 + s P(x) + s S(W0 x + b0)``; ``merge`` / ``unmerge``.
- :class:`HydraConfig` and :func:`apply_hydra`: inject Hydra into the named layers of a Hugging Face model
  (:data:`VIT_TARGETS`, :data:`ROBERTA_TARGETS`: attention output projection and MLP down-projection).
- :func:`hydra_state_dict`, :func:`load_hydra_state_dict`: the adapter alone.
- :func:`merge_hydra`, :func:`unmerge_hydra`, :func:`merge_and_unload`: merged inference, and back to a plain model.
- :func:`hydra_parameter_count`, :func:`trainable_parameter_count`: parameter budgets.
"""

from paperzoo.hydra.adapter import (
    ROBERTA_TARGETS,
    VIT_TARGETS,
    HydraConfig,
    apply_hydra,
    hydra_layers,
    hydra_state_dict,
    load_hydra_state_dict,
    merge_and_unload,
    merge_hydra,
    trainable_parameter_count,
    unmerge_hydra,
)
from paperzoo.hydra.layer import HydraLinear, hydra_parameter_count

__all__ = [
    "ROBERTA_TARGETS",
    "VIT_TARGETS",
    "HydraConfig",
    "HydraLinear",
    "apply_hydra",
    "hydra_layers",
    "hydra_parameter_count",
    "hydra_state_dict",
    "load_hydra_state_dict",
    "merge_and_unload",
    "merge_hydra",
    "trainable_parameter_count",
    "unmerge_hydra",
]
