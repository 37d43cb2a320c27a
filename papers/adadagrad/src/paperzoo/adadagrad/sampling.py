"""The adaptive batch sampler and the learning-rate schedules, both counted in samples."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from paperzoo.shared.validate import check_positive_int, check_range


class AdaptiveBatchSampler:
    """Batches of indices into ``range(n)``, drawn without replacement within each epoch, of a size that grows.

    Each epoch is a fresh permutation (from ``generator``); a batch is the next b indices of it, or the epoch's
    remainder when fewer are left (a short batch, as ``DataLoader(drop_last=False)``), so no index repeats
    within an epoch. :meth:`grow` sets b_{k+1} = min(b_max, max(b_k, b)): the size never shrinks and never
    exceeds ``b_max``.

    Args:
        n: the data set size.
        b0: the initial batch size, 2 ≤ b0 ≤ b_max (a test needs two samples for a variance).
        b_max: the cap, ≥ b0.
        seed: seeds the permutations.
    """

    def __init__(self, n: int, b0: int, b_max: int, seed: int) -> None:
        check_positive_int("n", n)
        check_positive_int("b_max", b_max)
        check_positive_int("b0", b0)
        if not 2 <= b0 <= b_max:
            raise ValueError(f"b0 must be in [2, b_max={b_max}], got {b0}")
        self.n, self.batch_size, self.b_max = n, b0, b_max
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(n, generator=self.generator)
        self._position = 0

    def next_batch(self) -> Tensor:
        """The next batch of at most ``batch_size`` indices (int64), starting a new epoch when one ends."""
        if self._position >= self.n:
            self._order, self._position = torch.randperm(self.n, generator=self.generator), 0
        batch = self._order[self._position : self._position + self.batch_size]
        self._position += len(batch)
        return batch

    def grow(self, b: int) -> int:
        """b_{k+1} = min(b_max, max(b_k, b)); returns the new size."""
        self.batch_size = min(self.b_max, max(self.batch_size, int(b)))
        return self.batch_size


def constant_lr(samples: int, lr: float, max_lr: float = math.inf) -> float:
    """The official ``decay_lr=False`` rate: min(lr, max_lr), whatever the samples seen."""
    return min(lr, max_lr)


def warmup_cosine_lr(samples: int, lr: float, warmup_samples: int, decay_samples: int, min_lr: float) -> float:
    """The rate after ``samples`` samples: linear warm-up from 0 to ``lr`` over ``warmup_samples``, then cosine
    decay to ``min_lr`` at ``decay_samples``, then ``min_lr`` (the official sample-counted schedule)."""
    check_range("samples", samples, 0, math.inf, high_inclusive=False)
    if not 0 <= warmup_samples < decay_samples:
        raise ValueError(f"warmup_samples must be in [0, decay_samples={decay_samples}), got {warmup_samples}")
    if samples < warmup_samples:
        return lr * samples / warmup_samples
    if samples > decay_samples:
        return min_lr
    ratio = (samples - warmup_samples) / (decay_samples - warmup_samples)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
