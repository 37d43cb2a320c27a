"""The Bradley-Terry ranking loss, the official fine-tuning recipe, and pairwise accuracy.

Loss (xtuner ``RewardModel``, ``loss_type="ranking"``, no penalty): L = mean softplus(r_rejected - r_chosen)
= -mean log sigmoid(r_chosen - r_rejected). Pre-training uses it with (reference y_A1, chosen y_A2, rejected y_B),
fine-tuning with (gold reference, chosen, rejected). Recipe (the official POLAR fine-tuning config): AdamW with
betas (0.9, 0.95) and no weight decay, gradient clipping at norm 1, a linear warm-up over 3% of the steps from
``start_factor`` x lr, then cosine annealing to 0.1 lr.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from paperzoo.polar.model import PolarRM
from paperzoo.shared.torch.lm import left_pad
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

Pair = tuple[list[int], list[int]]  # (chosen ids, rejected ids), each ending in the reward token


def ranking_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry ranking loss: mean softplus(r_rejected - r_chosen) = -mean log sigmoid(r_c - r_r)."""
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen and r_rejected must have one shape, got {r_chosen.shape} and {r_rejected.shape}")
    return F.softplus(r_rejected - r_chosen).mean()


@dataclass(frozen=True)
class TrainConfig:
    """The official fine-tuning recipe's knobs (``start_factor``: the warm-up's first lr factor)."""

    lr: float = 2e-5
    epochs: int = 1
    batch_size: int = 16
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.03
    start_factor: float = 0.1
    min_factor: float = 0.1

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_range("warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        check_range("start_factor", self.start_factor, 0.0, 1.0)
        check_range("min_factor", self.min_factor, 0.0, 1.0)
        check_range("weight_decay", self.weight_decay, 0.0)
        for b in self.betas:
            check_range("betas", b, 0.0, 1.0, high_inclusive=False)


def lr_factor(step: int, steps: int, warmup: int, start_factor: float, min_factor: float) -> float:
    """Linear from ``start_factor`` to 1 over ``warmup`` steps, then cosine from 1 to ``min_factor`` at ``steps``."""
    if step < warmup:
        return start_factor + (1.0 - start_factor) * step / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train_rm(rm: PolarRM, pairs: Sequence[Pair], config: TrainConfig, seed: int) -> list[float]:
    """Train ``rm`` in place on (chosen, rejected) pairs for ``config.epochs`` epochs; return the loss per step.

    Each step left-pads the batch's chosen and rejected sequences together (one forward) and minimises
    :func:`ranking_loss`; the pair order is shuffled each epoch by ``random.Random(seed)``.
    """
    if not pairs:
        raise ValueError("pairs must hold at least one (chosen, rejected) pair")
    per_epoch = math.ceil(len(pairs) / config.batch_size)
    steps = per_epoch * config.epochs
    warmup = math.ceil(config.warmup_ratio * steps)
    opt = torch.optim.AdamW(rm.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_factor(i, steps, warmup, config.start_factor, config.min_factor)
    )
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    device = next(rm.parameters()).device
    rm.train()
    losses = []
    for _ in range(config.epochs):
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            batch = [pairs[i] for i in order[start : start + config.batch_size]]
            ids, mask = left_pad([c for c, _ in batch] + [r for _, r in batch], rm.pad_id)
            scores = rm(ids.to(device), mask.to(device))
            loss = ranking_loss(scores[: len(batch)], scores[len(batch) :])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(rm.parameters(), config.max_grad_norm)
            opt.step()
            sched.step()
            losses.append(loss.item())
    rm.eval()
    return losses


def pairwise_accuracy(rm: PolarRM, pairs: Sequence[Pair], batch_size: int = 256) -> float:
    """The fraction of pairs whose chosen sequence scores strictly above the rejected one."""
    if not pairs:
        raise ValueError("pairs must hold at least one (chosen, rejected) pair")
    rm.eval()
    chosen = rm.score([c for c, _ in pairs], batch_size)
    rejected = rm.score([r for _, r in pairs], batch_size)
    return float((chosen > rejected).float().mean())
