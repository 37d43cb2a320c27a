"""Deep IWOCS on Pendulum-v1 with Stable-Baselines3's TD3, and the TD3 baselines (nominal, domain randomisation).

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
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch as th

from paperzoo.iwocs.pendulum import ParametricPendulum, Sampler, box_grid, grid_returns
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


def make_td3(env: ParametricPendulum, steps: int, seed: int, config: TD3Config) -> TD3:
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
        action_noise=NormalActionNoise(np.zeros(1), np.full(1, config.noise_std)),
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
    """The Pendulum experiment: Ω box, TD3 budget, IWOCS iterations and search, evaluation grid."""

    low: tuple[float, float] = (0.5, 0.5)  # (m, l)
    high: tuple[float, float] = (2.0, 1.5)
    nominal: tuple[float, float] = (1.0, 1.0)
    iterations: int = 4
    steps_per_iteration: int = 10_000
    search_points: int = 7  # worst-case search grid per dimension
    search_episodes: int = 3
    reeval_episodes: int = 10
    eval_points: int = 5
    eval_episodes: int = 5
    nominal_episodes: int = 20
    td3: TD3Config = field(default_factory=TD3Config)

    def __post_init__(self) -> None:
        for name in ("iterations", "steps_per_iteration", "search_points", "search_episodes", "reeval_episodes"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_points", "eval_episodes", "nominal_episodes"):
            check_positive_int(name, getattr(self, name))
        for m, l in (self.low, self.high, self.nominal):  # noqa: E741
            check_positive("m", m)
            check_positive("l", l)
        if any(a > b for a, b in zip(self.low, self.high, strict=True)):
            raise ValueError(f"low must be <= high (lower bound above upper bound), got {self.low} > {self.high}")

    @property
    def total_steps(self) -> int:
        """Environment steps every arm gets."""
        return self.iterations * self.steps_per_iteration


@dataclass
class DeepIWOCS:
    """A deep IWOCS run: the found models and the frozen (actor, critic) pairs, the robust policy over them."""

    model: TD3
    actors: list[th.nn.Module] = field(default_factory=list)
    critics: list[th.nn.Module] = field(default_factory=list)
    omegas: list[tuple[float, float]] = field(default_factory=list)
    worst_returns: list[float] = field(default_factory=list)  # re-evaluated return at each found worst ω

    def act(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The robust (pessimistic) policy's actions for a batch of observations."""
        actions, _ = pessimistic_actions(th.as_tensor(obs), self.actors, self.critics)
        return self.model.policy.unscale_action(actions.numpy()).astype(np.float64)


def train_iwocs(config: DeepConfig, seed: int) -> DeepIWOCS:
    """Deep IWOCS (module docstring): ``config.iterations`` static TD3 problems, worst-case search after each."""
    env = ParametricPendulum(config.nominal)
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
        returns = grid_returns(run.act, search, config.search_episodes, derive(seed, "search", i))
        omega = tuple(float(x) for x in search[int(np.argmin(returns))])
        fresh = grid_returns(run.act, np.asarray([omega]), config.reeval_episodes, derive(seed, "reeval", i))
        run.worst_returns.append(float(fresh[0]))
    return run


def train_td3(config: DeepConfig, seed: int, sampler: Sampler | None = None) -> Act:
    """TD3 for ``config.total_steps`` steps on the nominal model, or with ω ~ ``sampler`` per episode (DR)."""
    env = ParametricPendulum(config.nominal, sampler=sampler)
    model = make_td3(env, config.total_steps, seed, config.td3)
    model.learn(config.total_steps)
    return td3_actor(model)


def random_policy(seed: int) -> Act:
    """Uniform random torques in [-2, 2] (the trivial baseline every arm must beat)."""
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(-2.0, 2.0, (len(obs), 1))
