"""Policies with a leading row dimension: parameters ``[R, ...]``, one independent policy per row.

Each ``log_prob(states, actions)`` takes ``states [R, H, ds]`` and returns ``[R, H]`` (vectorised over time).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from paperzoo.shared.validate import check_positive_int


class LinearGaussianPolicy(nn.Module):
    """a ~ N(K s, sigma^2 I), sigma = sigma_min + exp(log_std) when learned (floored), else fixed ``sigma``."""

    def __init__(
        self,
        rows: int,
        state_dim: int,
        action_dim: int,
        sigma: float,
        learn_sigma: bool = False,
        sigma_min: float = 0.05,
    ) -> None:
        super().__init__()
        for name, v in (("rows", rows), ("state_dim", state_dim), ("action_dim", action_dim)):
            check_positive_int(name, v)
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if not sigma_min > 0:
            raise ValueError(f"sigma_min must be > 0, got {sigma_min}")
        if learn_sigma and sigma <= sigma_min:
            raise ValueError(f"sigma must exceed sigma_min={sigma_min} when learned, got {sigma}")
        self.gain = nn.Parameter(torch.zeros(rows, action_dim, state_dim, dtype=torch.float64))
        self.sigma_min = sigma_min
        log_std = torch.full((rows, action_dim), math.log(sigma - sigma_min if learn_sigma else sigma))
        self.log_std = nn.Parameter(log_std.double(), requires_grad=learn_sigma)
        self.learn_sigma = learn_sigma

    def sigma(self) -> Tensor:
        """[R, da] standard deviations."""
        return self.sigma_min + self.log_std.exp() if self.learn_sigma else self.log_std.exp()

    def mean(self, states: Tensor, gain: Tensor | None = None) -> Tensor:
        """K s for states [R, ..., ds] (``gain``: evaluate at this K [R, da, ds] instead of ``self.gain``)."""
        return torch.einsum("rad,r...d->r...a", self.gain if gain is None else gain, states)

    def log_prob(self, states: Tensor, actions: Tensor, gain: Tensor | None = None) -> Tensor:
        """log N(a; K s, sigma^2 I), [R, H] (``gain``: as in :meth:`mean`)."""
        sigma = self.sigma()[:, None, :]
        z = (actions - self.mean(states, gain)) / sigma
        return (-0.5 * z.square() - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


class SoftmaxPolicy(nn.Module):
    """pi(a|s) = softmax(phi(s)^T theta)_a, linear in features phi (one-hot states: the tabular softmax)."""

    def __init__(self, rows: int, n_features: int, n_actions: int) -> None:
        super().__init__()
        for name, v in (("rows", rows), ("n_features", n_features), ("n_actions", n_actions)):
            check_positive_int(name, v)
        self.theta = nn.Parameter(torch.zeros(rows, n_features, n_actions, dtype=torch.float64))

    def logits(self, features: Tensor, theta: Tensor | None = None) -> Tensor:
        """phi(s)^T theta for features [R, ..., F] (``theta``: evaluate at these parameters [R, F, A])."""
        return torch.einsum("rfa,r...f->r...a", self.theta if theta is None else theta, features)

    def log_prob(self, features: Tensor, actions: Tensor, theta: Tensor | None = None) -> Tensor:
        """log pi(a_t | s_t), [R, H]; actions are integer [R, H] (``theta``: as in :meth:`logits`)."""
        logp = torch.log_softmax(self.logits(features, theta), -1)
        return logp.gather(-1, actions[..., None]).squeeze(-1)


class MLPSoftmaxPolicy(nn.Module):
    """pi(a|s) = softmax(W2 tanh(W1 s + b1) + b2), one small MLP per row."""

    def __init__(self, rows: int, state_dim: int, hidden: int, n_actions: int, seed: int = 0) -> None:
        super().__init__()
        for name, v in (("rows", rows), ("state_dim", state_dim), ("hidden", hidden), ("n_actions", n_actions)):
            check_positive_int(name, v)
        g = torch.Generator().manual_seed(seed)
        self.w1 = nn.Parameter(torch.randn(rows, state_dim, hidden, generator=g, dtype=torch.float64) / state_dim**0.5)
        self.b1 = nn.Parameter(torch.zeros(rows, hidden, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.zeros(rows, hidden, n_actions, dtype=torch.float64))
        self.b2 = nn.Parameter(torch.zeros(rows, n_actions, dtype=torch.float64))

    def logits(self, states: Tensor) -> Tensor:
        """Logits for states [R, H, ds]."""
        h = torch.tanh(torch.einsum("rdk,rhd->rhk", self.w1, states) + self.b1[:, None])
        return torch.einsum("rka,rhk->rha", self.w2, h) + self.b2[:, None]

    def log_prob(self, states: Tensor, actions: Tensor) -> Tensor:
        """log pi(a_t | s_t), [R, H]."""
        return torch.log_softmax(self.logits(states), -1).gather(-1, actions[..., None]).squeeze(-1)
