"""Tasks: one random reaction per task, its trajectories on a grid of inputs x initial states, standardised.

A task multiplies nominal parameters by (1 + U(a, b)) (the official perturbations, :data:`PERTURBATIONS`),
simulates every trajectory of its grid at once, drops trajectories the official filters reject, and is
accepted only if enough survive and every standardised output lies within ±10 (else resampled).

RNN input x = [T_init, C_init, u_a, u_b] repeated over the 10 output steps (CSTR: [.., Q − Q_s, C_A0 − C_A0s];
batch and PFR: the one input twice, as in the notebooks), output y = [T, C] at the 10 steps; x and y each get
their own scikit-learn ``StandardScaler`` per task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from paperzoo.reactor_fm.reactors import C_AS, OUTPUT_DT, REACTORS, T_S, parameters, simulate
from paperzoo.shared.validate import check_one_of, check_positive_int

N_STEPS = 10
# name -> (low, high) of U in p * (1 + U(low, high)); "kinetic" ones are the ±5% group.
PERTURBATIONS: dict[str, dict[str, tuple[float, float]]] = {
    "cstr": {
        "T0": (-1, 1),
        "C_A0s": (-1, 1),
        "V": (-10, 10),
        "F": (-10, 10),
        "Q_s": (-10, 10),
        "rho": (-0.05, 0.05),
        "Cp": (-0.05, 0.05),
        "k0": (-0.05, 0.05),
        "E": (-0.05, 0.05),
        "dH": (-0.05, 0.05),
    },
    "batch": {
        "V": (-10, 10),
        "Q_s": (-10, 10),
        "k0": (-10, 10),
        "rho": (-0.05, 0.05),
        "Cp": (-0.05, 0.05),
        "E": (-0.05, 0.05),
        "dH": (-0.05, 0.05),
    },
    "pfr": {
        "v": (-1, 1),
        "U": (-1, 1),
        "A": (-10, 10),
        "A_t": (-10, 10),
        "T_cs": (-0.068259, 1),
        "rho": (-0.05, 0.05),
        "Cp": (-0.05, 0.05),
        "k0": (-0.05, 0.05),
        "E_R": (-0.05, 0.05),
        "dH": (-0.05, 0.05),
    },
}
MIN_TRAJECTORIES = 5000  # meta-training tasks: accept only if more survive the filters
MIN_FEWSHOT_TRAJECTORIES = 128  # the few-shot notebook's ``ntrain``
Y_THRESHOLD = 10.0  # every standardised output within ±10
# The few-shot notebook's stability region x^T P x < 372 around (C_As, T_s), x = [C - C_As, T - T_s].
P_MATRIX = np.array([[1060.0, 22.0], [22.0, 0.52]])
STABILITY_LEVEL = 372.0


@dataclass
class Task:
    """One reaction's standardised trajectories and what is needed to go back to physical units.

    ``x``: (n, 10, 4) float32, ``y``: (n, 10, 2) float32 (standardised); ``params``: the task's reactor
    parameters; ``state_offset``: (T, C) added to de-standardised states (the few-shot task works in deviation
    variables around (T_s, C_As); meta-training tasks in absolute units); ``dt_out``: time between outputs (h).
    """

    reactor: str
    params: dict[str, float]
    x: np.ndarray
    y: np.ndarray
    scaler_x: Any
    scaler_y: Any
    state_offset: tuple[float, float]
    dt_out: float

    def __len__(self) -> int:
        return len(self.x)

    def destandardise_y(self, y: np.ndarray) -> np.ndarray:
        """Standardised outputs back to the task's variables (absolute or deviation; no offset added)."""
        return self.scaler_y.inverse_transform(np.asarray(y, dtype=np.float64).reshape(-1, 2)).reshape(y.shape)

    def destandardise_x(self, x: np.ndarray) -> np.ndarray:
        """Standardised inputs back to the task's variables."""
        return self.scaler_x.inverse_transform(np.asarray(x, dtype=np.float64).reshape(-1, 4)).reshape(x.shape)


def perturb(reactor: str, rng: np.random.Generator, perturb_kinetics: bool = True) -> dict[str, float]:
    """Nominal parameters times (1 + U(a, b)) per :data:`PERTURBATIONS`; the ±5% group kept nominal when
    ``perturb_kinetics`` is False."""
    params = parameters(reactor)
    for name, (low, high) in PERTURBATIONS[reactor].items():
        factor = 1.0 + rng.uniform(low, high)
        if perturb_kinetics or high > 0.05:
            params[name] = params[name] * factor
    return params


def _grid(reactor: str) -> tuple[np.ndarray, np.ndarray, Any, np.ndarray]:
    """The meta-training grid: initial C, T, the simulator's input(s) and the two input features, flattened in
    the notebooks' order (inputs outer, T then C inner)."""
    if reactor == "cstr":
        u1, u2, temp, conc = np.meshgrid(
            np.linspace(-3.5, 3.5, 4),
            np.linspace(-5e5, 5e5, 4),
            np.linspace(300, 600, 20),
            np.linspace(0, 6, 20),
            indexing="ij",
        )
        u1, u2 = u1.ravel(), u2.ravel()
        return conc.ravel(), temp.ravel(), (u1, u2), np.stack([u2, u1], axis=1)
    if reactor == "batch":
        u, temp, conc = np.meshgrid(
            np.linspace(-5e5, 5e5, 4), np.linspace(300, 600, 40), np.linspace(0, 6, 40), indexing="ij"
        )
    else:
        u, temp, conc = np.meshgrid(
            np.linspace(100, 300, 4), np.linspace(300, 500, 40), np.linspace(0.5, 3, 40), indexing="ij"
        )
    u = u.ravel()
    return conc.ravel(), temp.ravel(), u, np.stack([u, u], axis=1)


def _assemble(conc0: np.ndarray, temp0: np.ndarray, feats: np.ndarray, c: np.ndarray, t: np.ndarray):
    x = np.concatenate([temp0[:, None], conc0[:, None], feats], axis=1)[:, None, :].repeat(N_STEPS, axis=1)
    y = np.stack([t, c], axis=2)
    return x, y


def standardise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Fit one ``StandardScaler`` on x (4 features) and one on y (2), over all trajectories and steps."""
    from sklearn.preprocessing import StandardScaler

    scaler_x = StandardScaler().fit(x.reshape(-1, 4))
    scaler_y = StandardScaler().fit(y.reshape(-1, 2))
    xs = scaler_x.transform(x.reshape(-1, 4)).reshape(x.shape)
    ys = scaler_y.transform(y.reshape(-1, 2)).reshape(y.shape)
    return xs, ys, scaler_x, scaler_y


def _accept(xs: np.ndarray, ys: np.ndarray) -> bool:
    return bool(np.isfinite(xs).all() and np.isfinite(ys).all() and np.abs(ys).max() <= Y_THRESHOLD)


def sample_task(
    reactor: str,
    rng: np.random.Generator,
    *,
    n_traj: int | None = None,
    perturb_kinetics: bool = True,
    meta_spacing: bool = False,
    official_rk: bool = False,
    params: Mapping[str, float] | None = None,
    max_tries: int = 1000,
) -> Task:
    """A meta-training task of ``reactor`` (resampled until it passes the official filters).

    Trajectories with a NaN/inf or any |value| < 1e-3 or > 1e4 are dropped; the task is accepted if more than
    5000 survive and every standardised output is within ±10. ``n_traj``: keep that many surviving trajectories
    (drawn after standardising on all of them; None = all). ``params``: fixed parameters instead of a draw
    (then a rejection raises). ``meta_spacing`` (CSTR, batch) and ``official_rk`` (PFR) go to the simulator.
    """
    check_one_of("reactor", reactor, REACTORS)
    if n_traj is not None:
        check_positive_int("n_traj", n_traj)
    check_positive_int("max_tries", max_tries)
    kw: dict[str, Any] = {"official_rk": official_rk} if reactor == "pfr" else {"meta_spacing": meta_spacing}
    conc0, temp0, u, feats = _grid(reactor)
    for _ in range(max_tries if params is None else 1):
        p = dict(params) if params is not None else perturb(reactor, rng, perturb_kinetics)
        c, t = simulate(reactor, conc0, temp0, u, p, **kw)
        with np.errstate(all="ignore"):
            ok = np.isfinite(c).all(1) & np.isfinite(t).all(1)
            for v in (c, t):
                ok &= (np.abs(v) >= 1e-3).all(1) & (np.abs(v) <= 1e4).all(1)
        if ok.sum() <= MIN_TRAJECTORIES:
            continue
        x, y = _assemble(conc0[ok], temp0[ok], feats[ok], c[ok], t[ok])
        xs, ys, sx, sy = standardise(x, y)
        if not _accept(xs, ys):
            continue
        if n_traj is not None and n_traj < len(xs):
            keep = np.sort(rng.choice(len(xs), n_traj, replace=False))
            xs, ys = xs[keep], ys[keep]
        return Task(reactor, p, xs.astype(np.float32), ys.astype(np.float32), sx, sy, (0.0, 0.0), OUTPUT_DT[reactor])
    raise RuntimeError(f"no {reactor} task passed the filters in {max_tries if params is None else 1} draw(s)")


def unseen_cstr_task(
    rng: np.random.Generator,
    *,
    perturb_kinetics: bool = True,
    params: Mapping[str, float] | None = None,
    max_tries: int = 1000,
) -> Task:
    """The few-shot notebook's unseen CSTR task: deviation variables around (C_As, T_s); initial states on a
    40 x 40 grid (T ∈ [300, 600], C ∈ [0, 6]) kept if x^T P x < 372; inputs on a 10 x 10 grid (u1 ∈ ±3.5,
    u2 ∈ ±5e5); trajectories with NaN/inf dropped; accepted if more than 128 survive and every standardised
    output is within ±10. The whole set is the test set (official protocol)."""
    check_positive_int("max_tries", max_tries)
    dt, dc = np.meshgrid(np.linspace(300, 600, 40) - T_S, np.linspace(0, 6, 40) - C_AS, indexing="ij")
    dt, dc = dt.ravel(), dc.ravel()
    inside = np.einsum("ni,ij,nj->n", np.stack([dc, dt], 1), P_MATRIX, np.stack([dc, dt], 1)) < STABILITY_LEVEL
    dt, dc = dt[inside], dc[inside]
    u1, u2, idx = np.meshgrid(np.linspace(-3.5, 3.5, 10), np.linspace(-5e5, 5e5, 10), np.arange(len(dt)), indexing="ij")
    u1, u2, idx = u1.ravel(), u2.ravel(), idx.ravel()
    conc0, temp0 = dc[idx], dt[idx]
    for _ in range(max_tries if params is None else 1):
        p = dict(params) if params is not None else perturb("cstr", rng, perturb_kinetics)
        c, t = simulate("cstr", conc0, temp0, (u1, u2), p, deviation=True)
        ok = np.isfinite(c).all(1) & np.isfinite(t).all(1)
        if ok.sum() <= MIN_FEWSHOT_TRAJECTORIES:
            continue
        x, y = _assemble(conc0[ok], temp0[ok], np.stack([u2[ok], u1[ok]], 1), c[ok], t[ok])
        xs, ys, sx, sy = standardise(x, y)
        if _accept(xs, ys):
            return Task("cstr", p, xs.astype(np.float32), ys.astype(np.float32), sx, sy, (T_S, C_AS), OUTPUT_DT["cstr"])
    raise RuntimeError("no unseen CSTR task passed the filters")


def draw_shots(task: Task, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` distinct trajectories of ``task`` (the labelled shots; drawn from the test set itself, as
    in the official notebook). ``ValueError`` unless 1 <= k <= len(task)."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= len(task):
        raise ValueError(f"k must be an integer in [1, {len(task)}] (the task's size), got {k!r}")
    return np.sort(rng.choice(len(task), int(k), replace=False))


def draw_collocation(task: Task, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` collocation trajectories (inputs only, drawn with replacement as the notebook does)."""
    check_positive_int("n", n)
    return rng.choice(len(task), n, replace=True)
