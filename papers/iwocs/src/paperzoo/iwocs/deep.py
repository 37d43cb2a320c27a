"""Deep IWOCS with Stable-Baselines3's TD3, and the TD3 baselines (nominal, domain randomisation), on Pendulum-v1
(ω = (m, l)) or on a MuJoCo task with one of M2TD3's uncertainty sets (``robust_mujoco``).

Deep IWOCS (iteration i = 0 .. I-1, ω_0 = nominal):
    train TD3 on the static model ω_i (warm start: the previous iteration's networks; a fresh replay buffer so
        that the critic Q_i is the critic of model ω_i), freeze (μ_i, Q_i) and add it to the found set;
    robust policy (:func:`pessimistic_actions`): at s, j*(s) = argmin_j Q_j(s, μ_j(s)), act μ_{j*(s)}(s);
    worst-case search: ω_{i+1} = argmin_ω of the robust policy's Monte-Carlo return over a grid of Ω,
        re-evaluated with fresh episodes (the reported worst-case return).
TD3 (Fujimoto et al. 2018) is SB3's, with the same settings for every arm; all arms see the same total
environment steps (IWOCS: I x steps per iteration).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch as th

from paperzoo.iwocs.pendulum import ParametricPendulum, Sampler, box_grid, grid_returns
from paperzoo.iwocs.robust_mujoco import ENV_IDS, PARAMETERS, ParametricMujoco, m2td3_set, mujoco_returns
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

with contextlib.redirect_stderr(io.StringIO()):  # SB3 imports the legacy `gym` if present, which prints a banner
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

Act = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class TD3Config:
    """SB3 TD3 settings shared by every arm (rl-zoo's Pendulum-v1 recipe: lr 1e-3, γ = 0.98, N(0, 0.1) noise,
    one update per step; smaller networks and learning_starts than the zoo's 400-300 and 10k, for CPU)."""

    net_arch: tuple[int, ...] = (64, 64)
    learning_rate: float = 1e-3
    gamma: float = 0.98
    batch_size: int = 128
    learning_starts: int = 1000
    noise_std: float = 0.1

    def __post_init__(self) -> None:
        if not self.net_arch or any(int(w) < 1 for w in self.net_arch):
            raise ValueError(f"net_arch must be positive widths, got {self.net_arch}")
        check_positive("learning_rate", self.learning_rate)
        check_range("gamma", self.gamma, 0.0, 1.0, high_inclusive=False)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("learning_starts", self.learning_starts)
        check_positive("noise_std", self.noise_std)


def make_td3(env: gym.Env, steps: int, seed: int, config: TD3Config) -> TD3:
    """An untrained SB3 TD3 on ``env`` with a replay buffer that holds ``steps`` transitions."""
    env.reset(seed=derive(seed, "env"))
    return TD3(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        buffer_size=steps,
        learning_starts=config.learning_starts,
        batch_size=config.batch_size,
        gamma=config.gamma,
        action_noise=NormalActionNoise(
            np.zeros(env.action_space.shape), np.full(env.action_space.shape, config.noise_std)
        ),
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=derive(seed, "td3"),
        device="cpu",
        verbose=0,
    )


def td3_actor(model: TD3) -> Act:
    """The deterministic policy a = μ(s) of a TD3 model, batched (SB3's action unscaling)."""
    actor = copy.deepcopy(model.policy.actor).eval()

    def act(obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        with th.no_grad():
            return model.policy.unscale_action(actor(th.as_tensor(obs)).numpy()).astype(np.float64)

    return act


def pessimistic_actions(
    obs: th.Tensor, actors: list[th.nn.Module], critics: list[th.nn.Module]
) -> tuple[th.Tensor, th.Tensor]:
    """Robust action: a_j = μ_j(s), j*(s) = argmin_j Q_j(s, a_j) (first critic head), a = a_{j*(s)}.

    Returns the actions (n, action dim, in [-1, 1]) and j* (n,).
    """
    with th.no_grad():
        acts = th.stack([actor(obs) for actor in actors])  # (J, n, d)
        values = th.stack([critic.q1_forward(obs, a)[:, 0] for critic, a in zip(critics, acts, strict=True)])
        pick = values.argmin(0)
        return acts[pick, th.arange(len(obs))], pick


@dataclass(frozen=True)
class DeepConfig:
    """The deep experiment: the environment ("Pendulum" or a ``robust_mujoco.ENV_IDS`` key), its uncertain
    parameters ``names`` and box Ω = [low, high], the nominal model, TD3 budget, IWOCS iterations and search
    grid, evaluation grid."""

    env: str = "Pendulum"
    names: tuple[str, ...] = ("m", "l")
    low: tuple[float, ...] = (0.5, 0.5)  # the Pendulum box: README, Design, "Why Ω = ..."
    high: tuple[float, ...] = (1.5, 1.5)
    nominal: tuple[float, ...] = (1.0, 1.0)
    iterations: int = 4
    steps_per_iteration: int = 10_000
    search_points: int = 7  # worst-case search grid per dimension
    search_episodes: int = 10
    reeval_episodes: int = 50
    eval_points: int = 5
    eval_episodes: int = 100  # per grid point: batched, so cheap; the worst case is a min over noisy means
    nominal_episodes: int = 200
    td3: TD3Config = field(default_factory=TD3Config)

    def __post_init__(self) -> None:
        for name in ("iterations", "steps_per_iteration", "search_points", "search_episodes", "reeval_episodes"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_points", "eval_episodes", "nominal_episodes"):
            check_positive_int(name, getattr(self, name))
        known = {"Pendulum": ("m", "l"), **{env: tuple(PARAMETERS[env]) for env in ENV_IDS}}
        if self.env not in known:
            raise ValueError(f"env must be one of {sorted(known)}, got {self.env!r}")
        if not set(self.names) <= set(known[self.env]) or (self.env == "Pendulum" and self.names != ("m", "l")):
            raise ValueError(f"names must be parameters of {self.env} ({known[self.env]}), got {self.names}")
        if not len(self.low) == len(self.high) == len(self.nominal) == len(self.names):
            raise ValueError(f"low, high and nominal must give one value per name {self.names}")
        for bound in (self.low, self.high, self.nominal):
            for name, value in zip(self.names, bound, strict=True):
                check_positive(name, value)
        if any(a > b for a, b in zip(self.low, self.high, strict=True)):
            raise ValueError(f"low must be <= high (lower bound above upper bound), got {self.low} > {self.high}")

    @property
    def total_steps(self) -> int:
        """Environment steps every arm gets."""
        return self.iterations * self.steps_per_iteration


def on_m2td3_set(template: DeepConfig, name: str) -> DeepConfig:
    """``template``'s budget, search and evaluation settings on M2TD3's uncertainty set ``name`` (its env,
    parameters, box and nominal model)."""
    env, names, low, high, nominal = m2td3_set(name)
    return dataclasses.replace(template, env=env, names=names, low=low, high=high, nominal=nominal)


@dataclass
class DeepIWOCS:
    """A deep IWOCS run: the found models and the frozen (actor, critic) pairs, the robust policy over them."""

    model: TD3
    actors: list[th.nn.Module] = field(default_factory=list)
    critics: list[th.nn.Module] = field(default_factory=list)
    omegas: list[tuple[float, ...]] = field(default_factory=list)
    worst_returns: list[float] = field(default_factory=list)  # re-evaluated return at each found worst ω

    def act(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The robust (pessimistic) policy's actions for a batch of observations."""
        actions, _ = pessimistic_actions(th.as_tensor(obs), self.actors, self.critics)
        return self.model.policy.unscale_action(actions.numpy()).astype(np.float64)


def train_iwocs(config: DeepConfig, seed: int) -> DeepIWOCS:
    """Deep IWOCS (module docstring): ``config.iterations`` static TD3 problems, worst-case search after each."""
    env = make_env(config)
    model = make_td3(env, config.steps_per_iteration, seed, config.td3)
    run = DeepIWOCS(model)
    omega = config.nominal
    search = box_grid(config.low, config.high, config.search_points)
    for i in range(config.iterations):
        env.set_params(*omega)
        run.omegas.append(omega)
        model.replay_buffer.reset()
        model.learn(config.steps_per_iteration, reset_num_timesteps=i == 0)
        run.actors.append(copy.deepcopy(model.actor).eval())
        run.critics.append(copy.deepcopy(model.critic).eval())
        returns = evaluate(config, run.act, search, config.search_episodes, derive(seed, "search", i))
        omega = tuple(float(x) for x in search[int(np.argmin(returns))])
        fresh = evaluate(config, run.act, np.asarray([omega]), config.reeval_episodes, derive(seed, "reeval", i))
        run.worst_returns.append(float(fresh[0]))
    return run


def train_td3(config: DeepConfig, seed: int, sampler: Sampler | None = None) -> Act:
    """TD3 for ``config.total_steps`` steps on the nominal model, or with ω ~ ``sampler`` per episode (DR)."""
    env = make_env(config, sampler)
    model = make_td3(env, config.total_steps, seed, config.td3)
    model.learn(config.total_steps)
    return td3_actor(model)


def random_policy(config: DeepConfig, seed: int) -> Act:
    """Uniform random actions in the env's action box (the trivial baseline every arm must beat)."""
    rng = np.random.default_rng(seed)
    space = make_env(config).action_space
    return lambda obs: rng.uniform(space.low, space.high, (len(obs), *space.shape))


def make_env(config: DeepConfig, sampler: Sampler | None = None) -> gym.Env:
    """The training env of ``config``: its nominal model for every episode, or ω ~ ``sampler`` per episode."""
    if config.env == "Pendulum":
        return ParametricPendulum(config.nominal, sampler=sampler)
    return ParametricMujoco(config.env, config.names, config.nominal, sampler)


def evaluate(config: DeepConfig, act: Act, omegas: npt.ArrayLike, episodes: int, seed: int) -> npt.NDArray[np.float64]:
    """Mean return of ``act`` at each ω row of ``omegas`` (static episodes, one batched ``act`` call per step):
    the numpy-batched Pendulum, or MuJoCo envs stepped in lock-step."""
    if config.env == "Pendulum":
        return grid_returns(act, np.asarray(omegas), episodes, seed)
    return mujoco_returns(config.env, config.names, act, omegas, episodes, seed)
