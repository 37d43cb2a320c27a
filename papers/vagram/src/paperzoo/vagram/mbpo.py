"""MBPO (Janner et al. 2019, as mbrl-lib runs it for VaGraM) driving stable-baselines3's SAC on model data.

Loop (``mbrl/algorithms/mbpo.py``): after ``initial_steps`` exploration steps, every env step the agent acts in
the real env (its transition goes to the real buffer D_env); every ``freq_train_model`` steps the model is
retrained on D_env (MSE or VaGraM with the CURRENT critic's value gradients, cached for the round) and
``rollouts_per_step x freq_train_model`` branched rollouts of length h (``rollout_schedule``, linear in the
epoch) start from states of D_env with the agent's sampled actions and a random elite per sample; they fill the
model buffer D_model, which SAC trains on: SB3's ``SAC.train(gradient_steps)`` with its ``replay_buffer``
pointed at D_model, or, with the official ``model_data_likelihood`` schedule, at a :class:`MixedReplayBuffer`
that draws each update's batch from D_model with probability p(epoch) and from D_env otherwise. SB3 applies one
learning rate to all of SAC's optimizers; :class:`PerNetworkSAC` keeps the official per-network rates (actor,
critic, temperature) and changes nothing else.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch

from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int
from paperzoo.vagram.envs import make_env, termination_fn
from paperzoo.vagram.models import ModelEnsemble, ModelTrainConfig, train_model
from paperzoo.vagram.values import GradientCache, sac_values

with contextlib.redirect_stderr(io.StringIO()):  # SB3 imports the legacy `gym` if present, which prints a banner
    from stable_baselines3 import SAC
    from stable_baselines3.common.buffers import ReplayBuffer
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

__all__ = [
    "MBPOConfig",
    "MixedReplayBuffer",
    "PerNetworkSAC",
    "SACConfig",
    "evaluate",
    "make_sac",
    "random_return",
    "rollout_length",
    "run_mbpo",
    "truncated_linear",
]


class PerNetworkSAC(SAC):
    """SB3's SAC with one learning rate per network (actor, critic, entropy temperature)."""

    def __init__(self, *args, actor_lr: float, critic_lr: float, alpha_lr: float, **kwargs) -> None:
        self.network_lrs = (check_positive("actor_lr", actor_lr), check_positive("critic_lr", critic_lr))
        self.alpha_lr = check_positive("alpha_lr", alpha_lr)
        super().__init__(*args, learning_rate=critic_lr, **kwargs)
        self._update_learning_rate(
            [o for o in (self.actor.optimizer, self.critic.optimizer, self.ent_coef_optimizer) if o]
        )

    def _update_learning_rate(self, optimizers) -> None:
        rates = {id(self.actor.optimizer): self.network_lrs[0], id(self.critic.optimizer): self.network_lrs[1]}
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = rates.get(id(optimizer), self.alpha_lr)


@dataclass(frozen=True)
class SACConfig:
    """SAC settings (official Pendulum: 2 x 1024 units, lrs actor 3e-4 / critic 3e-5 / α 3e-4, α₀ 0.1,
    H̄ = -3, target update every 4 steps, batch 256, γ 0.99, τ 0.005)."""

    net_arch: tuple[int, ...] = (1024, 1024)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-5
    alpha_lr: float = 3e-4
    init_temperature: float = 0.1
    target_entropy: float = -3.0
    target_update_interval: int = 4
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005

    def __post_init__(self) -> None:
        if not self.net_arch or any(not isinstance(w, int) or w < 1 for w in self.net_arch):
            raise ValueError(f"net_arch must be a non-empty tuple of positive ints, got {self.net_arch!r}")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "init_temperature", "tau"):
            check_positive(name, getattr(self, name))
        check_positive_int("target_update_interval", self.target_update_interval)
        check_positive_int("batch_size", self.batch_size)


def make_sac(
    env: gym.Env, config: SACConfig, seed: int, buffer_size: int = 1, learning_starts: int = 100, device: str = "cpu"
) -> PerNetworkSAC:
    """An untrained SB3 SAC for ``env`` with ``config``'s per-network rates and a silent logger."""
    sac = PerNetworkSAC(
        "MlpPolicy",
        env,
        actor_lr=config.actor_lr,
        critic_lr=config.critic_lr,
        alpha_lr=config.alpha_lr,
        buffer_size=buffer_size,
        learning_starts=learning_starts,
        batch_size=config.batch_size,
        tau=config.tau,
        gamma=config.gamma,
        ent_coef=f"auto_{config.init_temperature}",
        target_entropy=config.target_entropy,
        target_update_interval=config.target_update_interval,
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=seed,
        device=device,
        verbose=0,
    )
    sac.set_logger(Logger(folder=None, output_formats=[]))
    return sac


@dataclass(frozen=True)
class MBPOConfig:
    """MBPO with the official Pendulum override as default (10k steps, epoch 100, model every 50 steps, 400
    rollouts per step of length 1, 40 SAC updates per step, 5 elites of 7, 4 x 200 models)."""

    env_id: str = "Pendulum-v1"
    distractors: int = 0
    steps: int = 10_000
    initial_steps: int = 10_000
    epoch_length: int = 100
    freq_train_model: int = 50
    rollouts_per_step: int = 400
    rollout_schedule: tuple[int, int, int, int] = (20, 150, 1, 1)  # (epoch_start, epoch_end, h_start, h_end)
    # (epoch_start, epoch_end, p_start, p_end): p = P(a SAC update trains on model data, else on real data);
    # None: model data only (the Pendulum override has no such entry)
    model_data_likelihood: tuple[float, float, float, float] | None = None
    sac_updates_per_step: int = 40
    retain_epochs: int = 1
    hidden: tuple[int, ...] = (200,) * 4
    members: int = 7
    elites: int = 5
    model: ModelTrainConfig = field(default_factory=ModelTrainConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    mse_first_epoch: bool = True  # official: VaGraM adds the plain MSE until the first epoch ends
    eval_episodes: int = 1
    final_eval_episodes: int = 5

    def __post_init__(self) -> None:
        termination_fn(self.env_id)
        check_non_negative("distractors", self.distractors)
        for name in ("steps", "epoch_length", "freq_train_model", "rollouts_per_step", "sac_updates_per_step"):
            check_positive_int(name, getattr(self, name))
        for name in ("initial_steps", "members", "elites", "retain_epochs", "eval_episodes", "final_eval_episodes"):
            check_positive_int(name, getattr(self, name))
        if self.elites > self.members:
            raise ValueError(f"elites must be <= members ({self.members}), got {self.elites}")
        if len(self.rollout_schedule) != 4 or min(self.rollout_schedule[2:]) < 1:
            raise ValueError(
                f"rollout_schedule must be (epoch_start, epoch_end, h_start>=1, h_end>=1), got {self.rollout_schedule}"
            )
        mdl = self.model_data_likelihood
        if mdl is not None and (len(mdl) != 4 or not all(0.0 <= p <= 1.0 for p in mdl[2:])):
            raise ValueError(
                f"model_data_likelihood must be (epoch_start, epoch_end, p_start, p_end), p in [0, 1], got {mdl}"
            )


def truncated_linear(schedule: tuple[float, float, float, float], x: float) -> float:
    """y_start + (y_end - y_start) · clip((x - x_start) / (x_end - x_start), 0, 1) for (x_start, x_end, y_start,
    y_end) (mbrl-lib's ``truncated_linear``: y_end when x_end - x_start < 1e-10)."""
    x0, x1, y0, y1 = schedule
    if x1 - x0 < 1e-10:
        return y1
    if x <= x0:
        return y0
    return min((x - x0) / (x1 - x0), 1.0) * (y1 - y0) + y0


def rollout_length(schedule: tuple[int, int, int, int], epoch: int) -> int:
    """h = h_start + (h_end - h_start) · clip((epoch - e_start) / (e_end - e_start), 0, 1) (truncated linear)."""
    return int(truncated_linear(schedule, epoch))


def evaluate(sac: SAC, env: gym.Env, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the deterministic policy tanh(μ(s)) over ``episodes`` episodes."""
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=derive(seed, "eval episode", i))
        done, total = False, 0.0
        while not done:
            action, _ = sac.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


class _RealBuffer:
    """D_env: transitions with SAC's scaled actions in [-1, 1] (what the model and SAC both consume)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, act_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.size = 0

    def add(
        self, obs: npt.NDArray, action: npt.NDArray, reward: float, next_obs: npt.NDArray, terminated: bool
    ) -> None:
        i = self.size
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i] = obs, action, reward, next_obs
        self.terminated[i] = terminated
        self.size += 1

    def tensors(self, device: str = "cpu") -> dict[str, torch.Tensor]:
        n = self.size
        names = ("obs", "actions", "rewards", "next_obs")
        return {k: torch.as_tensor(getattr(self, k)[:n], device=device) for k in names}

    def sample(self, batch_size: int, rng: np.random.Generator, device: str = "cpu") -> ReplayBufferSamples:
        """A uniform minibatch as SB3's ``ReplayBufferSamples`` (done = terminated; a time-limit cut is no done)."""
        i = rng.integers(self.size, size=batch_size)
        columns = (self.obs[i], self.actions[i], self.next_obs[i], self.terminated[i, None], self.rewards[i, None])
        return ReplayBufferSamples(*(torch.as_tensor(c, device=device) for c in columns))


class MixedReplayBuffer:
    """What SAC samples from under the official ``model_data_likelihood``: every ``sample`` call (one SAC update)
    draws its whole batch from the model buffer with probability ``model_fraction`` and from the real buffer
    otherwise (``mbrl/algorithms/mbpo.py``: one buffer choice per ``agent.update``)."""

    def __init__(self, model: ReplayBuffer, real: _RealBuffer, rng: np.random.Generator) -> None:
        self.model, self.real, self.rng = model, real, rng
        self.model_fraction = 1.0

    def sample(self, batch_size: int, env: object = None) -> ReplayBufferSamples:
        """One SAC update's batch: all model data with probability ``model_fraction``, else all real data."""
        if self.rng.random() < self.model_fraction:
            return self.model.sample(batch_size, env)
        return self.real.sample(batch_size, self.rng, self.model.device)


def _extend(buffer: ReplayBuffer, obs, next_obs, actions, rewards, dones) -> None:
    """Write a batch of model transitions into SB3's (single-env) replay buffer, overwriting the oldest."""
    n = len(obs)
    idx = (buffer.pos + np.arange(n)) % buffer.buffer_size
    buffer.observations[idx, 0] = obs
    buffer.next_observations[idx, 0] = next_obs
    buffer.actions[idx, 0] = actions
    buffer.rewards[idx, 0] = rewards
    buffer.dones[idx, 0] = dones
    buffer.full = buffer.full or buffer.pos + n >= buffer.buffer_size
    buffer.pos = int((buffer.pos + n) % buffer.buffer_size)


def _scaled_actions(sac: SAC, obs: npt.NDArray) -> npt.NDArray[np.float32]:
    """a ~ π(·|s) in SAC's scaled action space [-1, 1] (SB3's sampled action, before unscaling)."""
    with torch.no_grad():
        return (
            sac.actor(torch.as_tensor(obs, dtype=torch.float32, device=sac.device), deterministic=False).cpu().numpy()
        )


def run_mbpo(config: MBPOConfig, seed: int, device: str = "cpu") -> dict[str, list[float] | float]:
    """MBPO with ``config.model.loss`` on ``device``; returns the evaluation curve (per epoch), the final return
    and counters."""
    torch.manual_seed(derive(seed, "torch"))
    env = make_env(config.env_id, config.distractors, derive(seed, "distractors"))
    eval_env = make_env(config.env_id, config.distractors, derive(seed, "distractors"))
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    sac = make_sac(env, config.sac, derive(seed, "sac"), device=device)
    rollout_batch = config.rollouts_per_step * config.freq_train_model
    trains_per_epoch = -(-config.epoch_length // config.freq_train_model)
    h_max = max(config.rollout_schedule[2:])
    model_buffer = ReplayBuffer(
        h_max * rollout_batch * trains_per_epoch * config.retain_epochs,
        env.observation_space,
        env.action_space,
        device=device,
        handle_timeout_termination=False,
    )
    capacity = config.initial_steps + config.steps
    real = _RealBuffer(capacity, obs_dim, act_dim)
    mixed = None
    if config.model_data_likelihood is not None:
        mixed = MixedReplayBuffer(model_buffer, real, np.random.default_rng(derive(seed, "sac batches")))
    sac.replay_buffer = mixed or model_buffer
    model = ModelEnsemble(obs_dim, act_dim, config.hidden, config.members, config.elites).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.model.lr, weight_decay=config.model.weight_decay)
    cache = GradientCache(capacity, obs_dim, device=device) if config.model.loss != "mse" else None
    terminated_fn = termination_fn(config.env_id)
    gen = torch.Generator().manual_seed(derive(seed, "model"))
    rng = np.random.default_rng(derive(seed, "rollout starts"))
    explore = np.random.default_rng(derive(seed, "exploration"))
    episode = 0

    def step_env(obs: npt.NDArray, scaled: npt.NDArray) -> npt.NDArray:
        nonlocal episode
        next_obs, reward, terminated, truncated, _ = env.step(sac.policy.unscale_action(scaled))
        real.add(obs, scaled, reward, next_obs, terminated)
        if terminated or truncated:
            episode += 1
            next_obs, _ = env.reset(seed=derive(seed, "episode", episode))
        return next_obs

    obs, _ = env.reset(seed=derive(seed, "episode", 0))
    for _ in range(config.initial_steps):
        obs = step_env(obs, explore.uniform(-1.0, 1.0, act_dim).astype(np.float32))
    curve, val_scores, grads_computed = [], [], 0
    for step in range(config.steps):
        epoch = step // config.epoch_length
        obs = step_env(obs, _scaled_actions(sac, obs[None])[0])
        if (step + 1) % config.freq_train_model == 0:
            stats = train_model(
                model,
                real.tensors(device),
                config.model,
                gen,
                values=sac_values(sac) if cache is not None else None,
                cache=cache,
                add_mse=config.mse_first_epoch and cache is not None and epoch == 0,
                optimizer=optimizer,
            )
            val_scores.append(stats.val_score)
            grads_computed += stats.grads_computed
            start = rng.integers(real.size, size=rollout_batch)
            s = real.obs[start]
            alive = np.ones(rollout_batch, dtype=bool)
            for _ in range(rollout_length(config.rollout_schedule, epoch + 1)):
                a = _scaled_actions(sac, s)
                with torch.no_grad():
                    s_next, r = model.sample(torch.as_tensor(s, device=device), torch.as_tensor(a, device=device), gen)
                s_next, r = s_next.cpu().numpy(), r.cpu().numpy()
                done = terminated_fn(s_next)
                _extend(model_buffer, s[alive], s_next[alive], a[alive], r[alive], done[alive])
                alive &= ~done
                s = s_next
                if not alive.any():
                    break
        if model_buffer.size() >= config.sac.batch_size:
            if mixed is not None:
                mixed.model_fraction = truncated_linear(config.model_data_likelihood, epoch + 1)
            sac.train(gradient_steps=config.sac_updates_per_step, batch_size=config.sac.batch_size)
        if (step + 1) % config.epoch_length == 0:
            curve.append(evaluate(sac, eval_env, config.eval_episodes, derive(seed, "eval", epoch)))
    final = evaluate(sac, eval_env, config.final_eval_episodes, derive(seed, "final eval"))
    return {
        "return_curve": curve,
        "final_return": final,
        "val_score_curve": val_scores,
        "grads_computed": float(grads_computed),
        "temperature": float(sac.log_ent_coef.exp().item()),
    }


def random_return(env_id: str, distractors: int, episodes: int, seed: int) -> float:
    """Mean return of the uniform random policy (the non-degeneracy reference)."""
    env = make_env(env_id, distractors, derive(seed, "distractors"))
    env.action_space.seed(derive(seed, "random policy"))
    returns = []
    for i in range(episodes):
        env.reset(seed=derive(seed, "random episode", i))
        done, total = False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))
