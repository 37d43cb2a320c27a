"""Stable-Baselines3 SAC with twin ensembles of Q/shape heads, subclassed as the official ``algos/sac`` does.

- :class:`EnsembleMLP`: N independent MLPs evaluated as batched matmuls (no loop over members): [B, F] -> [N, B, O];
  each member initialised like ``nn.Linear`` (U(±1/√fan_in) for weights and biases), as SB3's ``create_mlp``.
- :class:`EnsembleContinuousCritic`: C twin critics × M heads, each head its own MLP on (s, a) with D outputs
  (Q, and a variance/shape logit when D = 2) -> values [C, B, M, D] (the official ``ContinuousCritic``).
- :class:`EnsembleSACPolicy`: SB3's ``SACPolicy`` with that critic (and the official ``MlpPolicy``'s Tanh default).
- :class:`EnsembleSAC`: SB3's ``SAC`` whose ``train()`` differs only in the critic targets, loss and actor value:
      y_ik = r_i + γ(1 - d_i) (min_c Q̄_c,k(s'_i, a'_i) - α log π(a'_i|s'_i)),   a' ~ π(·|s'), per head k,
      L_critic = ½ Σ_c L_value(values_c [B, M, D], y [B, M]),
      L_actor = mean_i (α log π(a_i|s_i) - min_c mean_k Q_c,k(s_i, a_i)).
  With M = 1 and the MSE loss it is SB3's SAC.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from paperzoo.ggd_td.losses import ValueLoss
from paperzoo.shared.validate import check_positive_int

__all__ = ["EnsembleContinuousCritic", "EnsembleMLP", "EnsembleSAC", "EnsembleSACPolicy"]


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs in_features -> net_arch -> out_features: x [B, F] -> [members, B, out_features].

    Layer l of member n computes h ↦ h W_l[n] + b_l[n] (W_l: [members, fan_in, fan_out]), the activation between
    layers; all members in one batched matmul per layer.
    """

    def __init__(
        self,
        members: int,
        in_features: int,
        out_features: int,
        net_arch: list[int] | tuple[int, ...],
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.members = check_positive_int("members", members)
        for width in net_arch:
            check_positive_int("net_arch", width)
        dims = [check_positive_int("in_features", in_features), *net_arch]
        dims.append(check_positive_int("out_features", out_features))
        self.weights = nn.ParameterList(nn.Parameter(th.empty(members, i, o)) for i, o in itertools.pairwise(dims))
        self.biases = nn.ParameterList(nn.Parameter(th.empty(members, 1, o)) for o in dims[1:])
        self.activation = activation_fn()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each member's layer as ``nn.Linear`` initialises it: weights and biases U(-1/√fan_in, 1/√fan_in)."""
        for weight, bias in zip(self.weights, self.biases, strict=True):
            bound = 1.0 / math.sqrt(weight.shape[1])
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, x: th.Tensor) -> th.Tensor:
        h = th.matmul(x, self.weights[0]) + self.biases[0]  # [B, F] @ [N, F, O] -> [N, B, O]
        for weight, bias in zip(self.weights[1:], self.biases[1:], strict=True):
            h = th.baddbmm(bias, self.activation(h), weight)
        return h


class EnsembleContinuousCritic(BaseModel):
    """C twin critics of M heads, each head an MLP on [features(s), a] with D outputs: values [C, B, M, D]."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        ensemble_size: int = 5,
        value_dims: int = 1,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.share_features_extractor = share_features_extractor
        self.n_critics = check_positive_int("n_critics", n_critics)
        self.ensemble_size = check_positive_int("ensemble_size", ensemble_size)
        self.value_dims = check_positive_int("value_dims", value_dims)
        in_features = features_dim + get_action_dim(self.action_space)
        self.q_net = EnsembleMLP(n_critics * ensemble_size, in_features, value_dims, net_arch, activation_fn)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.set_grad_enabled(not self.share_features_extractor):  # as SB3: the actor's loss trains the features
            features = self.extract_features(obs, self.features_extractor)
        out = self.q_net(th.cat([features, actions], dim=1))  # [C * M, B, D]
        return out.unflatten(0, (self.n_critics, self.ensemble_size)).transpose(1, 2)


class EnsembleSACPolicy(SACPolicy):
    """SB3's SAC policy whose critic (and target critic) is an :class:`EnsembleContinuousCritic`.

    The activation defaults to Tanh, as the official ``MlpPolicy`` (SB3's SAC: ReLU).
    """

    def __init__(
        self,
        *args: Any,
        ensemble_size: int = 5,
        value_dims: int = 1,
        activation_fn: type[nn.Module] = nn.Tanh,
        **kwargs: Any,
    ) -> None:
        self.ensemble_size = check_positive_int("ensemble_size", ensemble_size)
        self.value_dims = check_positive_int("value_dims", value_dims)
        super().__init__(*args, activation_fn=activation_fn, **kwargs)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> EnsembleContinuousCritic:
        kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return EnsembleContinuousCritic(**kwargs, ensemble_size=self.ensemble_size, value_dims=self.value_dims).to(
            self.device
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {
            "ensemble_size": self.ensemble_size,
            "value_dims": self.value_dims,
        }


class EnsembleSAC(SAC):
    """SB3's SAC with twin ensemble critics trained by one of the paper's value losses.

    Args:
        policy, env: as SB3's ``SAC`` (``"MlpPolicy"`` is :class:`EnsembleSACPolicy`).
        loss, ensemble_size, uncertainty_temperature, min_batch_size, nll_form: as
            :class:`~paperzoo.ggd_td.ppo.EnsemblePPO` (official: ``"iev_ggd"``, 5, 0.1, 16, ``"official"``).
        **kwargs: SB3 ``SAC`` arguments (official defaults are SB3's: lr 3e-4, buffer 1e6, learning starts 100,
            batch 256, τ 0.005, γ 0.99, one gradient step per environment step, automatic entropy coefficient).
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpPolicy": EnsembleSACPolicy}

    def __init__(
        self,
        policy: str | type[EnsembleSACPolicy],
        env: Any,
        loss: str = "iev_ggd",
        ensemble_size: int = 5,
        uncertainty_temperature: float = 0.1,
        min_batch_size: int = 16,
        nll_form: str = "official",
        **kwargs: Any,
    ) -> None:
        self.value_loss = ValueLoss(loss, uncertainty_temperature, min_batch_size, kwargs.get("gamma", 0.99), nll_form)
        self.value_loss.check_ensemble_size(ensemble_size)
        dims = {"ensemble_size": ensemble_size, "value_dims": self.value_loss.value_dims}
        kwargs["policy_kwargs"] = {**(kwargs.get("policy_kwargs") or {}), **dims}
        super().__init__(policy, env, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """SB3's SAC update with per-head targets, :attr:`value_loss` per twin critic and the head-mean actor value."""
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)
        ent_coef_losses, ent_coefs, actor_losses, critic_losses = [], [], [], []
        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            if self.use_sde:
                self.actor.reset_noise()
            actions_pi, log_prob = self.actor.action_log_prob(replay_data.observations)
            log_prob = log_prob.reshape(-1, 1)
            ent_coef_loss = None
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.item())
            if ent_coef_loss is not None and self.ent_coef_optimizer is not None:
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
                next_values = self.critic_target(replay_data.next_observations, next_actions)[..., 0].amin(dim=0)
                next_values = next_values - ent_coef * next_log_prob.reshape(-1, 1)  # [B, M]
                targets = replay_data.rewards + (1 - replay_data.dones) * discounts * next_values
            values = self.critic(replay_data.observations, replay_data.actions)  # [C, B, M, D]
            critic_loss = 0.5 * sum(self.value_loss(critic_values, targets) for critic_values in values)
            critic_losses.append(critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()
            min_qf_pi = self.critic(replay_data.observations, actions_pi)[..., 0].mean(dim=2).amin(dim=0)  # [B]
            actor_loss = (ent_coef * log_prob - min_qf_pi[:, None]).mean()
            actor_losses.append(actor_loss.item())
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()
            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))
