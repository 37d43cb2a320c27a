"""Single-task SAC and multi-task SAC (MT-SAC) on Meta-World, from Stable-Baselines3.

SAC (Haarnoja et al. 2018, SB3's ``SAC``): twin critics Q_1, Q_2 with Polyak targets Q̄_j, a tanh-Gaussian actor
π_φ and a learned temperature α:

    y        = r + γ (1 - d) [ min_j Q̄_j(s', a') - α log π_φ(a'|s') ],  a' ~ π_φ(·|s')         (twin-Q min)
    L_Q      = ½ Σ_j (Q_j(s, a) - y)²
    L_π      = α log π_φ(ã|s) - min_j Q_j(s, ã),  ã ~ π_φ(·|s)
    L_α      = -log α · (log π_φ(ã|s) + H̄),  H̄ = -dim(A) = -4                                (temperature)
    Q̄_j     ← τ Q_j + (1 - τ) Q̄_j                                                            (τ = 0.005)

Episodes end by the 500-step time limit only (terminate-on-success is off in training): d = 0 at truncation,
so the target bootstraps from the true last observation (SB3's ``handle_timeout_termination``, tested).

MT-SAC (Meta-World paper, Sec. 5; garage's ``MTSAC``): one shared actor and critic on observations with the
one-hot task id appended, trained on the union of the tasks' replay data, and one temperature per task:
α in the losses above is α_{task(s)} = exp(log α · e_task), and L_α is averaged over the batch with each sample
updating its own task's log α_task. With one task it is SB3's SAC exactly (tested bit for bit).

Sizes: the official code uses 3 x 400 hidden units and batch 1280 (MT10); 2 CPU cores afford 2 x 128 and batch
256 (see the README); learning rate 3e-4, γ = 0.99, τ = 0.005, initial α = 1 are the official and SB3 defaults.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch as th
import torch.nn.functional as F

from paperzoo.metaworld.agents._checks import check_widths
from paperzoo.metaworld.envs import make_mt_env_fns
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

with contextlib.redirect_stderr(io.StringIO()):  # SB3 imports the legacy `gym` if present, which prints a banner
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.utils import polyak_update
    from stable_baselines3.common.vec_env import DummyVecEnv

__all__ = ["MTSAC", "SACConfig", "SB3Agent", "TrainingSuccess", "make_sac", "soft_td_target", "train_sac"]


def soft_td_target(
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor | float,
    next_q: th.Tensor,
    ent_coef: th.Tensor,
    next_log_prob: th.Tensor,
) -> th.Tensor:
    """y = r + γ (1 - d) [min_j Q̄_j(s', a') - α log π(a'|s')] for a batch; ``next_q`` is (B, n_critics).

    ``dones`` are SB3's (terminated and not truncated): 0 at time-limit truncations, which therefore bootstrap.
    """
    # twin-Q min
    min_next_q, _ = th.min(next_q, dim=1, keepdim=True)
    soft_value = min_next_q - ent_coef * next_log_prob.reshape(-1, 1)
    return rewards + (1 - dones) * discounts * soft_value


class MTSAC(SAC):
    """SB3 SAC with one learned entropy temperature per task (the task is the one-hot tail of the observation).

    Args:
        num_tasks: k, the length of the one-hot task id at the end of every observation (1: no task id, and the
            algorithm is SB3's SAC).
        All other arguments are SB3 ``SAC``'s.
    """

    def __init__(self, *args, num_tasks: int = 1, **kwargs) -> None:
        self.num_tasks = check_positive_int("num_tasks", num_tasks)
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.num_tasks > 1:
            if self.log_ent_coef is None:
                raise ValueError("num_tasks > 1 needs a learned temperature: ent_coef must be 'auto' or 'auto_<init>'")
            # log α per task, all at SB3's initial value.
            init = self.log_ent_coef.detach().clone()
            self.log_ent_coef = init.repeat(self.num_tasks).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1))

    def task_index(self, observations: th.Tensor) -> th.Tensor:
        """task(s) = argmax of the one-hot tail (0 when k = 1)."""
        if self.num_tasks == 1:
            return th.zeros(observations.shape[0], dtype=th.long, device=observations.device)
        return observations[:, -self.num_tasks :].argmax(dim=1)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """``gradient_steps`` SAC updates (SB3's ``SAC.train`` with α_{task(s)} in place of α)."""
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)

        ent_coefs, ent_coef_losses, actor_losses, critic_losses = [], [], [], []
        for gradient_step in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = data.discounts if data.discounts is not None else self.gamma
            if self.use_sde:
                self.actor.reset_noise()
            actions_pi, log_prob = self.actor.action_log_prob(data.observations)
            log_prob = log_prob.reshape(-1, 1)

            ent_coef_loss = None
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                # log α_{task(s)}: the shared scalar for one task (broadcast, as in SB3), else gathered per sample.
                log_alpha = (
                    self.log_ent_coef
                    if self.num_tasks == 1
                    else self.log_ent_coef[self.task_index(data.observations)].unsqueeze(1)
                )
                ent_coef = th.exp(log_alpha.detach())
                # L_α = -log α_task · (log π(ã|s) + H̄), the log-prob detached.
                ent_coef_loss = -(log_alpha * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.mean().item())
            if ent_coef_loss is not None and self.ent_coef_optimizer is not None:
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()

            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(data.next_observations)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                target_q = soft_td_target(data.rewards, data.dones, discounts, next_q, ent_coef, next_log_prob)

            current_q = self.critic(data.observations, data.actions)
            # L_Q = ½ Σ_j mean (Q_j(s, a) - y)²
            critic_loss = 0.5 * sum(F.mse_loss(q, target_q) for q in current_q)
            critic_losses.append(critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # L_π = mean α log π(ã|s) - min_j Q_j(s, ã)
            q_pi = th.cat(self.critic(data.observations, actions_pi), dim=1)
            min_q_pi, _ = th.min(q_pi, dim=1, keepdim=True)
            actor_loss = (ent_coef * log_prob - min_q_pi).mean()
            actor_losses.append(actor_loss.item())
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()

            if gradient_step % self.target_update_interval == 0:
                # Q̄ ← τ Q + (1 - τ) Q̄
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))

    def temperatures(self) -> npt.NDArray[np.float64]:
        """α per task (one entry when k = 1)."""
        if self.log_ent_coef is None:
            return np.array([float(self.ent_coef_tensor)])
        return np.exp(self.log_ent_coef.detach().cpu().numpy().astype(np.float64))


@dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters (per task: ``learning_starts`` and the replay capacity scale with the task count)."""

    net_arch: tuple[int, ...] = (128, 128)
    batch_size: int = 256
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    learning_starts: int = 1000  # uniform-random steps per task before the first update
    train_freq: int = 1  # environment steps per task between training rounds; one update per task per round
    per_task_alpha: bool = True  # MT-SAC's one temperature per task (k > 1 only)
    ent_coef_init: float = 1.0

    def __post_init__(self) -> None:
        check_widths("net_arch", self.net_arch)
        check_positive_int("batch_size", self.batch_size)
        check_positive("learning_rate", self.learning_rate)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0, low_inclusive=False)
        check_positive_int("learning_starts", self.learning_starts)
        check_positive_int("train_freq", self.train_freq)
        check_positive("ent_coef_init", self.ent_coef_init)


def make_sac(
    task_names: Sequence[str],
    steps_per_task: int,
    seed: int,
    config: SACConfig | None = None,
    max_episode_steps: int | None = None,
) -> MTSAC:
    """An (untrained) SAC on the MT-k training envs of ``task_names`` (MT-SAC with one-hot id when k > 1).

    One sub-env per task (``DummyVecEnv``); every ``train_freq`` steps of all sub-envs, k gradient steps: single-task
    and multi-task runs make the same number of updates per sample (1 / ``train_freq``).
    """
    config = config or SACConfig()
    check_positive_int("steps_per_task", steps_per_task)
    k = len(task_names)
    env = DummyVecEnv(make_mt_env_fns(task_names, seed, max_episode_steps=max_episode_steps))
    return MTSAC(
        "MlpPolicy",
        env,
        num_tasks=k if (k > 1 and config.per_task_alpha) else 1,
        learning_rate=config.learning_rate,
        buffer_size=steps_per_task * k,  # everything fits: nothing is evicted
        learning_starts=config.learning_starts * k,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        train_freq=config.train_freq,
        gradient_steps=k,
        ent_coef=f"auto_{config.ent_coef_init}",
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=seed,
        device="cpu",
        verbose=0,
    )


def train_sac(
    task_names: Sequence[str],
    steps_per_task: int,
    seed: int,
    config: SACConfig | None = None,
    max_episode_steps: int | None = None,
) -> tuple[MTSAC, TrainingSuccess]:
    """Train SAC (k = 1) or MT-SAC (k > 1) for ``steps_per_task`` environment steps per task.

    Returns the model and the per-task record of training episodes (success at any step, return).
    """
    model = make_sac(task_names, steps_per_task, seed, config, max_episode_steps)
    tracker = TrainingSuccess(len(task_names))
    model.learn(total_timesteps=steps_per_task * len(task_names), callback=tracker)
    return model, tracker


class TrainingSuccess(BaseCallback):
    """Per sub-env (task), whether each training episode reached ``info["success"]`` at some step, and its return."""

    def __init__(self, num_envs: int) -> None:
        super().__init__()
        self.success: list[list[float]] = [[] for _ in range(num_envs)]
        self.returns: list[list[float]] = [[] for _ in range(num_envs)]
        self._any = np.zeros(num_envs, dtype=bool)
        self._ret = np.zeros(num_envs)

    def _on_step(self) -> bool:
        for i, (info, done, reward) in enumerate(
            zip(self.locals["infos"], self.locals["dones"], self.locals["rewards"], strict=True)
        ):
            self._any[i] |= bool(info.get("success", 0.0))
            self._ret[i] += float(reward)
            if done:
                self.success[i].append(float(self._any[i]))
                self.returns[i].append(float(self._ret[i]))
                self._any[i], self._ret[i] = False, 0.0
        return True


class SB3Agent:
    """The protocol's :class:`~paperzoo.metaworld.protocol.Agent` for a trained SB3 model: the mean action."""

    def __init__(self, model: SAC) -> None:
        self.model = model

    def eval_action(self, observations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """a = tanh(μ_φ(s)) (SB3's deterministic action)."""
        actions, _ = self.model.predict(np.asarray(observations, dtype=np.float32), deterministic=True)
        return actions.astype(np.float64)

    def reset(self, env_mask: npt.NDArray[np.bool_]) -> None:
        """A feed-forward policy keeps no episode state."""
