"""The Sitapure & Kwon batch dextrose crystallizer (1 kg slurry basis, SI units, L in metres, T in degC).

Kinetics (size-independent growth, so the moments close exactly):

- solubility ``c_sat(T) = (0.804 T + 29.94) / 100`` kg dextrose / kg solution (T in degC);
- supersaturation ``S = (c / (1 - M_T)) / c_sat(T)``, c in kg / kg slurry, ``M_T = k_v rho_c mu_3``;
- growth ``G = 1.14e-3 exp(-29549 / (8.314 T_K)) (S - 1)^1.05`` m/s for S > 1, else 0;
- nucleation ``B = 4.50e4 M_T^0.49 (S - 1)^1.41`` #/s/kg for S > 1, else 0, born at ``L0 = 1 um``;
- energy ``dT/dt = U A (T_j - T) / (m Cp)`` (time constant ``m Cp / (U A) = 2091 s``).

Two plants share them: the 7-state moment ODE (``dmu_0/dt = B``, ``dmu_j/dt = j G mu_{j-1} + B L0^j``,
``dc/dt = -k_v rho_c (3 G mu_2 + B L0^3)``) and the population balance ``dF/dt + G dF/dL = 0`` on ``n_cells``
cells (the authors' central scheme, inflow ``G F(L0) = B``, last cell one-sided). Both run many batches at once
(one block-diagonal system per hour of piecewise-constant jacket temperature), through one integrator interface
(:func:`advance`, :class:`Solver`): scipy's BDF (``solve_ivp``, the PBE's default) or ODEPACK's LSODA (``odeint``,
the moment ODE's default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.integrate import odeint, solve_ivp

from paperzoo.shared.validate import (
    check_non_negative,
    check_one_of,
    check_positive,
    check_positive_int,
    check_range,
)

KV = 1.0  # volume shape factor (cubic)
RHO_C = 1540.0  # crystal density, kg/m^3
L0 = 1e-6  # nucleus size, m
UA = 200.0 * 0.01  # W/K
MCP = 1.0 * 4182.0  # J/K
TAU = MCP / UA  # s, 2091
HOUR = 3600.0
T_MIN, T_MAX = 5.0, 40.0  # jacket bounds, degC
L_MIN_UM, L_MAX_UM = 1.0, 500.0
MAX_SOLIDS = 0.95  # kg dextrose (dissolved + seed) per kg slurry: our bound, see the README


def solubility(T: np.ndarray | float) -> np.ndarray:
    """``c_sat = (0.804 T + 29.94) / 100`` kg dextrose per kg solution, T in degC."""
    return (0.804 * np.asarray(T, dtype=np.float64) + 29.94) / 100.0


def supersaturation(c: np.ndarray, T: np.ndarray, M_T: np.ndarray) -> np.ndarray:
    """``S = (c / (1 - M_T)) / c_sat(T)``: c per kg slurry converted to per kg solution."""
    return np.asarray(c) / (1.0 - np.asarray(M_T)) / solubility(T)


def growth_rate(S: np.ndarray | float, T: np.ndarray | float) -> np.ndarray:
    """``G = 1.14e-3 exp(-29549 / (8.314 (T + 273.15))) (S - 1)^1.05`` m/s for S > 1, else 0 (T in degC)."""
    s1 = np.maximum(np.asarray(S, dtype=np.float64) - 1.0, 0.0)
    return 1.14e-3 * np.exp(-29549.0 / (8.314 * (np.asarray(T, dtype=np.float64) + 273.15))) * s1**1.05


def nucleation_rate(S: np.ndarray | float, M_T: np.ndarray | float) -> np.ndarray:
    """``B = 4.50e4 M_T^0.49 (S - 1)^1.41`` #/s per kg slurry for S > 1, else 0."""
    s1 = np.maximum(np.asarray(S, dtype=np.float64) - 1.0, 0.0)
    return 4.50e4 * np.maximum(np.asarray(M_T, dtype=np.float64), 0.0) ** 0.49 * s1**1.41


@dataclass(frozen=True)
class Grid:
    """The size grid: ``n_cells`` centres ``linspace(1, 500, n)`` um and edges ``linspace(1, 500, n + 1)`` um (in m)."""

    n_cells: int = 250

    def __post_init__(self) -> None:
        if not isinstance(self.n_cells, int) or self.n_cells < 3:
            raise ValueError(f"n_cells must be an integer >= 3, got {self.n_cells!r}")

    @property
    def centres(self) -> np.ndarray:
        return np.linspace(L_MIN_UM, L_MAX_UM, self.n_cells) * 1e-6

    @property
    def widths(self) -> np.ndarray:
        return np.diff(np.linspace(L_MIN_UM, L_MAX_UM, self.n_cells + 1)) * 1e-6

    def moments(self, F: np.ndarray, orders: int = 5) -> np.ndarray:
        """``mu_j = sum_i F_i L_i^j dL_i`` for j < ``orders``; F of shape (..., n_cells) -> (..., orders)."""
        powers = self.centres[None, :] ** np.arange(orders)[:, None] * self.widths[None, :]
        return np.asarray(F) @ powers.T


@dataclass(frozen=True)
class InitialConditions:
    """A batch of initial conditions (arrays of shape (N,)): solute ``c0`` [kg/kg slurry], seed mass fraction
    ``seed_fraction`` (= 1 - w), Gaussian seed CSD ``seed_mean_um`` / ``seed_sd_um``, slurry temperature ``T0``."""

    c0: np.ndarray
    seed_fraction: np.ndarray
    seed_mean_um: np.ndarray
    seed_sd_um: np.ndarray
    T0: np.ndarray

    def __post_init__(self) -> None:
        arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in vars(self).items()}
        n = {a.shape for a in arrays.values()}
        if len(n) != 1 or len(next(iter(n))) != 1:
            raise ValueError(f"initial-condition arrays must share one 1-D shape, got {sorted(n)}")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        for v in self.seed_fraction:
            check_range("seed_fraction", float(v), 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        for v in self.c0:
            check_positive("c0", float(v))
        for v in self.seed_sd_um:
            check_positive("seed_sd_um", float(v))

    def __len__(self) -> int:
        return len(self.c0)

    def take(self, index: np.ndarray | slice) -> InitialConditions:
        """The sub-batch at ``index``."""
        return InitialConditions(**{k: v[index] for k, v in vars(self).items()})

    def seed_csd(self, grid: Grid) -> np.ndarray:
        """``F_i = a exp(-(L_i - m)^2 / (2 s^2))`` with ``a`` such that ``k_v rho_c mu_3 = seed_fraction``: (N, n)."""
        L_um = grid.centres * 1e6
        shape = np.exp(-0.5 * ((L_um[None, :] - self.seed_mean_um[:, None]) / self.seed_sd_um[:, None]) ** 2)
        mu3 = grid.moments(shape, 4)[:, 3]
        return shape * (self.seed_fraction / (KV * RHO_C * mu3))[:, None]


def sample_initial_conditions(n: int, rng: np.random.Generator, max_solids: float = MAX_SOLIDS) -> InitialConditions:
    """CrystalGPT's sampler: ``c0 ~ U(0.6, 0.85)``, ``w ~ U(0.75, 0.95)`` (seed fraction ``1 - w``), seed mean
    ``~ U(50, 150)`` um, sd ``~ U(5, 20)`` um, ``T0 = T_j(0) ~ U(35, 40)`` degC; draws whose dissolved plus seeded
    dextrose ``c0 + (1 - w)`` exceeds ``max_solids`` kg per kg slurry are redrawn (at 1 the solution mass
    ``1 - M_T`` reaches 0 and S diverges)."""
    check_positive_int("n", n)
    check_range("max_solids", max_solids, 0.65, 1.0, low_inclusive=False, high_inclusive=False)
    c0, seed = np.empty(n), np.empty(n)
    todo = np.arange(n)
    while len(todo):
        c0[todo], seed[todo] = rng.uniform(0.6, 0.85, len(todo)), 1.0 - rng.uniform(0.75, 0.95, len(todo))
        todo = todo[c0[todo] + seed[todo] > max_solids]
    return InitialConditions(
        c0=c0,
        seed_fraction=seed,
        seed_mean_um=rng.uniform(50.0, 150.0, n),
        seed_sd_um=rng.uniform(5.0, 20.0, n),
        T0=rng.uniform(35.0, 40.0, n),
    )


def sample_jacket_profiles(T0: np.ndarray, hours: int, rng: np.random.Generator) -> np.ndarray:
    """Hourly jacket random walks (N, hours): ``T_j(0) = T0``, ``T_j(k) = T_j(k-1) + d``, ``d ~ U(-D, 0.6 D)`` with
    ``D ~ U(2, 5)`` per batch, clipped to [5, 40] degC."""
    check_positive_int("hours", hours)
    T0 = np.atleast_1d(np.asarray(T0, dtype=np.float64))
    span = rng.uniform(2.0, 5.0, len(T0))
    steps = rng.uniform(-1.0, 0.6, (len(T0), hours - 1)) * span[:, None]
    profile = np.empty((len(T0), hours))
    profile[:, 0] = T0
    for k in range(1, hours):  # the clip acts on each step of the walk
        profile[:, k] = np.clip(profile[:, k - 1] + steps[:, k - 1], T_MIN, T_MAX)
    return profile


DEFAULT_GRID = Grid()


def check_jacket(T_j: np.ndarray) -> np.ndarray:
    """Require jacket temperatures inside [5, 40] degC (``ValueError`` naming ``T_j``)."""
    T_j = np.asarray(T_j, dtype=np.float64)
    if not np.all(np.isfinite(T_j)) or T_j.min() < T_MIN - 1e-9 or T_j.max() > T_MAX + 1e-9:
        raise ValueError(f"T_j must lie in [{T_MIN}, {T_MAX}] degC, got range [{T_j.min()}, {T_j.max()}]")
    return T_j


class _Model:
    """A batched plant: state layout, right-hand side, Jacobian sparsity of one batch, the size readout and the
    integrator it uses when the :class:`Solver` names none (``method``)."""

    n_state: int
    method: str

    def rhs(self, y: np.ndarray, T_j: np.ndarray) -> np.ndarray:  # y (N, n_state) -> dy/dt
        raise NotImplementedError

    def block_pattern(self) -> sparse.spmatrix:
        raise NotImplementedError

    def jac_sparsity(self, n: int) -> sparse.csr_matrix:
        """The Jacobian pattern of ``n`` batches integrated as one system (block-diagonal), built once per ``n``
        and kept on the model: a plant advanced hour by hour reuses it."""
        patterns = self.__dict__.setdefault("_jac_sparsity", {})
        if n not in patterns:
            patterns[n] = sparse.block_diag([self.block_pattern()] * n, format="csr")
        return patterns[n]

    def moments(self, y: np.ndarray) -> np.ndarray:  # (..., n_state) -> (..., 5)
        raise NotImplementedError

    def scale(self, y: np.ndarray) -> np.ndarray:
        """Each state's magnitude for the absolute tolerance: its largest value over the batch."""
        return np.maximum(np.abs(y).max(axis=0), 1e-300)


_ORDERS = np.arange(1.0, 5.0)  # j = 1..4
_L0_POWERS = L0**_ORDERS


class MomentModel(_Model):
    """State ``[mu_0, ..., mu_4, c, T]``: the exact moment closure of the size-independent-growth PBE. Integrated by
    LSODA unless told otherwise: the system is not stiff at these tolerances (LSODA stays on its Adams method), and
    ODEPACK's Fortran steps cost far less than ``solve_ivp``'s Python BDF steps (see ``perf.py``)."""

    n_state = 7
    method = "LSODA"

    def rhs(self, y: np.ndarray, T_j: np.ndarray) -> np.ndarray:
        c, T = y[:, 5], y[:, 6]
        M_T = KV * RHO_C * y[:, 3]
        S = supersaturation(c, T, M_T)
        G, B = growth_rate(S, T), nucleation_rate(S, M_T)
        dy = np.empty_like(y)
        dy[:, 0] = B
        dy[:, 1:5] = _ORDERS * G[:, None] * y[:, :4] + B[:, None] * _L0_POWERS  # j G mu_{j-1} + B L0^j
        dy[:, 5] = -KV * RHO_C * (3.0 * G * y[:, 2] + B * L0**3)
        dy[:, 6] = (T_j - T) / TAU
        return dy

    def block_pattern(self) -> sparse.spmatrix:
        return sparse.csr_matrix(np.ones((7, 7)))

    def moments(self, y: np.ndarray) -> np.ndarray:
        return y[..., :5]

    def initial_state(self, ic: InitialConditions, grid: Grid) -> np.ndarray:
        """The moments of the seed CSD on ``grid`` (the same discrete seed the PBE starts from), c0 and T0."""
        return np.column_stack([grid.moments(ic.seed_csd(grid)), ic.c0, ic.T0])


class PopulationBalance(_Model):
    """State ``[F_0, ..., F_{n-1}, c, T]`` on ``grid``; ``dF_i/dt = -(G F_{i+1} - G F_{i-1}) / (L_{i+1} - L_{i-1})``
    (i = 0: ``G F_{-1} := B`` over ``L_1 - L_0``; last cell one-sided), ``dc/dt = -3 k_v rho_c G mu_2 - B L0^3 k_v
    rho_c``. The Jacobian pattern given to BDF is tridiagonal in F plus the c and T columns and the c row; the
    rank-one coupling of every cell to every other through ``M_T`` (in S and B) is left out, which keeps the
    Jacobian sparse: BDF's Newton iteration needs only an approximate Jacobian. Integrated by BDF unless told
    otherwise (the issue's solver; LSODA is available through :class:`Solver`)."""

    method = "BDF"

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.n_state = grid.n_cells + 2
        L = grid.centres
        self._up = np.concatenate([L[1:], L[-1:]])
        self._down = np.concatenate([L[:1], L[:-2], L[-2:-1]])
        self._w3 = KV * RHO_C * L**3 * grid.widths
        self._w2 = L**2 * grid.widths

    def rhs(self, y: np.ndarray, T_j: np.ndarray) -> np.ndarray:
        F, c, T = y[:, :-2], y[:, -2], y[:, -1]
        M_T = F @ self._w3
        S = supersaturation(c, T, M_T)
        G, B = growth_rate(S, T), nucleation_rate(S, M_T)
        F_up = np.concatenate([F[:, 1:], F[:, -1:]], axis=1)
        F_down = np.concatenate([F[:, :1], F[:, :-2], F[:, -2:-1]], axis=1)
        flux_down = G[:, None] * F_down
        flux_down[:, 0] = B
        dy = np.empty_like(y)
        dy[:, :-2] = -(G[:, None] * F_up - flux_down) / (self._up - self._down)
        dy[:, -2] = -3.0 * KV * RHO_C * G * (F @ self._w2) - B * L0**3 * KV * RHO_C
        dy[:, -1] = (T_j - T) / TAU
        return dy

    def block_pattern(self) -> sparse.spmatrix:
        n = self.grid.n_cells
        pattern = sparse.lil_matrix((n + 2, n + 2))
        pattern.setdiag(1)
        pattern.setdiag(1, 1)
        pattern.setdiag(1, -1)
        pattern[:, n] = 1
        pattern[:, n + 1] = 1
        pattern[n, :] = 1
        pattern[n + 1, n + 1 :] = 1
        pattern[n + 1, :n] = 0
        return pattern.tocsr()

    def moments(self, y: np.ndarray) -> np.ndarray:
        return self.grid.moments(y[..., :-2])

    def scale(self, y: np.ndarray) -> np.ndarray:
        """Every cell shares the largest number density of the batch (empty cells are not held to 0 absolutely)."""
        out = super().scale(y)
        out[:-2] = out[:-2].max()
        return out

    def initial_state(self, ic: InitialConditions) -> np.ndarray:
        return np.column_stack([ic.seed_csd(self.grid), ic.c0, ic.T0])


def mean_size_um(mu: np.ndarray, definition: str = "L43") -> np.ndarray:
    """Mean crystal size in um: ``L43 = mu_4 / mu_3`` (the authors' "SMD"), or ``L10 = mu_1 / mu_0``."""
    if definition == "L43":
        return 1e6 * mu[..., 4] / mu[..., 3]
    if definition == "L10":
        return 1e6 * mu[..., 1] / mu[..., 0]
    raise ValueError(f"definition must be 'L43' or 'L10', got {definition!r}")


METHODS = (None, "BDF", "LSODA")  # None: the model's own


@dataclass(frozen=True)
class Solver:
    """Integrator settings: ``method`` (``"BDF"``: scipy's ``solve_ivp`` BDF with the model's ``jac_sparsity``;
    ``"LSODA"``: ODEPACK's LSODA through ``odeint``, Adams/BDF switching, banded Jacobian covering the diagonal
    blocks; None: the model's own ``method``), ``rtol`` and ``atol_scale`` (absolute tolerance per state = ``rtol *
    atol_scale * scale``, ``scale`` the largest initial magnitude of that state over the batch); outputs every
    ``3600 / outputs_per_hour`` s."""

    rtol: float = 1e-6
    atol_scale: float = 1e-3
    outputs_per_hour: int = 6  # outputs every 600 s
    method: str | None = None

    def __post_init__(self) -> None:
        check_positive("rtol", self.rtol)
        check_positive("atol_scale", self.atol_scale)
        check_positive_int("outputs_per_hour", self.outputs_per_hour)
        check_one_of("method", self.method, METHODS)


DEFAULT_SOLVER = Solver()
LSODA_MAX_STEPS = 100_000  # per output interval: no practical cap, as solve_ivp's BDF has none


def advance(
    model: _Model, y: np.ndarray, T_j: np.ndarray, solver: Solver = DEFAULT_SOLVER, seconds: float = HOUR
) -> np.ndarray:
    """Integrate a batch of states ``y`` (N, n_state) for ``seconds`` at constant jacket ``T_j`` (N,) as one
    block-diagonal system (BDF: its ``jac_sparsity`` given; LSODA: a band of half-width ``n_state - 1``, which holds
    every diagonal block); returns the states at the ``outputs_per_hour`` output times, shape (outputs, N, n_state).
    NaN in the right-hand side is replaced by 0 (the authors' ``NaN -> 0``; +-inf by the largest floats, as numpy's
    ``nan_to_num`` does)."""
    check_positive("seconds", seconds)
    T_j = check_jacket(np.broadcast_to(T_j, (len(y),)))
    n, m = y.shape
    atol = np.tile(solver.rtol * solver.atol_scale * model.scale(y), n)

    def f(_t: float, flat: np.ndarray) -> np.ndarray:
        dy = model.rhs(flat.reshape(n, m), T_j)
        # nan_to_num only where needed: the same values, without its copy and checks on every finite call
        return (dy if np.isfinite(dy).all() else np.nan_to_num(dy, nan=0.0)).ravel()

    times = np.linspace(0.0, seconds, solver.outputs_per_hour + 1)
    if (solver.method or model.method) == "LSODA":
        ys, info = odeint(
            f,
            y.ravel(),
            times,
            rtol=solver.rtol,
            atol=atol,
            ml=m - 1,
            mu=m - 1,
            mxstep=LSODA_MAX_STEPS,
            full_output=True,
            tfirst=True,
        )
        if info["message"] != "Integration successful.":
            raise RuntimeError(f"LSODA failed: {info['message']}")
        return ys[1:].reshape(len(times) - 1, n, m)
    sol = solve_ivp(
        f,
        (0.0, seconds),
        y.ravel(),
        method="BDF",
        t_eval=times[1:],
        rtol=solver.rtol,
        atol=atol,
        jac_sparsity=model.jac_sparsity(n),
    )
    if not sol.success:
        raise RuntimeError(f"BDF failed: {sol.message}")
    return sol.y.T.reshape(len(times) - 1, n, m)


@dataclass
class Trajectory:
    """Hourly-resolved batch records: ``moments`` (N, steps + 1, 5) at every output time (600 s), ``c`` and ``T``
    likewise, and the applied ``T_j`` (N, hours)."""

    moments: np.ndarray
    c: np.ndarray
    T: np.ndarray
    T_j: np.ndarray
    outputs_per_hour: int

    def hourly(self, definition: str = "L43") -> np.ndarray:
        """(N, hours + 1, 3): ``[L (um), c, T]`` at every hour boundary."""
        k = self.outputs_per_hour
        L = mean_size_um(self.moments[:, ::k], definition)
        return np.stack([L, self.c[:, ::k], self.T[:, ::k]], axis=-1)


def _simulate(model: _Model, y0: np.ndarray, T_j: np.ndarray, solver: Solver) -> Trajectory:
    T_j = check_jacket(np.atleast_2d(T_j))
    if T_j.shape[0] != len(y0):
        raise ValueError(f"T_j must have one hourly profile per batch ({len(y0)}), got shape {T_j.shape}")
    states = [y0[None]]
    y = y0
    for hour in range(T_j.shape[1]):
        out = advance(model, y, T_j[:, hour], solver)
        states.append(out)
        y = out[-1]
    ys = np.concatenate(states).transpose(1, 0, 2)
    return Trajectory(model.moments(ys), ys[..., -2], ys[..., -1], T_j, solver.outputs_per_hour)


def simulate_moments(
    ic: InitialConditions, T_j: np.ndarray, solver: Solver = DEFAULT_SOLVER, grid: Grid = DEFAULT_GRID
) -> Trajectory:
    """The 7-state moment ODE from the seed CSD on ``grid``, ``c0``, ``T0``, under hourly jacket profiles (N, hours)."""
    model = MomentModel()
    return _simulate(model, model.initial_state(ic, grid), T_j, solver)


def simulate_pbe(
    ic: InitialConditions, T_j: np.ndarray, solver: Solver = DEFAULT_SOLVER, grid: Grid = DEFAULT_GRID
) -> Trajectory:
    """The population balance on ``grid`` (250 cells by default) under hourly jacket profiles (N, hours)."""
    model = PopulationBalance(grid)
    return _simulate(model, model.initial_state(ic), T_j, solver)


def make_model(kind: str, grid: Grid = DEFAULT_GRID) -> MomentModel | PopulationBalance:
    """``"moment"`` (the 7-state ODE) or ``"pbe"`` (the population balance on ``grid``)."""
    if kind == "moment":
        return MomentModel()
    if kind == "pbe":
        return PopulationBalance(grid)
    raise ValueError(f"model must be 'moment' or 'pbe', got {kind!r}")


def initial_state(model: _Model, ic: InitialConditions, grid: Grid = DEFAULT_GRID) -> np.ndarray:
    """The batch's initial state for ``model`` (the moment model takes the moments of the seed CSD on ``grid``)."""
    if isinstance(model, MomentModel):
        return model.initial_state(ic, grid)
    assert isinstance(model, PopulationBalance)
    return model.initial_state(ic)


def check_noise(noise: float) -> float:
    """Require a non-negative multiplicative noise level (``ValueError`` naming ``noise``)."""
    return check_non_negative("noise", noise)
