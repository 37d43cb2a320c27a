"""The CPU-scale experiment: a tiny Llama pretrained here on addition (cached on disk by its config hash; the
task, model and pretraining are the shared :mod:`paperzoo.shared.testbeds.arithmetic_lm`), then fine-tuned on
subtraction by each method — Bone ``bat`` (the paper), Bone ``bone`` (peft's default),
LoRA and PiSSA (Hugging Face peft) at matched trainable parameters, and full fine-tuning.

``transformers`` and ``peft`` are imported inside the functions that need them (importing them costs
seconds), so that ``paperzoo.bone`` itself imports only torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.bone.adapter import LLAMA_TARGETS, BoneConfig, apply_bone, target_shapes
from paperzoo.bone.layer import matched_lora_rank
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    FinetuneResult,
    ModelConfig,
    Splits,
)
from paperzoo.shared.testbeds.arithmetic_lm import (
    finetune as finetune_llama,
)
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

log = logging.getLogger("paperzoo.bone")

METHODS = ("bat", "bone", "lora", "pissa", "full")


# ------------------------------------------------------------------------------------------- methods
def lora_ranks(model: nn.Module, r: int, targets: Sequence[str] = LLAMA_TARGETS) -> dict[str, int]:
    """Per target name, the LoRA rank matching a Bone layer of block size r: round(r d_out / (d_in + d_out))."""
    shapes = target_shapes(model, tuple(targets))
    ranks: dict[str, int] = {}
    for t in targets:
        d_in, d_out = next(s for name, s in shapes.items() if name == t or name.endswith("." + t))
        ranks[t] = max(1, round(matched_lora_rank(d_in, d_out, r)))
    return ranks


def attach_method(
    model: nn.Module, method: str, r: int, targets: Sequence[str] = LLAMA_TARGETS
) -> tuple[nn.Module, nn.Module]:
    """Prepare ``model`` for fine-tuning by ``method``; return (the module to call, the module to train).

    - ``bat`` / ``bone``: :func:`apply_bone` with block size r (our code).
    - ``lora`` / ``pissa``: peft ``LoraConfig`` with per-layer ranks matching Bone's parameters
      (:func:`lora_ranks`), ``lora_alpha = rank`` (scaling 1, as the official scripts: rank 32, alpha 32),
      dropout 0; PiSSA = ``init_lora_weights="pissa"`` (exact SVD; the paper's scripts use ``pissa_niter_4``).
    - ``full``: every parameter trains.
    The callable is the plain ``transformers`` model in every case (peft injects its layers in place).
    """
    check_one_of("method", method, METHODS)
    if method in ("bat", "bone"):
        apply_bone(model, BoneConfig(target_modules=tuple(targets), r=r, variant=method))
        return model, model
    if method == "full":
        model.requires_grad_(True)
        return model, model
    from peft import LoraConfig, get_peft_model

    ranks = lora_ranks(model, r, targets)
    base_rank = ranks[targets[0]]
    config = LoraConfig(
        r=base_rank,
        lora_alpha=base_rank,
        target_modules=list(targets),
        rank_pattern={t: k for t, k in ranks.items() if k != base_rank},
        alpha_pattern={t: k for t, k in ranks.items() if k != base_rank},
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=True if method == "lora" else "pissa",
    )
    peft_model = get_peft_model(model, config)
    return peft_model.get_base_model(), peft_model


# ------------------------------------------------------------------------------------------- fine-tuning
@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning on subtraction: AdamW (no weight decay), cosine decay without warm-up (the paper's recipe)."""

    steps: int = 150
    batch_size: int = 32
    r: int = 8
    n_train: int = 2000
    n_val: int = 200
    n_test: int = 500
    digits: tuple[int, ...] = (1, 2, 3)
    target_loss: float = 0.1
    loss_window: int = 10
    eval_batch: int = 256

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "r", "n_train", "n_val", "n_test", "loss_window", "eval_batch"):
            check_positive_int(name, getattr(self, name))
        check_positive("target_loss", self.target_loss)


def finetune(
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    method: str,
    lr: float,
    config: FinetuneConfig,
    splits: Splits,
    seed: int,
    tok: CharTokenizer,
    evaluate: bool = True,
    probe: torch.Tensor | None = None,
) -> FinetuneResult:
    """Fine-tune a fresh copy of the base weights by ``method`` at learning rate ``lr`` (the shared loop,
    :func:`paperzoo.shared.testbeds.arithmetic_lm.finetune`: same batches for every method), evaluate greedily."""
    return finetune_llama(
        base_state, model_config, lambda model: attach_method(model, method, config.r)[1], lr, config.steps,
        config.batch_size, splits, seed, tok, config.eval_batch, evaluate, probe,
    )  # fmt: skip
