"""Policy-gradient estimators from one trajectory per row, vectorised over time (no loop over steps).

With l_t = log pi_theta(a_t | s_t) (shape [..., H], zero after the episode ends) and rewards r_h:

    Phi(tau, theta) = sum_{h<H} (sum_{t<=h} l_t) gamma^h r_h     (GPOMDP surrogate, grad Phi = g^)
    S(tau, theta)   = sum_{t<H} grad l_t
    B^ u            = g^ (S . u) + grad_theta (g^ . u)            (one double backward)

Rows (dim 0) are independent trajectories with their own parameter rows (``batched``), so every estimate is
per row; the policy parameters of row r only touch row r's log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paperzoo.npg_igt.optim import row_dot


def check_discount(discount: float) -> float:
    """Discount must be in (0, 1]."""
    if not 0 < discount <= 1:
        raise ValueError(f"discount must be in (0, 1], got {discount}")
    return discount


def gpomdp_surrogate(log_probs: Tensor, rewards: Tensor, discount: float) -> Tensor:
    """Phi = sum_h (cumsum_t<=h l_t) gamma^h r_h, per row (sums all leading dims but the last)."""
    check_discount(discount)
    horizon = log_probs.shape[-1]
    weights = discount ** torch.arange(horizon, dtype=rewards.dtype) * rewards
    return (log_probs.cumsum(-1) * weights).sum(-1)


def gpomdp(params: Sequence[Tensor], log_probs: Tensor, rewards: Tensor, discount: float) -> list[Tensor]:
    """The GPOMDP gradient g^ = grad Phi, one per row (rows' parameters are disjoint)."""
    phi = gpomdp_surrogate(log_probs, rewards, discount).sum()
    return list(torch.autograd.grad(phi, list(params)))


def hessian_vector(
    params: Sequence[Tensor],
    log_probs: Tensor,
    rewards: Tensor,
    discount: float,
    direction: Sequence[Tensor],
    batched: bool = True,
) -> list[Tensor]:
    """B^ u = g^ (S . u) + grad(g^ . u): the unbiased estimate of grad^2 J u from one trajectory per row."""
    params = list(params)
    phi = gpomdp_surrogate(log_probs, rewards, discount).sum()
    g = torch.autograd.grad(phi, params, create_graph=True)
    s = torch.autograd.grad(log_probs.sum(), params, retain_graph=True)
    s_u = row_dot(s, direction, batched).detach()
    second = torch.autograd.grad(row_dot(g, direction, batched).sum(), params)
    out = []
    for gi, hi in zip(g, second, strict=True):
        scale = s_u.reshape((-1,) + (1,) * (gi.dim() - 1)) if batched else s_u
        out.append(gi.detach() * scale + hi)
    return out
