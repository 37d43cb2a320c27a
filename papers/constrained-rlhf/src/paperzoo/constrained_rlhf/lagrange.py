"""Lagrange multipliers as learned dynamic weights, and the mixed advantage of constrained PPO (official code
at the paper's date and at head).

- lambda_i = sigmoid(raw_i) for inequality constraints ("lower", "upper"), tanh(raw_i) for "equality".
- After each policy minibatch step, detached from the policy, one SGD step (lr 0.1, momentum 0.1, gradient norm
  clipped at 0.5) on L(raw) = sum_i lambda_i (G_i - theta_i) ("lower", "equality") or
  sum_i lambda_i (theta_i - G_i) ("upper"), G_i the mean episode reward-to-go of component i.
- Mixed advantage (each stream normalised first): "kl" (max -KL, every component constrained):
  (N - sum lambda) A_KL + sum_i lambda_i A_i; "all" (max sum of components, upper bounds):
  (N - sum lambda) sum_i A_i - sum_i lambda_i A_i; "task" (one constraint on a task reward):
  (1 - lambda) A_task + lambda A_con.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from paperzoo.shared.validate import check_one_of, check_positive, check_range

KINDS = ("lower", "upper", "equality")
OBJECTIVES = ("kl", "all", "task")


class LagrangeMultipliers:
    """One multiplier per constraint on the component returns, stepped by its own SGD optimizer."""

    def __init__(
        self,
        thresholds: Sequence[float],
        kind: str = "equality",
        lr: float = 0.1,
        momentum: float = 0.1,
        max_grad_norm: float = 0.5,
        init: float | Sequence[float] = 0.0,
    ) -> None:
        check_one_of("kind", kind, KINDS)
        check_positive("lr", lr)
        check_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
        check_positive("max_grad_norm", max_grad_norm)
        if len(thresholds) == 0:
            raise ValueError("thresholds must hold at least one value (one per constrained component)")
        self.kind, self.max_grad_norm = kind, max_grad_norm
        self.thresholds = torch.tensor([float(t) for t in thresholds])
        raw = torch.full((len(thresholds),), 0.0) + torch.as_tensor(init, dtype=torch.float32)
        if raw.shape != self.thresholds.shape:
            raise ValueError(f"init must be a number or one value per threshold, got {init!r}")
        self.raw = raw.clone().requires_grad_(True)
        self.optimizer = torch.optim.SGD([self.raw], lr=lr, momentum=momentum)

    def set_thresholds(self, thresholds: Sequence[float]) -> None:
        """New thresholds theta (the Nelder-Mead driver's move); ``ValueError`` if their number changes."""
        if len(thresholds) != len(self.thresholds):
            raise ValueError(f"thresholds must hold {len(self.thresholds)} values, got {len(thresholds)}")
        self.thresholds = torch.tensor([float(t) for t in thresholds])

    def squash(self, raw: torch.Tensor) -> torch.Tensor:
        """lambda = tanh(raw) (equality) or sigmoid(raw) (inequality)."""
        return torch.tanh(raw) if self.kind == "equality" else torch.sigmoid(raw)

    @property
    def value(self) -> torch.Tensor:
        """The current multipliers lambda (detached)."""
        return self.squash(self.raw.detach())

    def loss(self, returns: torch.Tensor) -> torch.Tensor:
        """sum_i lambda_i (G_i - theta_i), sign flipped for upper bounds; ``returns`` (G_i) are detached."""
        returns = returns.detach().float()
        if returns.shape != self.thresholds.shape:
            raise ValueError(f"returns must have shape {tuple(self.thresholds.shape)}, got {tuple(returns.shape)}")
        violation = returns - self.thresholds
        if self.kind == "upper":
            violation = -violation
        return (self.squash(self.raw) * violation).sum()

    def step(self, returns: torch.Tensor) -> float:
        """One SGD step on :meth:`loss` with the gradient norm clipped; returns the loss."""
        self.optimizer.zero_grad()
        loss = self.loss(returns)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([self.raw], self.max_grad_norm)
        self.optimizer.step()
        return float(loss.detach())


def normalise(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(A - mean) / (std + 1e-8) per stream over the positions where ``mask`` is 1 (``adv`` is (K, N, L))."""
    m = mask.to(adv.dtype)
    count = m.sum().clamp(min=2.0)
    mean = (adv * m).sum((-2, -1), keepdim=True) / m.sum().clamp(min=1.0)
    var = (((adv - mean) * m) ** 2).sum((-2, -1), keepdim=True) / (count - 1)
    return (adv - mean) / (var.sqrt() + 1e-8) * m


def mixed_advantage(
    components: torch.Tensor, lam: torch.Tensor, objective: str, kl: torch.Tensor | None = None
) -> torch.Tensor:
    """The advantage the PPO surrogate uses, from normalised stream advantages ``components`` (N, ...) and
    multipliers ``lam`` (detached; (N,) for "kl"/"all", (1,) for "task" with components (task, constraint))."""
    check_one_of("objective", objective, OBJECTIVES)
    lam = lam.detach().to(components.dtype)
    n = components.shape[0]
    shape = (-1,) + (1,) * (components.dim() - 1)
    if objective == "task":
        if n != 2 or lam.numel() != 1:
            raise ValueError(f"objective 'task' needs components (task, constraint) and one lambda, got {n}, {lam}")
        return (1 - lam[0]) * components[0] + lam[0] * components[1]
    if lam.numel() != n:
        raise ValueError(f"lam must hold one multiplier per component ({n}), got {lam.numel()}")
    weighted = (lam.view(shape) * components).sum(0)
    if objective == "kl":
        if kl is None:
            raise ValueError("objective 'kl' needs the KL stream's advantage (kl)")
        return (n - lam.sum()) * kl + weighted
    return (n - lam.sum()) * components.sum(0) - weighted
