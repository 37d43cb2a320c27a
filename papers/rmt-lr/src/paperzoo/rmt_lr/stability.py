"""The largest stable learning rate of an optimizer at a batch size, on a learning-rate grid.

Protocol (the brief's): for each learning rate of an increasing grid, train a copy of the same initial
model for ``steps`` steps on the same sequence of batches of ``batch_size`` examples (drawn without
replacement within each batch, fixed by ``seed``). A run *diverges* if a mini-batch loss is non-finite,
or if the loss on the whole data set, checked every ``check_every`` steps and after the last, is non-finite or
exceeds ``blowup`` times its value at the start (the whole-data loss: a small batch's own loss swings by more
than 2x from batch to batch without any divergence). The scan goes up the grid and stops at
the first divergence; the max stable learning rate is the grid point just below it (0 if the smallest
diverges; the largest, flagged ``at_edge``, if none does). The spiked-RMT prediction: at small B it grows
~linearly in B for SGD (α_max ≈ 2/λ_1(H_B)) and ~√B for Adam.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from paperzoo.rmt_lr.hessian import LossFn, check_no_train_batchnorm
from paperzoo.shared.validate import check_positive, check_positive_int

OPTIMIZERS: dict[str, Callable[[list[nn.Parameter], float], torch.optim.Optimizer]] = {
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
}


@dataclass(frozen=True)
class StabilityScan:
    """One scan: the max stable lr, whether it is the grid's top (``at_edge``), and each tried lr's outcome."""

    lr: float
    at_edge: bool
    tried: tuple[float, ...]
    diverged: tuple[bool, ...]


def lr_grid_sqrt2(low: float, high: float) -> tuple[float, ...]:
    """The grid low · √2^k, k = 0, 1, ..., up to ``high`` (inclusive up to rounding)."""
    check_positive("low", low)
    check_positive("high", high)
    if high < low:
        raise ValueError(f"high must be >= low ({low}), got {high}")
    count = math.floor(2 * math.log2(high / low) + 1e-9) + 1
    return tuple(low * math.sqrt(2) ** k for k in range(count))


def diverges(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    batches: list[tuple[Tensor, Tensor]],
    data: tuple[Tensor, Tensor],
    blowup: float,
    check_every: int,
) -> bool:
    """Train through ``batches``; True once a batch loss is non-finite or, checked every ``check_every`` steps
    and after the last, the loss on all of ``data`` is non-finite or above ``blowup`` x its value at the start."""

    def data_loss() -> float:
        with torch.no_grad():
            return loss_fn(model(data[0]), data[1]).item()

    first = data_loss()
    for step, (x, y) in enumerate(batches, start=1):
        loss = loss_fn(model(x), y)
        if not math.isfinite(loss.item()):
            return True
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % check_every == 0 or step == len(batches):
            value = data_loss()
            if not math.isfinite(value) or value > blowup * first:
                return True
    return False


def max_stable_lr(
    opt_name: str,
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[Tensor, Tensor],
    batch_size: int,
    lr_grid: Sequence[float],
    steps: int = 100,
    seed: int = 0,
    blowup: float = 2.0,
    check_every: int = 1,
) -> StabilityScan:
    """The largest learning rate of ``lr_grid`` below the first divergence of ``opt_name`` ("sgd" or "adam").

    Every learning rate starts from a copy of ``model``'s current weights and sees the same ``steps``
    batches of ``batch_size`` (in [1, N]) examples of ``data``, fixed by ``seed``. ``lr_grid`` must be
    increasing and positive.
    """
    if opt_name not in OPTIMIZERS:
        raise ValueError(f"opt_name must be one of {sorted(OPTIMIZERS)}, got {opt_name!r}")
    check_no_train_batchnorm(model)
    x, y = data
    n = len(y)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, N={n}], got {batch_size!r}")
    grid = [float(lr) for lr in lr_grid]
    if not grid or any(not (lr > 0 and math.isfinite(lr)) for lr in grid) or grid != sorted(set(grid)):
        raise ValueError(f"lr_grid must be non-empty, positive and strictly increasing, got {list(lr_grid)}")
    check_positive_int("steps", steps)
    check_positive("blowup", blowup)
    check_positive_int("check_every", check_every)
    gen = torch.Generator().manual_seed(seed)
    index = torch.stack([torch.randperm(n, generator=gen)[:batch_size] for _ in range(steps)]).to(y.device)
    batches = [(x[i], y[i]) for i in index]
    tried, flags = [], []
    for lr in grid:
        copy_ = copy.deepcopy(model)
        optimizer = OPTIMIZERS[opt_name](list(copy_.parameters()), lr)
        bad = diverges(copy_, optimizer, loss_fn, batches, data, blowup, check_every)
        tried.append(lr)
        flags.append(bad)
        if bad:
            break
    stable = [lr for lr, bad in zip(tried, flags, strict=True) if not bad]
    return StabilityScan(stable[-1] if stable else 0.0, not flags[-1], tuple(tried), tuple(flags))
