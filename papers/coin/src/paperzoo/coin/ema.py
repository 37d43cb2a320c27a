"""CoIN's EMA of the trainable LoRA tensors with a per-step, per-tensor balance weight.

After each ``optimizer.step()`` (official trainer order: clip gradients -> step -> EMA update -> zero_grad), for
every trainable tensor theta with EMA copy theta* and the gradient g_t that step used (after clipping)::

    theta*_t = (1 - alpha_t) theta*_{t-1} + alpha_t theta_t,                          (alpha_t = 1 - beta_t)
    alpha_t  = 2 (1 + ||g_t||_1) / (||theta_t - theta*_{t-1}||_1 ||g_t - g_{t-1}||_1)    (dynamic: ``ema_update``)

falling back to alpha_t = 0.01 (beta 0.99) when the ratio is not in (0, 1), on the first step (no g_{t-1}) and
when the denominator is zero. The fixed-EMA baseline uses alpha_t = ``alpha`` every step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from paperzoo.shared.validate import check_one_of

FALLBACK_ALPHA = 0.01  # the official code's default balance weight on the new parameters (beta = 0.99)
MODES = ("dynamic", "fixed")


def _check_unit(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def balance_weight(theta: torch.Tensor, ema: torch.Tensor, grad: torch.Tensor, prev_grad: torch.Tensor | None) -> float:
    """alpha_t, the weight on the new parameters: 2 (1 + ||g||_1) / (||theta - theta*||_1 ||g - g_prev||_1) when
    that lies in (0, 1), else :data:`FALLBACK_ALPHA` (also without ``prev_grad``, or for a zero or non-finite
    denominator)."""
    if prev_grad is None:
        return FALLBACK_ALPHA
    a = float((theta - ema).abs().sum())
    b = float(grad.abs().sum())
    c = float((grad - prev_grad).abs().sum())
    return _ratio(a, b, c)


def _ratio(a: float, b: float, c: float) -> float:
    denom = a * c
    if denom == 0.0 or not math.isfinite(denom):
        return FALLBACK_ALPHA
    alpha = 2.0 * (1.0 + b) / denom
    return alpha if 0.0 < alpha < 1.0 else FALLBACK_ALPHA


class EMATracker:
    """An EMA copy of ``params`` (the trainable LoRA tensors), per tensor, fixed or dynamic balance weight.

    ``update()`` right after ``optimizer.step()``, while the step's (clipped) gradients are still in ``.grad``;
    ``swap()`` exchanges the EMA and raw weights (call it twice around an evaluation); ``replace()`` at a task's
    end copies the EMA into the raw weights (the next task starts from them, with a fresh tracker).
    ``alphas`` logs every step's alpha_t per tensor; ``fallbacks`` counts the dynamic steps that fell back.
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        mode: Literal["dynamic", "fixed"] = "dynamic",
        alpha: float = FALLBACK_ALPHA,
    ) -> None:
        check_one_of("mode", mode, MODES)
        _check_unit("alpha", alpha)
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("params must hold at least one trainable tensor")
        self.mode, self.alpha = mode, alpha
        self.ema: list[torch.Tensor] = []  # theta*_0 = theta at the first update(), i.e. after the first step
        self.prev_grads: list[torch.Tensor] | None = None
        self.alphas: list[list[float]] = []
        self.fallbacks = 0
        self.swapped = False

    @torch.no_grad()
    def update(self) -> list[float]:
        """One EMA step with the gradients now in ``.grad``; returns (and logs) alpha_t per tensor."""
        if self.swapped:
            raise ValueError("update() while the EMA weights are swapped in: swap() back first")
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise ValueError("update() needs every tracked parameter's .grad: call it after backward and step")
        if not self.ema:
            self.ema = [p.detach().clone() for p in self.params]
        diff = torch._foreach_sub([p.detach() for p in self.params], self.ema)  # theta_t - theta*_{t-1}
        if self.mode == "fixed":
            alphas = [self.alpha] * len(diff)
        elif self.prev_grads is None:
            alphas = [FALLBACK_ALPHA] * len(diff)
            self.fallbacks += len(diff)
        else:
            a = torch.stack(torch._foreach_norm(diff, 1)).double()
            b = torch.stack(torch._foreach_norm(grads, 1)).double()
            c = torch.stack(torch._foreach_norm(torch._foreach_sub(grads, self.prev_grads), 1)).double()
            alphas = [_ratio(*abc) for abc in torch.stack([a, b, c], 1).tolist()]
            self.fallbacks += sum(x == FALLBACK_ALPHA for x in alphas)
        torch._foreach_mul_(diff, alphas)
        torch._foreach_add_(self.ema, diff)
        self.prev_grads = [g.detach().clone() for g in grads]
        self.alphas.append(alphas)
        return alphas

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the EMA and the raw weights in place (evaluate between two calls)."""
        if not self.ema:
            raise ValueError("swap() before the first update(): there is no EMA yet")
        for p, e in zip(self.params, self.ema, strict=True):
            tmp = p.detach().clone()
            p.copy_(e)
            e.copy_(tmp)
        self.swapped = not self.swapped

    @torch.no_grad()
    def replace(self) -> None:
        """The task's end: the raw weights become the EMA weights (official ``ema_replace``; a no-op before any
        update)."""
        if self.swapped:
            self.swap()
        for p, e in zip(self.params, self.ema, strict=False):  # no EMA yet: nothing to copy
            p.copy_(e)

    @property
    def fallback_share(self) -> float:
        """Fraction of (step, tensor) dynamic balance weights that fell back to :data:`FALLBACK_ALPHA`."""
        total = sum(len(a) for a in self.alphas)
        return self.fallbacks / total if total else math.nan
