"""The benchmark's model and instruments: a BatchNorm CNN whose conv weights are scale-invariant, step hooks
that record weight norms, effective step sizes and the projection test, and the paper's 2-D toy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from paperzoo.adamp.optimizer import scale_invariant_view
from paperzoo.shared.validate import check_positive_int


class BNCNN(nn.Module):
    """Four 3×3 conv → BatchNorm → ReLU blocks (2×2 max-pool after the 2nd and 4th), global average pool,
    linear head: 47k parameters with the default widths on 8×8 digits.

    Every conv is followed by BatchNorm (and has no bias), so its weight is scale-invariant per output
    channel: the loss is unchanged when a channel's filter is multiplied by c > 0 (train-mode BN, up to
    BN's ε). The head is not followed by a normalisation: it is not scale-invariant.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 48, 64), n_classes: int = 10, channels: int = 1) -> None:
        super().__init__()
        if len(widths) == 0:
            raise ValueError("widths must name at least one conv layer")
        for width in widths:
            check_positive_int("widths", width)
        layers: list[nn.Module] = []
        previous = channels
        for index, width in enumerate(widths):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if index % 2 == 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(previous, n_classes)

    def forward(self, x: Tensor) -> Tensor:  # (batch, C, H, W) -> (batch, n_classes)
        return self.head(self.features(x).mean(dim=(2, 3)))

    def conv_weights(self) -> list[nn.Parameter]:
        """The scale-invariant weights: each conv's kernel, in order."""
        return [m.weight for m in self.features if isinstance(m, nn.Conv2d)]


class StepMonitor:
    """Step hooks on an optimizer that record, per step, what the paper plots.

    For each watched weight w (named): ‖w‖ after the step, the effective step size ‖Δw‖/‖w‖ of the step
    (Δw = w_after − w_before, norm of w before), and whether AdamP's scale-invariance test
    (:func:`~paperzoo.adamp.optimizer.scale_invariant_view` with ``delta``, ``eps`` on the raw gradient)
    fires before the step — recorded for every optimizer, so that for SGD/AdamW it says where AdamP
    *would* project. Norms are accumulated in float64.

    Attributes:
        norms, effective_steps, fired: name -> one value per step (``fired`` as 0/1).
        initial_norms: name -> ‖w‖ before the first step.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, weights: dict[str, Tensor], delta: float = 0.1, eps: float = 1e-8
    ) -> None:
        self.weights = weights
        self.delta, self.eps = delta, eps
        self.initial_norms = {name: _norm(w) for name, w in weights.items()}
        self.norms: dict[str, list[float]] = {name: [] for name in weights}
        self.effective_steps: dict[str, list[float]] = {name: [] for name in weights}
        self.fired: dict[str, list[float]] = {name: [] for name in weights}
        self._before: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = [
            optimizer.register_step_pre_hook(self._pre),
            optimizer.register_step_post_hook(self._post),
        ]

    def _pre(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        with torch.no_grad():
            for name, w in self.weights.items():
                self._before[name] = w.detach().clone()
                if w.grad is not None:
                    fired = scale_invariant_view(w.detach(), w.grad, self.delta, self.eps) is not None
                    self.fired[name].append(float(fired))

    def _post(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        with torch.no_grad():
            for name, w in self.weights.items():
                before = self._before.pop(name)
                norm_before = _norm(before)
                self.effective_steps[name].append(_norm(w.detach() - before) / norm_before)
                self.norms[name].append(_norm(w))

    def remove(self) -> None:
        """Detach the hooks from the optimizer."""
        for handle in self._handles:
            handle.remove()

    def joint_norms(self, names: Sequence[str]) -> list[float]:
        """Per step, the norm of the concatenation of the named weights: sqrt(Σ ‖w‖²)."""
        return [math.sqrt(sum(v * v for v in step)) for step in zip(*(self.norms[n] for n in names), strict=True)]


def _norm(tensor: Tensor) -> float:
    return float(tensor.detach().double().norm())


def per_epoch_means(values: Sequence[float], epochs: int) -> list[float]:
    """``values`` (one per step, ``epochs`` equal chunks) averaged per epoch."""
    check_positive_int("epochs", epochs)
    if len(values) % epochs:
        raise ValueError(f"values must hold a whole number of steps per epoch, got {len(values)} for {epochs}")
    per = len(values) // epochs
    return [sum(values[i * per : (i + 1) * per]) / per for i in range(epochs)]


# ---------------------------------------------------------------------------------------------- 2-D toy
def cosine_toy_loss(w: Tensor, target: Tensor) -> Tensor:
    """The paper's 2-D toy: f(w) = −⟨w/‖w‖, w*/‖w*‖⟩, scale-invariant in w (f(c·w) = f(w), c > 0)."""
    return -(w.flatten() / w.norm()).dot(target / target.norm())


def toy_trajectory(
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    start: tuple[float, float],
    target: tuple[float, float],
    steps: int,
) -> tuple[list[float], list[float]]:
    """Minimise :func:`cosine_toy_loss` from ``start``: per step, ‖w‖ and the loss (float64).

    The weight is a (1, 2) matrix so that AdamP/SGDP test it (they never project one-dimensional
    parameters); its one row is the 2-D vector.
    """
    check_positive_int("steps", steps)
    w = nn.Parameter(torch.tensor([start], dtype=torch.float64))
    goal = torch.tensor(target, dtype=torch.float64)
    optimizer = make_optimizer([w])
    norms, losses = [], []
    for _ in range(steps):
        loss = cosine_toy_loss(w, goal)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            norms.append(float(w.norm()))
            losses.append(float(cosine_toy_loss(w, goal)))
    return norms, losses
