"""EVA: One Initialization to Rule them All: Fine-tuning via Explained Variance Adaptation
(Paischer, Hauzenberger, Schmied, Alkin, Deisenroth, Hochreiter, 2024, arXiv:2410.07170; official code ml-jku/EVA,
and the implementation merged into Hugging Face peft).

The public API:

- :func:`compute_eva_state`, :class:`EvaConfig`, :class:`EvaState`: EVA itself (hooks, grouping of layers with equal
  inputs, incremental PCA with the convergence test, rank redistribution, A initialisation).
- :func:`init_lora_from_eva`, :func:`eva_lora_config`, :func:`load_eva_weights`, :func:`get_eva_model`: the result
  as a standard peft LoRA model (``rank_pattern`` / ``alpha_pattern``).
- :class:`IncrementalPCA` (torch, mean-centred, as scikit-learn's), :func:`converged_components`.
- :class:`ActivationCollector`, :func:`token_mask`, :func:`group_equal_inputs`.
- :func:`allocate_ranks`, :func:`favour_representatives`.
"""

from paperzoo.eva.collector import ActivationCollector, group_equal_inputs, input_digest, token_mask
from paperzoo.eva.eva import (
    EvaConfig,
    EvaState,
    allocate_ranks,
    compute_eva_state,
    eva_lora_config,
    favour_representatives,
    forward_dict,
    get_eva_model,
    init_lora_from_eva,
    load_eva_weights,
    target_layers,
)
from paperzoo.eva.pca import IncrementalPCA, converged_components, svd_flip_rows

__all__ = [
    "ActivationCollector",
    "EvaConfig",
    "EvaState",
    "IncrementalPCA",
    "allocate_ranks",
    "compute_eva_state",
    "converged_components",
    "eva_lora_config",
    "favour_representatives",
    "forward_dict",
    "get_eva_model",
    "group_equal_inputs",
    "init_lora_from_eva",
    "input_digest",
    "load_eva_weights",
    "svd_flip_rows",
    "target_layers",
    "token_mask",
]
