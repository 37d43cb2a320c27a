"""A small first-order MAML learner (Finn et al. 2017) with vanilla policy gradient, for ML1.

Policy: a Gaussian π_θ(a|s) = N(μ_θ(s), diag σ²) with μ_θ an MLP (tanh hidden units) and a state-independent
log σ in θ; actions are clipped to [-1, 1] by the environment.

Inner step (VPG, REINFORCE with a time-dependent baseline), on the episodes D_i collected with θ in task i:

    Ĝ_t     = Σ_{t' ≥ t} γ^{t'-t} r_{t'}                                       (reward-to-go)
    Â_t     = (Ĝ_t - mean(Ĝ)) / std(Ĝ)       (whitened over the batch's steps: a constant baseline)
    g_i(θ)  = (1/|D_i|) Σ_t ∇_θ log π_θ(a_t|s_t) Â_t
    θ'_i    = θ + β g_i(θ)                                                      (β = inner_lr)

Meta step (first-order MAML): collect D'_i with θ'_i, and ascend the average post-adaptation policy gradient
evaluated at the adapted parameters, ignoring the second-order term of dθ'_i/dθ:

    θ ← Adam(θ, (1/n) Σ_i g'_i(θ'_i))

The official MAML baseline of Meta-World is second-order MAML with a TRPO outer step and a linear-feature
baseline (garage); this learner keeps the adaptation protocol (VPG inner step on ``adaptation_episodes``
episodes) and is sized for a few minutes of CPU. It implements :class:`~paperzoo.metaworld.protocol.MetaLearningAgent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch as th
from torch.func import functional_call

from paperzoo.metaworld.agents._checks import check_widths
from paperzoo.metaworld.protocol import Timestep
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

__all__ = ["GaussianMLP", "MAMLConfig", "MAMLVPGAgent", "train_maml", "vpg_gradient"]

Params = dict[str, th.Tensor]


class GaussianMLP(th.nn.Module):
    """μ_θ(s) = MLP(s) (tanh hidden units), log σ a free parameter vector."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...] = (64, 64), init_log_std: float = 0.0):
        super().__init__()
        layers: list[th.nn.Module] = []
        width = obs_dim
        for h in hidden:
            layers += [th.nn.Linear(width, h), th.nn.Tanh()]
            width = h
        layers.append(th.nn.Linear(width, action_dim))
        self.mean = th.nn.Sequential(*layers)
        self.log_std = th.nn.Parameter(th.full((action_dim,), float(init_log_std)))

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.mean(obs), self.log_std.expand(obs.shape[0], -1)


def _log_prob(policy: GaussianMLP, params: Params, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
    mean, log_std = functional_call(policy, params, (obs,))
    return th.distributions.Normal(mean, log_std.exp()).log_prob(actions).sum(-1)


def advantages(rewards: npt.NDArray, gamma: float) -> npt.NDArray:
    """Â for a batch of equal-length episodes ``rewards[episode, t]``: the whitened reward-to-go."""
    returns = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return (returns - returns.mean()) / (returns.std() + 1e-8)


def vpg_gradient(
    policy: GaussianMLP, params: Params, obs: th.Tensor, actions: th.Tensor, adv: th.Tensor
) -> dict[str, th.Tensor]:
    """g = ∇_θ mean_t log π_θ(a_t|s_t) Â_t at ``params`` (the ascent direction)."""
    objective = (_log_prob(policy, params, obs, actions) * adv).mean()
    grads = th.autograd.grad(objective, list(params.values()))
    return dict(zip(params, grads, strict=True))


@dataclass(frozen=True)
class MAMLConfig:
    """First-order MAML-VPG settings (inner_lr: β; meta_lr: the Adam step of the meta-update)."""

    hidden: tuple[int, ...] = (64, 64)
    inner_lr: float = 0.05
    meta_lr: float = 3e-3
    gamma: float = 0.99
    init_log_std: float = -0.5

    def __post_init__(self) -> None:
        check_widths("hidden", self.hidden)
        check_positive("inner_lr", self.inner_lr)
        check_positive("meta_lr", self.meta_lr)
        check_range("gamma", self.gamma, 0.0, 1.0)


class MAMLVPGAgent:
    """The meta-learning agent: θ (meta-learned) and per-sub-env adapted parameters θ'_i.

    ``adapt_action`` samples from π_{θ'_i}; ``eval_action`` is its mean; ``adapt`` takes one VPG step per sub-env
    on the episodes recorded since the last ``init``/``adapt``. ``adapt_enabled=False`` turns the agent into its
    own no-adaptation baseline (θ for every task). ``seed`` initialises θ; the actions are sampled from a generator
    seeded with ``derive(seed, "maml action sampling")``.
    """

    def __init__(
        self, num_envs: int, obs_dim: int = 39, action_dim: int = 4, config: MAMLConfig | None = None, seed: int = 0
    ):
        self.num_envs = check_positive_int("num_envs", num_envs)
        self.config = config or MAMLConfig()
        gen_state = th.random.get_rng_state()
        th.manual_seed(seed)
        self.policy = GaussianMLP(obs_dim, action_dim, self.config.hidden, self.config.init_log_std)
        th.random.set_rng_state(gen_state)
        self.generator = th.Generator().manual_seed(derive(seed, "maml action sampling"))
        self.optimizer = th.optim.Adam(self.policy.parameters(), lr=self.config.meta_lr)
        self.adapt_enabled = True
        self.init()

    def set_num_envs(self, num_envs: int) -> None:
        """Serve a vector env of ``num_envs`` sub-envs (a held-out-task split's test envs), starting from θ."""
        self.num_envs = check_positive_int("num_envs", num_envs)
        self.init()

    # -- the MetaLearningAgent protocol -------------------------------------------------------------
    def init(self) -> None:
        """θ'_i ← θ for every sub-env; forget recorded transitions."""
        theta = {k: v.detach() for k, v in self.policy.named_parameters()}
        self.adapted: list[Params] = [dict(theta) for _ in range(self.num_envs)]
        self._clear()

    def _clear(self) -> None:
        self._obs: list[npt.NDArray] = []
        self._actions: list[npt.NDArray] = []
        self._rewards: list[npt.NDArray] = []
        self._dones: list[npt.NDArray] = []

    def _means(self, obs: npt.NDArray) -> tuple[th.Tensor, th.Tensor]:
        x = th.as_tensor(np.asarray(obs), dtype=th.float32)
        with th.no_grad():
            out = [functional_call(self.policy, p, (x[i : i + 1],)) for i, p in enumerate(self.adapted)]
        return th.cat([m for m, _ in out]), th.cat([s for _, s in out])

    def adapt_action(self, observations: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], dict]:
        """a ~ N(μ_{θ'_i}(s_i), σ²_i) per sub-env."""
        mean, log_std = self._means(observations)
        noise = th.randn(mean.shape, generator=self.generator)
        actions = (mean + log_std.exp() * noise).numpy().astype(np.float64)
        return actions, {"means": mean.numpy(), "stds": log_std.exp().numpy()}

    def step(self, timestep: Timestep) -> None:
        """Record one transition of every sub-env."""
        self._obs.append(np.asarray(timestep.observation, dtype=np.float32))
        self._actions.append(np.asarray(timestep.action, dtype=np.float32))
        self._rewards.append(np.asarray(timestep.reward, dtype=np.float64))
        self._dones.append(np.logical_or(timestep.terminated, timestep.truncated))

    def adapt(self) -> None:
        """θ'_i ← θ'_i + β g_i(θ'_i) on each sub-env's episodes recorded since the last call."""
        if self.adapt_enabled and self._obs:
            grads = self._gradients()
            self.adapted = [
                {k: p[k] + self.config.inner_lr * g[k] for k in p} for p, g in zip(self.adapted, grads, strict=True)
            ]
        self._clear()

    def eval_action(self, observations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """μ_{θ'_i}(s_i) per sub-env."""
        mean, _ = self._means(observations)
        return mean.numpy().astype(np.float64)

    def reset(self, env_mask: npt.NDArray[np.bool_]) -> None:
        """Feed-forward: no per-episode state."""

    # -- gradients --------------------------------------------------------------------------------
    def _episodes(self, i: int) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Sub-env i's complete episodes since the last clear, as (obs, actions, advantages), flattened."""
        dones = np.asarray(self._dones)[:, i]
        ends = np.flatnonzero(dones)
        if ends.size == 0:
            raise RuntimeError(f"sub-env {i} finished no episode since the last adaptation")
        lengths = np.diff(np.concatenate([[-1], ends]))
        if np.any(lengths != lengths[0]):
            raise RuntimeError("MAML-VPG needs equal-length episodes (terminate_on_success must be off)")
        stop = ends[-1] + 1
        obs = np.asarray(self._obs)[:stop, i].reshape(len(ends), lengths[0], -1)
        act = np.asarray(self._actions)[:stop, i].reshape(len(ends), lengths[0], -1)
        rew = np.asarray(self._rewards)[:stop, i].reshape(len(ends), lengths[0])
        adv = advantages(rew, self.config.gamma)
        return (
            th.as_tensor(obs.reshape(-1, obs.shape[-1])),
            th.as_tensor(act.reshape(-1, act.shape[-1])),
            th.as_tensor(adv.reshape(-1), dtype=th.float32),
        )

    def _gradients(self) -> list[dict[str, th.Tensor]]:
        out = []
        for i, params in enumerate(self.adapted):
            obs, act, adv = self._episodes(i)
            leaf = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            out.append(vpg_gradient(self.policy, leaf, obs, act, adv))
        return out

    def meta_update(self) -> None:
        """θ ← Adam(θ, mean_i g'_i(θ'_i)): the first-order meta-gradient from the post-adaptation episodes."""
        grads = self._gradients()
        self.optimizer.zero_grad()
        for name, param in self.policy.named_parameters():
            # Adam minimises: hand it the negated ascent direction.
            param.grad = -th.stack([g[name] for g in grads]).mean(0)
        self.optimizer.step()
        self._clear()


def _run_episodes(agent: MAMLVPGAgent, envs: gym.vector.VectorEnv, episodes: int) -> float:
    """Roll ``episodes`` episodes per sub-env with ``adapt_action``, recording them; mean success of the last step."""
    obs, _ = envs.reset()
    finished = np.zeros(envs.num_envs, dtype=np.int64)
    success = []
    while (finished < episodes).any():
        actions, aux = agent.adapt_action(obs)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        agent.step(Timestep(obs, actions, rewards, terminated, truncated, aux))
        done = np.logical_or(terminated, truncated)
        finished += done
        if done.any():
            success += list(np.asarray(infos["final_info"]["success"])[done])
        obs = next_obs
    return float(np.mean(success))


def train_maml(
    agent: MAMLVPGAgent, train_envs: gym.vector.VectorEnv, iterations: int, episodes_per_task: int = 1
) -> list[float]:
    """First-order MAML meta-training on ML train envs; returns the post-adaptation success per iteration.

    Each iteration: a new train variation per sub-env (``sample_tasks``); ``episodes_per_task`` episodes with θ;
    one inner VPG step per sub-env; ``episodes_per_task`` episodes with θ'_i; the meta-update.
    """
    check_positive_int("iterations", iterations)
    check_positive_int("episodes_per_task", episodes_per_task)
    if train_envs.num_envs != agent.num_envs:
        raise ValueError(
            f"train_envs must have {agent.num_envs} sub-envs (the agent's num_envs), got {train_envs.num_envs}"
        )
    train_envs.call("toggle_sample_tasks_on_reset", False)
    train_envs.call("toggle_terminate_on_success", False)
    curve = []
    for _ in range(iterations):
        train_envs.call("sample_tasks")
        agent.init()
        _run_episodes(agent, train_envs, episodes_per_task)
        agent.adapt()
        curve.append(_run_episodes(agent, train_envs, episodes_per_task))
        agent.meta_update()
    agent.init()
    return curve
