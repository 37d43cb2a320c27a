"""Stable-Baselines3 PPO with an M-head value/shape critic and per-head GAE, subclassed as the official code does.

- :class:`EnsembleValueHead`: the M heads × D outputs (value, and a variance/shape logit when D = 2) as one
  ``nn.Linear`` reshaped to [B, M, D]; each head's block gets its own orthogonal init (gain 1), as the official
  per-head ``nn.Linear`` modules do.
- :class:`EnsembleActorCriticPolicy`: SB3's ``ActorCriticPolicy`` with that head as ``value_net``.
- :class:`EnsembleRolloutBuffer`: SB3's ``RolloutBuffer`` keeping values [T, E, M, D] and, per head k, its own
  GAE advantages and returns (official ``utils/buffers.py``):
      δ_t^k = r_t + γ (1 - d_{t+1}) v^k(s_{t+1}) - v^k(s_t),   A_t^k = δ_t^k + γλ (1 - d_{t+1}) A_{t+1}^k,
      R_t^k = A_t^k + v^k(s_t).
- :class:`EnsemblePPO`: SB3's ``PPO`` whose ``train()`` differs only in the value loss (a
  :class:`~paperzoo.ggd_td.losses.ValueLoss` of [B, M, D] values against [B, M] returns) and in using the
  head-mean advantage, L = L_clip + c_ent L_ent + c_v L_value; and whose rollout collection bootstraps a
  time-limit truncation with the head-mean value (official). With M = 1 and the MSE loss it is SB3's PPO.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from torch import nn

from paperzoo.ggd_td.losses import ValueLoss
from paperzoo.shared.validate import check_positive_int

__all__ = ["EnsembleActorCriticPolicy", "EnsemblePPO", "EnsembleRolloutBuffer", "EnsembleValueHead"]


class EnsembleValueHead(nn.Linear):
    """M heads of D outputs each as one Linear: features [B, F] -> [B, M, D]."""

    def __init__(self, in_features: int, ensemble_size: int, value_dims: int) -> None:
        self.ensemble_size = check_positive_int("ensemble_size", ensemble_size)
        self.value_dims = check_positive_int("value_dims", value_dims)
        super().__init__(in_features, ensemble_size * value_dims)

    def forward(self, features: th.Tensor) -> th.Tensor:
        return super().forward(features).unflatten(-1, (self.ensemble_size, self.value_dims))

    def orthogonal_init(self, gain: float = 1.0) -> None:
        """Each head's [D, F] block orthogonal with ``gain`` (as M separate Linears), biases 0."""
        with th.no_grad():
            for block in self.weight.view(self.ensemble_size, self.value_dims, -1):
                nn.init.orthogonal_(block, gain=gain)
            self.bias.zero_()


class EnsembleActorCriticPolicy(ActorCriticPolicy):
    """SB3's actor-critic policy whose critic is an :class:`EnsembleValueHead` (``ensemble_size`` × ``value_dims``).

    ``forward``, ``evaluate_actions`` and ``predict_values`` return values of shape [B, M, D].
    """

    def __init__(self, *args: Any, ensemble_size: int = 5, value_dims: int = 1, **kwargs: Any) -> None:
        self.ensemble_size = check_positive_int("ensemble_size", ensemble_size)
        self.value_dims = check_positive_int("value_dims", value_dims)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        self.value_net = EnsembleValueHead(self.mlp_extractor.latent_dim_vf, self.ensemble_size, self.value_dims)
        if self.ortho_init:
            self.value_net.orthogonal_init(gain=1.0)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {
            "ensemble_size": self.ensemble_size,
            "value_dims": self.value_dims,
        }


class EnsembleRolloutBuffer(RolloutBuffer):
    """SB3's rollout buffer with per-head values [T, E, M, D], advantages and returns [T, E, M]."""

    def __init__(self, *args: Any, ensemble_size: int = 5, value_dims: int = 1, **kwargs: Any) -> None:
        self.ensemble_size = check_positive_int("ensemble_size", ensemble_size)
        self.value_dims = check_positive_int("value_dims", value_dims)
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()
        heads = (self.buffer_size, self.n_envs, self.ensemble_size)
        self.values = np.zeros((*heads, self.value_dims), dtype=np.float32)
        self.returns = np.zeros(heads, dtype=np.float32)
        self.advantages = np.zeros(heads, dtype=np.float32)

    def add(self, obs, action, reward, episode_start, value: th.Tensor, log_prob: th.Tensor) -> None:
        super().add(obs, action, reward, episode_start, value.new_zeros(1), log_prob)  # the heads are stored below
        self.values[self.pos - 1] = value.cpu().numpy().reshape(self.n_envs, self.ensemble_size, self.value_dims)

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """Per-head GAE(λ) advantages and TD(λ) returns (module docstring), vectorised over envs and heads."""
        last = last_values.cpu().numpy().reshape(self.n_envs, self.ensemble_size, self.value_dims)[..., 0]
        values = self.values[..., 0]
        last_gae_lam = 0
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                next_non_terminal = 1.0 - dones.astype(np.float32)
                next_values = last
            else:
                next_non_terminal = 1.0 - self.episode_starts[step + 1]
                next_values = values[step + 1]
            not_done = next_non_terminal[:, None]
            delta = self.rewards[step][:, None] + self.gamma * next_values * not_done - values[step]
            last_gae_lam = delta + self.gamma * self.gae_lambda * not_done * last_gae_lam
            self.advantages[step] = last_gae_lam
        self.returns = self.advantages + values

    def _get_samples(self, batch_inds: np.ndarray, env=None) -> RolloutBufferSamples:
        data = (
            self.observations[batch_inds],
            self.actions[batch_inds].astype(np.float32, copy=False),
            self.values[batch_inds],
            self.log_probs[batch_inds].flatten(),
            self.advantages[batch_inds],
            self.returns[batch_inds],
        )
        return RolloutBufferSamples(*tuple(map(self.to_torch, data)))


class EnsemblePPO(PPO):
    """SB3's PPO with an ensemble critic trained by one of the paper's value losses.

    Args:
        policy, env: as SB3's ``PPO`` (``"MlpPolicy"`` is :class:`EnsembleActorCriticPolicy`).
        loss: a :data:`~paperzoo.ggd_td.losses.LOSSES` name (``"iev_ggd"``: the paper's method).
        ensemble_size: M (official 5; BIEV needs M ≥ 4, BIV M ≥ 2).
        uncertainty_temperature: λ of the BIV/BIEV term (official 0.1).
        min_batch_size: the EBS floor of the inverse-variance weights (official 16).
        nll_form: ``"official"`` (β|δ|) or ``"paper"`` (|δ|^β).
        **kwargs: SB3 ``PPO`` arguments (official defaults: n_steps 2048, batch 64, 10 epochs, γ 0.99, GAE λ 0.95,
            clip 0.2, lr 3e-4, ent 0, vf 0.5, max grad norm 0.5: SB3's own defaults).
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpPolicy": EnsembleActorCriticPolicy}

    def __init__(
        self,
        policy: str | type[EnsembleActorCriticPolicy],
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
        super().__init__(policy, env, rollout_buffer_class=EnsembleRolloutBuffer, rollout_buffer_kwargs=dims, **kwargs)

    def collect_rollouts(self, env, callback, rollout_buffer: EnsembleRolloutBuffer, n_rollout_steps: int) -> bool:
        """SB3's rollout collection; a truncated episode's reward gets γ × the head-mean value of its last state."""
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with th.no_grad():
                actions, values, log_probs = self.policy(obs_as_tensor(self._last_obs, self.device))
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            for idx, done in enumerate(dones):
                info = infos[idx]
                if done and info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
                    terminal_obs = self.policy.obs_to_tensor(info["terminal_observation"])[0]
                    with th.no_grad():
                        terminal_value = self.policy.predict_values(terminal_obs)[0, :, 0].mean()
                    rewards[idx] += self.gamma * terminal_value
            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, values, log_probs)
            self._last_obs = new_obs
            self._last_episode_starts = dones
        with th.no_grad():
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def train(self) -> None:
        """SB3's PPO update with the head-mean advantage and :attr:`value_loss` on [B, M, D] values."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)
        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        continue_training = True
        for _ in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()
                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
                advantages = rollout_data.advantages.mean(dim=-1)  # the heads' mean advantage (official)
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                values_pred = values
                if self.clip_range_vf is not None:  # clip each head's value, not its shape logit
                    old = rollout_data.old_values[..., :1]
                    clipped = old + th.clamp(values[..., :1] - old, -clip_range_vf, clip_range_vf)
                    values_pred = th.cat([clipped, values[..., 1:]], dim=-1)
                value_loss = self.value_loss(values_pred, rollout_data.returns)
                value_losses.append(value_loss.item())
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        buffer = self.rollout_buffer
        explained_var = explained_variance(buffer.values[..., 0].mean(-1).flatten(), buffer.returns.mean(-1).flatten())
        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
