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
    denominator). The same computation as :meth:`EMATracker.update`, for one tensor."""
    if prev_grad is None:
        return FALLBACK_ALPHA
    return float(_alphas([theta - ema], [grad], [grad - prev_grad])[0])


def _l1(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(torch._foreach_norm(tensors, 1)).double()


def _alphas(diff: list[torch.Tensor], grads: list[torch.Tensor], grad_change: list[torch.Tensor]) -> torch.Tensor:
    """The dynamic alpha_t of every tensor from the L1 norms a = ||theta - theta*||, b = ||g||, c = ||g - g_prev||
    (float64, on the tensors' device: no host synchronisation)."""
    a, b, c = _l1(diff), _l1(grads), _l1(grad_change)
    denom = a * c
    alpha = 2.0 * (1.0 + b) / denom
    ok = (denom != 0) & torch.isfinite(denom) & (alpha > 0) & (alpha < 1)
    return torch.where(ok, alpha, torch.full_like(alpha, FALLBACK_ALPHA))


class EMATracker:
    """An EMA copy of ``params`` (the trainable LoRA tensors), per tensor, fixed or dynamic balance weight.

    ``update()`` right after ``optimizer.step()``, while the step's (clipped) gradients are still in ``.grad``;
    ``swap()`` exchanges the EMA and raw weights (call it twice around an evaluation); ``replace()`` at a task's
    end copies the EMA into the raw weights (the next task starts from them, with a fresh tracker).
    ``alphas`` is every step's alpha_t per tensor (a steps x tensors tensor); ``fallbacks`` counts the dynamic
    (step, tensor) weights that fell back. One fused pass per step over all tensors (``torch._foreach_*``: three
    L1 norms, the ratio on one small float64 vector, one axpy), no host synchronisation.
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
        self._alphas: list[torch.Tensor] = []
        self._fallbacks: torch.Tensor | int = 0  # a device tensor once counted: no host sync per step
        self.swapped = False

    @torch.no_grad()
    def update(self) -> torch.Tensor:
        """One EMA step with the gradients now in ``.grad``; returns (and logs) alpha_t per tensor (float64)."""
        if self.swapped:
            raise ValueError("update() while the EMA weights are swapped in: swap() back first")
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise ValueError("update() needs every tracked parameter's .grad: call it after backward and step")
        theta = [p.detach() for p in self.params]
        if not self.ema:
            self.ema = [t.clone() for t in theta]
            self.prev_grads = [torch.empty_like(g) for g in grads] if self.mode == "dynamic" else None
            first = True
        else:
            first = False
        device = theta[0].device
        diff = torch._foreach_sub(theta, self.ema)  # theta_t - theta*_{t-1}
        if self.mode == "fixed":
            alphas = torch.full((len(diff),), self.alpha, dtype=torch.float64, device=device)
        elif first:
            alphas = torch.full((len(diff),), FALLBACK_ALPHA, dtype=torch.float64, device=device)
            self._fallbacks += len(diff)
        else:
            alphas = _alphas(diff, grads, torch._foreach_sub(grads, self.prev_grads))
            self._fallbacks = self._fallbacks + (alphas == FALLBACK_ALPHA).sum()
        torch._foreach_mul_(diff, list(alphas.to(diff[0].dtype).unbind()))
        torch._foreach_add_(self.ema, diff)
        if self.prev_grads is not None:
            torch._foreach_copy_(self.prev_grads, grads)
        self._alphas.append(alphas)
        return alphas

    @property
    def alphas(self) -> torch.Tensor:
        """alpha_t of every step so far, steps x tensors (float64, on the CPU)."""
        if not self._alphas:
            return torch.empty((0, len(self.params)), dtype=torch.float64)
        return torch.stack(self._alphas).cpu()

    @property
    def fallbacks(self) -> int:
        """The number of dynamic (step, tensor) balance weights that fell back to :data:`FALLBACK_ALPHA`."""
        return int(self._fallbacks)

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
        total = len(self._alphas) * len(self.params)
        return self.fallbacks / total if total and self.mode == "dynamic" else math.nan
