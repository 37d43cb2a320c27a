"""The closure that ties a sampler, a policy and the estimators to the optimizers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from paperzoo.npg_igt.envs import Trajectories
from paperzoo.npg_igt.estimators import gpomdp, hessian_vector


def policy_gradient_closure(
    params: Sequence[Tensor],
    sample: Callable[[], Trajectories],
    log_prob: Callable[[Trajectories], Tensor],
    discount: float,
    batched: bool = True,
    log: list[Tensor] | None = None,
) -> Callable[..., Tensor]:
    """``closure(direction=None)``: sample one trajectory per row at the current parameters and write GPOMDP's
    g^ (``direction`` None) or B^ direction into ``p.grad``; returns each row's undiscounted return (also
    appended to ``log``)."""
    params = list(params)

    def closure(direction: Sequence[Tensor] | None = None) -> Tensor:
        traj = sample()
        log_probs = torch.where(traj.alive, log_prob(traj), 0.0)
        if direction is None:
            grads = gpomdp(params, log_probs, traj.rewards, discount)
        else:
            grads = hessian_vector(params, log_probs, traj.rewards, discount, direction, batched)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        returns = traj.rewards.sum(-1)
        if log is not None:
            log.append(returns)
        return returns

    return closure
