"""Value gradients of a stable-baselines3 SAC at the real next state, and their per-round cache.

V_k(s) = Q_k(s, μ(s)) for Q_k ∈ {Q1, Q2, Q̄1, Q̄2} (SB3's critics and their Polyak targets; ``use_all_vf`` of the
official code) and μ(s) = tanh(mean) the deterministic actor; μ(s') is detached, so

    g_k(s') = ∂Q_k(s, a)/∂s |_{s = s', a = μ(s')}                                    (∇_s V_k at the REAL s')

is taken with ``torch.autograd.grad`` w.r.t. the state tensor only: no ``.grad`` is written into any network and
no graph is kept. The official code computes g once per dataset index and model-training round and caches it
(``set_gradient_buffer``/``set_agent``): :class:`GradientCache` does the same in batched chunks.

Cost: a value function returns its K values as separate tensors, so the backward pass of V_k runs through the
k-th critic only (a stacked (K, B) output would send zero cotangents through every critic in every one of the K
passes: K times the work); μ(s') is evaluated without a graph, as its gradient is never taken.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from paperzoo.shared.validate import check_positive_int

__all__ = ["GradientCache", "ValueFn", "sac_values", "state_gradients", "value_grad"]

ValueFn = Callable[[Tensor], Sequence[Tensor]]  # states (B, D) -> K values (B,) (or a (K, B) tensor)


def sac_values(sac: Any) -> ValueFn:
    """V(s) = (Q1, Q2, Q̄1, Q̄2)(s, μ(s)) of an SB3 ``SAC``: (B, D) states -> four (B,) values (μ(s) a constant)."""

    def values(states: Tensor) -> tuple[Tensor, ...]:
        with torch.no_grad():  # the official code detaches μ(s'): no graph through the actor
            actions = sac.actor(states, deterministic=True)
        return tuple(q[:, 0] for q in (*sac.critic(states, actions), *sac.critic_target(states, actions)))

    return values


def state_gradients(values: ValueFn, states: Tensor) -> Tensor:
    """g_k = ∇_s V_k(s) for every value function k at ``states`` (B, D): a (K, B, D) constant tensor."""
    if states.ndim != 2:
        raise ValueError(f"states must be (B, D), got {tuple(states.shape)}")
    s = states.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        v = values(s)
        k = len(v)
        # one backward per value function through its own network; samples are independent, so the gradient of
        # the batch sum is every sample's own gradient
        grads = [torch.autograd.grad(v[i].sum(), s, retain_graph=i < k - 1)[0] for i in range(k)]
    return torch.stack(grads).detach()


def value_grad(sac: Any, next_obs: Tensor) -> Tensor:
    """(4, B, D) gradients of Q1, Q2, Q̄1, Q̄2 of an SB3 ``SAC`` at (s', μ(s')) w.r.t. the real next state s'."""
    return state_gradients(sac_values(sac), next_obs)


class GradientCache:
    """Value gradients per dataset index for one model-training round (reset when the agent changes).

    Args:
        capacity: the largest dataset index + 1.
        dim: D, the state dimension.
        n_values: K, the number of value functions.
        chunk: how many missing gradients one batched :func:`state_gradients` call computes.
        device: where the gradients live.
    """

    def __init__(self, capacity: int, dim: int, n_values: int = 4, chunk: int = 8192, device: str = "cpu") -> None:
        check_positive_int("capacity", capacity)
        check_positive_int("dim", dim)
        check_positive_int("n_values", n_values)
        self.chunk = check_positive_int("chunk", chunk)
        self.grads = torch.zeros(n_values, capacity, dim, device=device)
        self.known = torch.zeros(capacity, dtype=torch.bool, device=device)
        self.computed = 0  # gradients computed since construction (each index at most once per round)

    def reset(self) -> None:
        """Forget every gradient (a new agent/critic is attached before a model-training round)."""
        self.known.zero_()

    def lookup(self, values: ValueFn, next_obs: Tensor, indices: Tensor) -> Tensor:
        """(K, *indices.shape, D) gradients at ``next_obs[indices]``, computing the unknown ones in chunks."""
        if next_obs.ndim != 2 or next_obs.shape[1] != self.grads.shape[2]:
            raise ValueError(f"next_obs must be (N, {self.grads.shape[2]}), got {tuple(next_obs.shape)}")
        if len(next_obs) > self.known.shape[0]:
            raise ValueError(f"next_obs holds {len(next_obs)} rows, more than the capacity {self.known.shape[0]}")
        indices = indices.to(self.known.device)
        missing = torch.unique(indices[~self.known[indices]])
        for start in range(0, len(missing), self.chunk):
            idx = missing[start : start + self.chunk]
            self.grads[:, idx] = state_gradients(values, next_obs[idx])
        self.known[missing] = True
        self.computed += len(missing)
        return self.grads[:, indices]
