"""The generalist's learner: SB3 ``PPO`` whose ``train()`` adds imitation on demonstrations, and BC-only training.

L = L_PPO + λ_IL · E_{(o, a*) ∈ D} ‖μ_θ(o) − a*‖², with μ_θ the Gaussian policy's mean and a fresh demo minibatch per
PPO minibatch. The parent's ``train()`` is reused unchanged: its optimizer is wrapped so that ``zero_grad()`` leaves
λ_IL·∇L_IL in the gradients before the PPO loss is back-propagated onto them; gradient clipping and the Adam step then
act on ∇(L_PPO + λ_IL L_IL), as in one joint loss. At λ_IL = 0 nothing is added: the update is the parent's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy

from paperzoo.shared.validate import check_non_negative, check_positive_int


def bc_loss(policy: ActorCriticPolicy, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """E‖μ_θ(o) − a*‖² (sum over action dimensions, mean over the batch)."""
    mean = policy.get_distribution(obs).distribution.mean
    return ((mean - actions) ** 2).sum(-1).mean()


class _ImitationOptimizer:
    """Delegates to ``optimizer``; ``zero_grad()`` then back-propagates λ·L_IL on one demo minibatch."""

    def __init__(self, optimizer: torch.optim.Optimizer, owner: RLILPPO) -> None:
        self._optimizer, self._owner = optimizer, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._optimizer, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._optimizer.zero_grad(set_to_none=set_to_none)
        owner = self._owner
        obs, act = owner.demo_batch()
        loss = owner.lambda_il * bc_loss(owner.policy, obs, act)
        loss.backward()
        owner.il_losses.append(float(loss.detach()) / owner.lambda_il)


class RLILPPO(PPO):
    """PPO + λ_IL·imitation on ``demos = (observations, actions)`` (``None`` or λ_IL = 0: plain PPO)."""

    def __init__(
        self,
        *args: Any,
        lambda_il: float = 0.0,
        demos: tuple[np.ndarray, np.ndarray] | None = None,
        demo_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        check_non_negative("lambda_il", lambda_il)
        super().__init__(*args, **kwargs)
        self.lambda_il = lambda_il
        self.il_losses: list[float] = []
        self.set_demos(demos, demo_seed)

    def set_demos(self, demos: tuple[np.ndarray, np.ndarray] | None, demo_seed: int = 0) -> None:
        """Replace the demonstration set D and reseed its minibatch sampler."""
        self._demo_obs = self._demo_act = None
        if demos is not None and len(demos[0]):
            self._demo_obs = torch.as_tensor(demos[0], dtype=torch.float32)
            self._demo_act = torch.as_tensor(demos[1], dtype=torch.float32)
        self._demo_gen = torch.Generator().manual_seed(demo_seed)

    def demo_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One minibatch (PPO's ``batch_size``) of demo observations and actions, sampled with replacement."""
        idx = torch.randint(len(self._demo_obs), (self.batch_size,), generator=self._demo_gen)
        return self._demo_obs[idx], self._demo_act[idx]

    def train(self) -> None:
        if self.lambda_il == 0.0 or self._demo_obs is None:
            return super().train()
        optimizer = self.policy.optimizer
        self.policy.optimizer = _ImitationOptimizer(optimizer, self)
        try:
            super().train()
        finally:
            self.policy.optimizer = optimizer
        self.logger.record("train/il_loss", float(np.mean(self.il_losses[-10:])))


def train_bc(
    policy: ActorCriticPolicy, demos: tuple[np.ndarray, np.ndarray], steps: int, batch_size: int, seed: int
) -> list[float]:
    """BC-only: ``steps`` Adam steps (the policy's own optimizer) on E‖μ_θ(o) − a*‖² over demo minibatches."""
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    obs = torch.as_tensor(demos[0], dtype=torch.float32)
    act = torch.as_tensor(demos[1], dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    policy.set_training_mode(True)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(obs), (batch_size,), generator=gen)
        loss = bc_loss(policy, obs[idx], act[idx])
        policy.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
        policy.optimizer.step()
        losses.append(float(loss.detach()))
    policy.set_training_mode(False)
    return losses
