"""Reptile meta-training with the official recipe (one Adam instance shared by every task's inner loop).

Outer iteration ``it`` (tasks cycle CSTR → batch → PFR in the benchmark): θ_before = θ; ``inner_epochs`` epochs
of Adam over the task's trajectories in shuffled minibatches (MSE) give W; then

    θ ← θ_before + ε_it (W − θ_before),   ε_it = ε0 (1 − it / iterations)   (ε_it = ε0 without ``anneal``).

The Adam moments persist across tasks and outer updates (the notebooks create one optimizer). ε0 = 1 without
annealing is plain sequential training on the task stream (our transfer-learning baseline); ε0 = 0 leaves θ
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from paperzoo.reactor_fm.data import Task
from paperzoo.shared.validate import check_positive, check_positive_int, check_range


@dataclass
class ReptileHistory:
    """Per outer iteration: the task's reactor, ε used, and the mean inner-loop training MSE."""

    reactors: list[str] = field(default_factory=list)
    eps: list[float] = field(default_factory=list)
    inner_loss: list[float] = field(default_factory=list)


def inner_epoch(
    model: nn.Module, task: Task, optimizer: torch.optim.Optimizer, batch_size: int, generator: torch.Generator
) -> float:
    """One epoch of MSE minibatch steps over ``task`` in an order drawn from ``generator``; the mean loss."""
    device = next(model.parameters()).device
    x, y = torch.from_numpy(task.x).to(device), torch.from_numpy(task.y).to(device)
    order = torch.randperm(len(x), generator=generator).to(device)
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        loss = torch.mean((model(x[idx]) - y[idx]) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def reptile(
    model: nn.Module,
    tasks: Sequence[Task] | Callable[[int], Task],
    iterations: int,
    *,
    eps: float = 0.1,
    anneal: bool = True,
    lr: float = 1e-3,
    batch_size: int = 32,
    inner_epochs: int = 1,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReptileHistory:
    """Meta-train ``model`` in place; ``tasks[it % len(tasks)]`` (or ``tasks(it)``) is iteration ``it``'s task.

    ``optimizer``: the shared inner optimizer (default: one ``torch.optim.Adam(lr)`` for the whole run).
    ``ValueError`` for ``eps`` outside [0, 1] or non-positive counts/sizes.
    """
    check_range("eps", eps, 0.0, 1.0)
    check_positive_int("iterations", iterations)
    check_positive_int("batch_size", batch_size)
    check_positive_int("inner_epochs", inner_epochs)
    check_positive("lr", lr)
    if not callable(tasks) and len(tasks) == 0:
        raise ValueError("tasks must not be empty")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = ReptileHistory()
    params = list(model.parameters())
    for it in range(iterations):
        task = tasks(it) if callable(tasks) else tasks[it % len(tasks)]
        before = [p.detach().clone() for p in params]
        losses = [inner_epoch(model, task, optimizer, batch_size, generator) for _ in range(inner_epochs)]
        step = eps * (1.0 - it / iterations) if anneal else eps
        with torch.no_grad():
            for p, b in zip(params, before, strict=True):
                p.copy_(torch.lerp(b, p, step))  # exact at ε = 0 (θ_before) and ε = 1 (W)
        history.reactors.append(task.reactor)
        history.eps.append(step)
        history.inner_loss.append(float(np.mean(losses)))
        if progress is not None:
            progress(it)
    return history
