"""Open-loop batches (random hourly jacket walks from sampled initial conditions) simulated in parallel chunks,
and the per-episode reachable set-points.

A batch record is ``states`` (hours + 1, 3) = ``[L (um), c, T]`` at every hour and the applied ``T_j`` (hours,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperzoo.lstmc.dextrose import (
    DEFAULT_SOLVER,
    Grid,
    InitialConditions,
    Solver,
    sample_initial_conditions,
    sample_jacket_profiles,
    simulate_moments,
    simulate_pbe,
)
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive_int


@dataclass
class OpenLoopData:
    """``states`` (N, hours + 1, 3) ``[L, c, T]`` hourly, ``T_j`` (N, hours)."""

    states: np.ndarray
    T_j: np.ndarray

    def __len__(self) -> int:
        return len(self.states)


def simulate_chunk(
    seed: int, n: int, hours: int, model: str = "moment", n_cells: int = 250, solver: Solver = DEFAULT_SOLVER
) -> OpenLoopData:
    """``n`` open-loop batches drawn from ``seed`` (initial conditions, then jacket walks), simulated at once."""
    rng = np.random.default_rng(seed)
    ic = sample_initial_conditions(n, rng)
    profiles = sample_jacket_profiles(ic.T0, hours, rng)
    sim = simulate_moments if model == "moment" else simulate_pbe
    trajectory = sim(ic, profiles, solver, Grid(n_cells))
    return OpenLoopData(trajectory.hourly(), profiles)


def generate_open_loop(
    n: int, seed: int, hours: int = 24, chunk: int = 100, workers: int = 2, model: str = "moment"
) -> OpenLoopData:
    """``n`` open-loop batches in chunks of ``chunk`` (chunk ``i`` drawn from ``derive(seed, "chunk", i)``, so the
    data do not depend on ``workers``)."""
    check_positive_int("n", n)
    check_positive_int("chunk", chunk)
    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    jobs = [(simulate_chunk, (derive(seed, "chunk", i), size, hours, model)) for i, size in enumerate(sizes)]
    parts = run_jobs(jobs, workers, desc="open-loop batches")
    return OpenLoopData(np.concatenate([p.states for p in parts]), np.concatenate([p.T_j for p in parts]))


def reachable_set_points(
    ic: InitialConditions, quantiles: np.ndarray, n_profiles: int, seed: int, hours: int = 24
) -> np.ndarray:
    """Per initial condition, the ``quantiles`` of the final L43 over ``n_profiles`` open-loop jacket walks (moment
    model): set-points inside that batch's reachable range, shape (len(ic), len(quantiles))."""
    check_positive_int("n_profiles", n_profiles)
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"quantiles must lie in (0, 1), got {quantiles!r}")
    rng = np.random.default_rng(seed)
    tiled = ic.take(np.repeat(np.arange(len(ic)), n_profiles))
    profiles = sample_jacket_profiles(tiled.T0, hours, rng)
    final = simulate_moments(tiled, profiles).hourly()[:, -1, 0].reshape(len(ic), n_profiles)
    return np.quantile(final, q, axis=1).T
