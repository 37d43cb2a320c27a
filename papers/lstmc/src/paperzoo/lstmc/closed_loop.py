"""The plant in the loop: one batched closed-loop evaluator for every controller, and the Gymnasium environment.

Every hour ``k`` a controller sees its history ``(N, k + 1, 4)`` of measurements ``[L, c, T, T_j^prev]`` (``L`` the
mean size L43 in um, multiplied by ``1 + noise * eps``, ``eps ~ N(0, 1)``; ``T_j^prev`` the jacket temperature held
over the previous hour, ``T0`` at k = 0) and returns the jacket temperature for the next hour. The first hour is
part of the initial condition (``T_j(0) = T(0)``, as in the open-loop data); controllers act at hours 1..23.
The metric is the true final deviation ``|L(t_f) - L_sp| / L_sp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np

from paperzoo.lstmc.dextrose import (
    DEFAULT_GRID,
    DEFAULT_SOLVER,
    T_MAX,
    T_MIN,
    Grid,
    InitialConditions,
    Solver,
    advance,
    check_noise,
    initial_state,
    make_model,
    mean_size_um,
    sample_initial_conditions,
)
from paperzoo.shared.validate import check_positive, check_positive_int

HOURS = 24


class Controller(Protocol):
    """A feedback law: ``reset`` at the start of a batch, then one jacket temperature per episode each hour."""

    def reset(self, set_points: np.ndarray) -> None: ...

    def act(self, history: np.ndarray, hours_left: int) -> np.ndarray: ...


@dataclass
class ClosedLoopResult:
    """``L`` (N, hours + 1) true hourly mean size (um), ``history`` (N, hours + 1, 4) what the controller saw
    (``[L_measured, c, T, T_j^prev]``), ``T_j`` (N, hours) the applied jacket temperatures."""

    L: np.ndarray
    history: np.ndarray
    T_j: np.ndarray
    set_points: np.ndarray

    @property
    def deviation(self) -> np.ndarray:
        """``|L(t_f) - L_sp| / L_sp`` per episode (a fraction)."""
        return np.abs(self.L[:, -1] - self.set_points) / self.set_points


def check_set_points(set_points: np.ndarray) -> np.ndarray:
    """Require positive, finite set-points (``ValueError`` naming ``set_point``)."""
    sp = np.atleast_1d(np.asarray(set_points, dtype=np.float64))
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"set_point must be > 0 um, got {sp.min() if sp.size else sp!r}")
    return sp


def closed_loop(
    controller: Controller | None,
    ic: InitialConditions,
    set_points: np.ndarray,
    *,
    model: str = "pbe",
    noise: float = 0.0,
    seed: int = 0,
    hours: int = HOURS,
    grid: Grid = DEFAULT_GRID,
    solver: Solver = DEFAULT_SOLVER,
    profile: np.ndarray | None = None,
) -> ClosedLoopResult:
    """Run ``len(ic)`` batches at once on the ``model`` plant under ``controller`` (or the fixed hourly ``profile``,
    (N, hours), when ``controller`` is None: the set-point-blind open loop). ``seed`` draws the sensor noise."""
    sp = np.broadcast_to(check_set_points(set_points), (len(ic),)).copy()
    check_noise(noise)
    check_positive_int("hours", hours)
    if (controller is None) == (profile is None):
        raise ValueError("give exactly one of controller and profile")
    plant = make_model(model, grid)
    rng = np.random.default_rng(seed)
    y = initial_state(plant, ic, grid)
    n = len(ic)
    L_true = np.empty((n, hours + 1))
    history = np.empty((n, hours + 1, 4))
    T_j = np.empty((n, hours))
    if controller is not None:
        controller.reset(sp)
    prev = ic.T0
    for k in range(hours + 1):
        L_true[:, k] = mean_size_um(plant.moments(y))
        measured = L_true[:, k] * (1.0 + noise * rng.standard_normal(n))
        history[:, k] = np.column_stack([measured, y[:, -2], y[:, -1], prev])
        if k == hours:
            break
        if k == 0:
            u = ic.T0
        elif controller is None:
            u = profile[:, k]
        else:
            u = np.clip(np.asarray(controller.act(history[:, : k + 1], hours - k), dtype=np.float64), T_MIN, T_MAX)
        T_j[:, k] = prev = u
        y = advance(plant, y, u, solver)[-1]
    return ClosedLoopResult(L_true, history, T_j, sp)


def reference_profile(T0: np.ndarray, hours: int = HOURS) -> np.ndarray:
    """The set-point-blind open loop: ``T_j = T0 - floor(t / 1 h)`` degC, clipped to [5, 40] (N, hours)."""
    return np.clip(np.asarray(T0)[:, None] - np.arange(hours)[None, :], T_MIN, T_MAX)


class DextroseCrystallizer(gym.Env):
    """One batch as a Gymnasium environment: the action is the next hour's jacket temperature in [5, 40] degC.

    Observation ``[L_measured (um), c (kg/kg slurry), T (degC), T_j^prev (degC), L_sp (um), hours left]``; reward 0
    until the last hour, then ``-|L(t_f) - L_sp| / L_sp``. ``reset`` draws the initial condition from the
    CrystalGPT sampler and, unless ``set_point`` is fixed, a set-point ``~ U(set_point_range)``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        model: str = "moment",
        set_point: float | None = None,
        noise: float = 0.0,
        hours: int = HOURS,
        n_cells: int = 250,
        set_point_range: tuple[float, float] = (120.0, 260.0),
        solver: Solver = DEFAULT_SOLVER,
    ) -> None:
        self.grid = Grid(n_cells)
        self.plant = make_model(model, self.grid)
        if set_point is not None:
            check_positive("set_point", set_point)
        self.set_point, self.noise = set_point, check_noise(noise)
        self.hours = check_positive_int("hours", hours)
        self.range, self.solver = set_point_range, solver
        self.action_space = gym.spaces.Box(T_MIN, T_MAX, (1,), np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (6,), np.float64)

    def _obs(self) -> np.ndarray:
        L = float(mean_size_um(self.plant.moments(self.y))[0])
        self.L = L
        measured = L * (1.0 + self.noise * self.np_random.standard_normal())
        return np.array([measured, self.y[0, -2], self.y[0, -1], self.prev, self.sp, self.hours - self.k])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.ic = sample_initial_conditions(1, self.np_random)
        self.sp = self.set_point if self.set_point is not None else float(self.np_random.uniform(*self.range))
        self.y, self.k, self.prev = initial_state(self.plant, self.ic, self.grid), 0, float(self.ic.T0[0])
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        u = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], T_MIN, T_MAX))
        self.y = advance(self.plant, self.y, np.array([u]), self.solver)[-1]
        self.k, self.prev = self.k + 1, u
        obs = self._obs()
        done = self.k >= self.hours
        reward = -abs(self.L - self.sp) / self.sp if done else 0.0
        return obs, reward, done, False, {"L": self.L}
