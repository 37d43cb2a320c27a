"""Adaptive projected guidance (APG) and classifier-free guidance (CFG) on denoised predictions.

Both act on a batch of denoised (x0) predictions ``D_c = D(x_t, c)`` and ``D_u = D(x_t, null)`` of any shape
``(B, ...)``; norms and inner products run over all non-batch dimensions, one sample at a time.

APG at guidance scale ``w`` (Sadat et al., 2024, Algorithm 1)::

    Delta = D_c - D_u
    Delta <- m = Delta + beta * m                       (momentum, m = 0 at the start of each run)
    Delta <- Delta * min(1, r / ||Delta||)               (rescale, when r > 0)
    Delta_par = <Delta, D_c> / ||D_c||^2 * D_c,  Delta_orth = Delta - Delta_par      (in float64)
    D_guided = D_c + (w - 1) * (Delta_orth + eta * Delta_par)

With ``eta = 1``, ``r = 0`` and no momentum it is CFG, ``D_u + w (D_c - D_u)``; with ``w = 1`` it is ``D_c``.
"""

from __future__ import annotations

import torch

from paperzoo.shared.validate import check_non_negative, check_range


def _check_pair(d_cond: torch.Tensor, d_uncond: torch.Tensor) -> None:
    if d_cond.ndim < 2:
        raise ValueError(f"d_cond must have a batch dimension and at least one more, got shape {tuple(d_cond.shape)}")
    if d_uncond.shape != d_cond.shape:
        raise ValueError(f"d_uncond must have the shape of d_cond {tuple(d_cond.shape)}, got {tuple(d_uncond.shape)}")


class MomentumBuffer:
    """The running update of APG's reverse momentum: ``m <- Delta + beta * m``, with ``m = 0`` at the start.

    ``beta`` in (-1, 1); the paper uses negative values (reverse momentum). One buffer serves one sampling run
    (one batch of trajectories): :meth:`reset` it, or make a new one, before the next run.
    """

    def __init__(self, beta: float) -> None:
        self.beta = check_range("beta", beta, -1.0, 1.0, low_inclusive=False, high_inclusive=False)
        self.running: torch.Tensor | None = None

    def update(self, delta: torch.Tensor) -> torch.Tensor:
        """Fold ``delta`` into the buffer and return the new running value ``delta + beta * m``."""
        if self.running is not None and self.running.shape != delta.shape:
            raise ValueError(
                f"delta must keep the buffer's shape {tuple(self.running.shape)}, got {tuple(delta.shape)}"
            )
        self.running = delta if self.running is None else delta + self.beta * self.running
        return self.running

    def reset(self) -> None:
        """Forget the running value (``m = 0``)."""
        self.running = None


def project(delta: torch.Tensor, d_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Delta_par, Delta_orth)`` of ``delta`` against ``d_cond`` per sample, in float64.

    ``Delta_par = <Delta, D_c> / ||D_c||^2 * D_c`` and ``Delta_orth = Delta - Delta_par``. Both inner products of a
    sample, ``<Delta, D_c>`` and ``<D_c, D_c>``, come from one batched float64 reduction. A zero ``D_c`` gives
    ``Delta_par = 0``.
    """
    _check_pair(d_cond, delta)
    dc = d_cond.reshape(len(d_cond), -1).double()
    dl = delta.reshape(len(delta), -1).double()
    dots = torch.einsum("bkn,bn->bk", torch.stack((dl, dc), dim=1), dc)  # (B, 2): <Delta, D_c>, ||D_c||^2
    coef = dots[:, :1] / dots[:, 1:].clamp_min(torch.finfo(torch.float64).tiny)
    par = coef * dc
    return par.view(delta.shape), (dl - par).view(delta.shape)


def rescale(delta: torch.Tensor, r: float) -> torch.Tensor:
    """``Delta * min(1, r / ||Delta||)`` per sample (norm over all non-batch dims); ``r = 0`` leaves it as is."""
    check_non_negative("r", r)
    if r == 0:
        return delta
    norm = torch.linalg.vector_norm(delta.reshape(len(delta), -1), dim=1)
    factor = torch.clamp(r / norm, max=1.0)  # norm 0 gives inf, clamped to 1
    return delta * factor.view(-1, *([1] * (delta.ndim - 1)))


def cfg_guidance(d_cond: torch.Tensor, d_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance ``D_u + w (D_c - D_u)`` (Ho & Salimans, 2022), in the inputs' dtype."""
    _check_pair(d_cond, d_uncond)
    check_non_negative("w", w)
    return d_uncond + w * (d_cond - d_uncond)


def apg_guidance(
    d_cond: torch.Tensor,
    d_uncond: torch.Tensor,
    w: float,
    eta: float = 0.0,
    r: float = 0.0,
    momentum_buffer: MomentumBuffer | None = None,
) -> torch.Tensor:
    """APG's guided prediction ``D_c + (w - 1)(Delta_orth + eta Delta_par)`` (module docstring), input dtype.

    ``w >= 0`` the guidance scale (the paper's convention: ``w = 1`` is no guidance), ``eta`` the weight of the
    component parallel to ``D_c``, ``r >= 0`` the norm limit of the update (0: no rescale), ``momentum_buffer``
    the run's :class:`MomentumBuffer` (None: no momentum). The projection and the sum run in float64.
    """
    _check_pair(d_cond, d_uncond)
    check_non_negative("w", w)
    check_range("eta", eta)
    check_non_negative("r", r)
    delta = d_cond - d_uncond
    if momentum_buffer is not None:
        delta = momentum_buffer.update(delta)
    par, orth = project(rescale(delta, r), d_cond)
    return (d_cond.double() + (w - 1.0) * (orth + eta * par)).to(d_cond.dtype)
