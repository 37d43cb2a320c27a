"""The CPU-scale experiment: a tiny Llama pretrained here on addition (cached on disk by its config hash; the
task, model and pretraining are the shared :mod:`paperzoo.shared.torch.arithmetic_lm`), then fine-tuned on
subtraction by each method — Bone ``bat`` (the paper), Bone ``bone`` (peft's default),
LoRA and PiSSA (Hugging Face peft) at matched trainable parameters, and full fine-tuning.

``transformers`` and ``peft`` are imported inside the functions that need them (importing them costs
seconds), so that ``paperzoo.bone`` itself imports only torch.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.bone.adapter import LLAMA_TARGETS, BoneConfig, apply_bone, target_shapes, trainable_parameter_count
from paperzoo.bone.layer import matched_lora_rank
from paperzoo.shared.torch.arithmetic_lm import (
    CharTokenizer,
    ModelConfig,
    Splits,
    accuracy,
    build_llama,
    cosine_schedule,
    eval_loss,
    lm_batch,
    lm_loss,
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


@dataclass
class FinetuneResult:
    train_loss: list[float]
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    trainable_params: int
    train_s: float
    step_ms: float
    init_logit_max_diff: float = math.nan


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
    """Fine-tune a fresh copy of the base weights by ``method`` at learning rate ``lr``; evaluate greedily.

    The batch order depends on ``seed`` only, so every method and learning rate sees the same batches. With
    ``probe`` (input ids), ``init_logit_max_diff`` is max |logits after attaching - base logits| at step 0.
    """
    check_positive("lr", lr)
    torch.manual_seed(seed)
    model = build_llama(model_config, tok)
    model.load_state_dict(base_state)
    model.eval()
    base_logits = None
    if probe is not None:
        with torch.no_grad():
            base_logits = model(input_ids=probe).logits
    forward, trained = attach_method(model, method, config.r)
    init_diff = math.nan
    if base_logits is not None:
        with torch.no_grad():
            init_diff = float((forward(input_ids=probe).logits - base_logits).abs().max())
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = cosine_schedule(opt, config.steps)
    rng = random.Random(seed)
    forward.train()
    losses = []
    start = time.perf_counter()
    for _ in range(config.steps):
        loss = lm_loss(forward, lm_batch(tok, rng.sample(splits.train, config.batch_size)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - start
    forward.eval()
    val_acc = val_loss = test_acc = math.nan
    if evaluate:
        val_acc = accuracy(forward, tok, splits.val, config.eval_batch)
        val_loss = eval_loss(forward, tok, splits.val, config.eval_batch)
        test_acc = accuracy(forward, tok, splits.test, config.eval_batch)
    return FinetuneResult(
        train_loss=losses,
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        trainable_params=trainable_parameter_count(trained),
        train_s=train_s,
        step_ms=1000 * train_s / config.steps,
        init_logit_max_diff=init_diff,
    )
