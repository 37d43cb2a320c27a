"""CoIN — Large Continual Instruction Assistant (Qiao et al.; official code github.com/JingyangQiao/CoIN).

Continual instruction tuning of LoRA with an exponential moving average whose balance weight is recomputed
every step from the gradient and the parameters (:func:`balance_weight`, :class:`EMATracker`), and instruction
grouping by TF-IDF similarity (:class:`InstructionGrouper`): a task whose instructions resemble a group's
continues that group's LoRA, otherwise it gets a new one; test instances are routed the same way.

    tracker = EMATracker(lora_params, mode="dynamic")
    ...  loss.backward(); clip_grad_norm_(lora_params, 1.0); optimizer.step(); tracker.update()
    tracker.replace()   # at the task's end: the EMA weights become the LoRA weights
"""

from paperzoo.coin.continual import ContinualConfig, backward_transfer, forgetting, run_arm, run_arms
from paperzoo.coin.ema import FALLBACK_ALPHA, EMATracker, balance_weight
from paperzoo.coin.grouping import InstructionGrouper, pair_similarity, similarity

__all__ = [
    "FALLBACK_ALPHA",
    "ContinualConfig",
    "EMATracker",
    "InstructionGrouper",
    "backward_transfer",
    "balance_weight",
    "forgetting",
    "pair_similarity",
    "run_arm",
    "run_arms",
    "similarity",
]
