"""Policy-gradient estimators from one trajectory per row, vectorised over time (no loop over steps).

With l_t = log pi_theta(a_t | s_t) (shape [..., H], zero after the episode ends) and rewards r_h:

    Phi(tau, theta) = sum_{h<H} (sum_{t<=h} l_t) gamma^h r_h     (GPOMDP surrogate, grad Phi = g^)
    S(tau, theta)   = sum_{t<H} grad l_t
    B^ u            = g^ (S . u) + grad_theta (g^ . u)            (two autograd passes, one of them double)

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
    """B^ u = g^ (S . u) + grad(g^ . u): the unbiased estimate of grad^2 J u from one trajectory per row.

    Two autograd passes. Phi is written as sum_t l_t W_t with the reward-to-go weights W_t = sum_{h>=t} gamma^h r_h
    held as a leaf, so g^ = sum_t W_t grad l_t (pass 1, with its graph) and g^ . u = sum_t W_t (grad l_t . u):
    one backward of g^ . u (pass 2) gives grad_theta(g^ . u) and, as its gradient in W, the per-step directional
    derivatives grad l_t . u, whose sum is S . u."""
    check_discount(discount)
    params = list(params)
    horizon = log_probs.shape[-1]
    weighted = discount ** torch.arange(horizon, dtype=rewards.dtype) * rewards
    to_go = weighted.flip(-1).cumsum(-1).flip(-1).detach().requires_grad_(True)
    g = torch.autograd.grad((log_probs * to_go).sum(), params, create_graph=True)
    *second, per_step = torch.autograd.grad(row_dot(g, direction, batched=False), [*params, to_go])  # sum over rows
    s_u = per_step.sum(-1)
    out = []
    for gi, hi, su in zip(g, second, per_parameter_rows(s_u, g) if batched else [s_u.sum()] * len(g), strict=True):
        out.append(gi.detach() * su.reshape((-1,) + (1,) * (gi.dim() - 1)) + hi)
    return out


def per_parameter_rows(values: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    """Split per-trajectory ``values`` [N] onto the rows (dim 0) of each parameter: every parameter covers all N
    rows (e.g. a gain and a log-std), or the parameters are consecutive row blocks whose rows concatenate to the N
    trajectories (e.g. one block per step size of a sweep, each its own param group)."""
    n, rows = len(values), [p.shape[0] for p in params]
    if all(r == n for r in rows):
        return [values] * len(params)
    if sum(rows) == n:
        return list(values.split(rows))
    raise ValueError(f"parameter rows {rows} neither all equal nor sum to the {n} trajectories")
