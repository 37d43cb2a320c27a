"""BIB's closed-form bidirectional losses over embeddings (linear kernel ``K(a, b) = phi(a)^T phi(b)``) and the
auxiliary proxies of Adaptive-gamma. Everything in float64, as the official code solves.

Offline embeddings ``Phi_l (n, d)``, standardised labels ``y (n,)``, a candidate's embedding ``phi_h (d,)``,
the target ``y_h = 10`` (standardised units):

- forward (exploit): ``alpha = (K_ll + beta_l I)^{-1} y`` with ``beta_l = 1e-6 tr(K_ll) / n``;
  ``L_f = (K_hl alpha - y_h)^2``;
- backward (constrain): ``c = y_h / (K_hh + beta_h)`` with ``beta_h = 1e-6 K_hh``;
  ``L_b = (1/n) sum_i (K_ih c - y_i)^2``.

:func:`forward_loss` and :func:`backward_loss` are the dual (kernel) forms as the paper writes them (an n x n
solve). :class:`BidirectionalLoss` is the primal form the design loop uses: by the push-through identity
``Phi_l^T (Phi_l Phi_l^T + beta I)^{-1} = (Phi_l^T Phi_l + beta I)^{-1} Phi_l^T``, ``K_hl alpha = phi_h^T w``
with a d x d solve, and ``L_b = c^2 phi_h^T G phi_h - 2 c phi_h^T b + mean(y^2)`` with ``G = Phi_l^T Phi_l / n``,
``b = Phi_l^T y / n``: the same numbers, computed once per offline set.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paperzoo.shared.validate import check_positive_int

TARGET = 10.0  # y_h, in standardised label units (official)
RIDGE = 1e-6  # beta = RIDGE * tr(K) / n (official)


def _check(phi_h: Tensor, phi_l: Tensor, y: Tensor) -> None:
    if phi_h.ndim != 2 or phi_l.ndim != 2 or phi_h.shape[1] != phi_l.shape[1]:
        raise ValueError(f"phi_h (B, d) and phi_l (n, d) must share d, got {tuple(phi_h.shape)}, {tuple(phi_l.shape)}")
    if y.shape != (len(phi_l),):
        raise ValueError(f"y must be (n,) = ({len(phi_l)},), got {tuple(y.shape)}")


def forward_loss(phi_h: Tensor, phi_l: Tensor, y: Tensor, target: float = TARGET) -> Tensor:
    """Per-candidate ``L_f = (K_hl alpha - y_h)^2`` in the dual form (an n x n float64 solve): ``(B,)``."""
    _check(phi_h, phi_l, y)
    phi_h, phi_l, y = phi_h.double(), phi_l.double(), y.double()
    K_ll = phi_l @ phi_l.T
    beta = RIDGE * torch.trace(K_ll) / len(phi_l)
    alpha = torch.linalg.solve(K_ll + beta * torch.eye(len(phi_l), dtype=torch.float64), y)
    return (phi_h @ phi_l.T @ alpha - target) ** 2


def backward_loss(phi_h: Tensor, phi_l: Tensor, y: Tensor, target: float = TARGET) -> Tensor:
    """Per-candidate ``L_b = mean_i (K_ih c - y_i)^2``, ``c = y_h / (K_hh + beta_h)`` (kernel form): ``(B,)``."""
    _check(phi_h, phi_l, y)
    phi_h, phi_l, y = phi_h.double(), phi_l.double(), y.double()
    K_hh = (phi_h * phi_h).sum(1)
    c = target / (K_hh + RIDGE * K_hh)
    return ((phi_l @ phi_h.T * c - y[:, None]) ** 2).mean(0)


class BidirectionalLoss:
    """The forward and backward losses in primal form (module docstring), precomputed from the offline set."""

    def __init__(self, phi_l: Tensor, y: Tensor, target: float = TARGET) -> None:
        _check(phi_l[:1], phi_l, y)
        phi_l, y = phi_l.double(), y.double()
        n, d = phi_l.shape
        gram = phi_l.T @ phi_l
        beta = RIDGE * torch.trace(gram) / n  # tr(Phi^T Phi) = tr(K_ll)
        self.w = torch.linalg.solve(gram + beta * torch.eye(d, dtype=torch.float64), phi_l.T @ y)
        self.G, self.b, self.y2 = gram / n, phi_l.T @ y / n, float((y * y).mean())
        self.target = target

    def forward(self, phi_h: Tensor) -> Tensor:
        """``L_f (B,)`` of candidate embeddings ``(B, d)``."""
        return (phi_h.double() @ self.w - self.target) ** 2

    def backward(self, phi_h: Tensor) -> Tensor:
        """``L_b (B,)`` of candidate embeddings ``(B, d)`` (gradient through ``c`` and ``beta_h`` included)."""
        phi_h = phi_h.double()
        K_hh = (phi_h * phi_h).sum(1)
        c = self.target / (K_hh + RIDGE * K_hh)
        return c**2 * ((phi_h @ self.G) * phi_h).sum(1) - 2 * c * (phi_h @ self.b) + self.y2


class AuxProxyEnsemble:
    """``f_aux(phi)``: the mean of ``heads`` linear heads on phi, each a ridge fit (with intercept) to a distinct
    bootstrap resample of the offline data, output in original label units ``(phi^T w_j + b_j) * std + mean``.

    The official code builds ``[proxy for i in range(5)]``, one object, so its "ensemble" is the last-loaded
    head; these are distinct. A mean of linear heads is one linear head: :attr:`weight`, :attr:`bias`.
    """

    def __init__(self, phi_l: Tensor, y: Tensor, mean: float, std: float, heads: int = 5, seed: int = 0) -> None:
        check_positive_int("heads", heads)
        _check(phi_l[:1], phi_l, y)
        phi_l, y = phi_l.double(), y.double()
        n, d = phi_l.shape
        generator = torch.Generator().manual_seed(seed)
        design = torch.cat([phi_l, torch.ones(n, 1, dtype=torch.float64)], 1)
        beta = RIDGE * torch.trace(phi_l.T @ phi_l) / n
        coefs = []
        for _ in range(heads):
            rows = torch.randint(0, n, (n,), generator=generator)
            A, t = design[rows], y[rows]
            coefs.append(torch.linalg.solve(A.T @ A + beta * torch.eye(d + 1, dtype=torch.float64), A.T @ t))
        self.heads = torch.stack(coefs)  # (heads, d + 1), standardised units
        mean_head = self.heads.mean(0) * std
        self.weight, self.bias = mean_head[:-1], float(mean_head[-1]) + mean

    def __call__(self, phi: Tensor) -> Tensor:
        """``f_aux (B,)`` in original label units."""
        return phi.double() @ self.weight + self.bias
