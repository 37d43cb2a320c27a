"""Vectorised numpy (float64) simulators of the three reactors, with a scalar reference loop.

Units as in the official notebooks: m³, h, kmol, K, kJ. Every simulator takes arrays of initial states and
inputs (one entry per trajectory, broadcast together) and returns ``(C, T)`` of shape ``(n, 10)``.

- CSTR, 2nd order A → B, explicit Euler (Δt = 1e-4 h, 50 steps)::

    dC/dt = F/V (C_A0 − C) − k0 e^{−E/(RT)} C²
    dT/dt = F/V (T0 − T) − ΔH/(ρ Cp) k0 e^{−E/(RT)} C² + Q/(ρ Cp V)

  with C_A0 = C_A0s + u1 and Q = Q_s + u2; both derivatives from the old state. Recorded after steps
  5, 10, …, 50 (the few-shot notebook; the spacing the physics loss assumes) or, with ``meta_spacing``, after
  steps 1, 6, …, 46 (the meta-training notebook).
- Batch, 1st order, Euler (Δt = 1e-4 h, 500 steps, every 50th state)::

    dC/dt = −k0 e^{−E/(RT)} C,   dT/dt = −ΔH/(ρ Cp) k0 e^{−E/(RT)} C + Q/(ρ Cp V),   Q = Q_s + u.

- PFR, 1st order, method of lines on N = 10 nodes (backward differences, inlet node fixed)::

    ∂C/∂t = −v ∂C/∂z − k0 e^{−(E/R)/T} C
    ∂T/∂t = −v ∂T/∂z + (−ΔH)/(ρ Cp) k0 e^{−(E/R)/T} C + U A_t/(ρ Cp A) (T_c − T),   T_c = T_cs + u

  ten steps of Δt = 0.01 h by RK4 (``official_rk``: the notebook's variant whose last stage evaluates at
  x + Δt/2·k3 instead of x + Δt·k3); output: node 1 after every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

R_GAS = 8.314
# Steady state of the nominal CSTR around which the few-shot notebook works in deviation variables.
C_AS, T_S = 1.95, 402.0

NOMINAL: dict[str, dict[str, float]] = {
    "cstr": {
        "T0": 300.0,
        "V": 1.0,
        "k0": 8.46e6,
        "Cp": 0.231,
        "rho": 1000.0,
        "Q_s": 0.0,
        "F": 5.0,
        "E": 5e4,
        "dH": -1.15e4,
        "C_A0s": 4.0,
    },
    "batch": {"V": 1.0, "k0": 8.46e7, "Cp": 0.231, "rho": 1000.0, "Q_s": 0.0, "E": 5e4, "dH": -1.15e4},
    "pfr": {
        "v": 2.0,
        "k0": 8.46e6,
        "Cp": 0.231,
        "rho": 1000.0,
        "E_R": 5e4 / R_GAS,
        "dH": -1.15e4,
        "U": 25.0,
        "T_cs": 293.0,
        "A_t": 0.01,
        "A": 0.002,
    },
}
REACTORS = tuple(NOMINAL)
# The time between two recorded outputs (h), the spacing the physics residual's finite differences assume.
OUTPUT_DT = {"cstr": 5e-4, "batch": 5e-3, "pfr": 1e-2}
N_NODES = 10


def parameters(reactor: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The nominal parameters of ``reactor`` updated by ``overrides`` (``ValueError`` for an unknown name)."""
    check_one_of("reactor", reactor, REACTORS)
    params = dict(NOMINAL[reactor])
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"overrides has unknown parameter {key!r} for {reactor}; known: {sorted(params)}")
        params[key] = value
    return params


def _recorded(steps: int, every: int, meta_spacing: bool) -> np.ndarray:
    """Which Euler steps (0-based loop index ``i``) are recorded: ``(i+1) % every == 0`` or ``i % every == 0``."""
    i = np.arange(steps)
    return (i % every == 0) if meta_spacing else ((i + 1) % every == 0)


def _states(c_init: Any, t_init: Any, *extra: Any) -> tuple[np.ndarray, ...]:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (c_init, t_init, *extra)))
    return tuple(np.array(a, dtype=np.float64).reshape(-1) for a in arrays)


def simulate_cstr(
    c_init: Any,
    t_init: Any,
    u1: Any,
    u2: Any,
    params: Mapping[str, Any] | None = None,
    *,
    deviation: bool = False,
    meta_spacing: bool = False,
    dt: float = 1e-4,
    steps: int = 50,
    every: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """CSTR trajectories ``(C, T)``, each ``(n, steps // every)``; inputs u1 = C_A0 − C_A0s, u2 = Q − Q_s.

    ``deviation``: initial states are given, and outputs returned, as deviations from (C_As, T_s) = (1.95, 402)
    (the few-shot notebook's variables); otherwise absolute. ``params`` overrides :data:`NOMINAL` ``["cstr"]``.
    """
    check_positive("dt", dt)
    check_positive_int("steps", steps)
    check_positive_int("every", every)
    p = parameters("cstr", params)
    c, t, u1, u2 = _states(c_init, t_init, u1, u2)
    if deviation:
        c, t = c + C_AS, t + T_S
    c_a0, q = u1 + p["C_A0s"], u2 + p["Q_s"]
    F, V, k0, E, T0 = p["F"], p["V"], p["k0"], p["E"], p["T0"]
    dH, rho, Cp = p["dH"], p["rho"], p["Cp"]
    keep = _recorded(steps, every, meta_spacing)
    out_c, out_t = [], []
    with np.errstate(all="ignore"):
        for i in range(steps):
            dc = F / V * (c_a0 - c) - k0 * np.exp(-E / (R_GAS * t)) * (c * c)
            dt_ = F / V * (T0 - t) - dH / (rho * Cp) * k0 * np.exp(-E / (R_GAS * t)) * (c * c) + q / (rho * Cp * V)
            t = t + dt_ * dt
            c = c + dc * dt
            if keep[i]:
                out_c.append(c)
                out_t.append(t)
    cs, ts = np.stack(out_c, axis=1), np.stack(out_t, axis=1)
    return (cs - C_AS, ts - T_S) if deviation else (cs, ts)


def simulate_batch(
    c_init: Any,
    t_init: Any,
    u: Any,
    params: Mapping[str, Any] | None = None,
    *,
    meta_spacing: bool = False,
    dt: float = 1e-4,
    steps: int = 500,
    every: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """Batch-reactor trajectories ``(C, T)``, each ``(n, steps // every)``; input u = Q − Q_s; absolute states."""
    check_positive("dt", dt)
    check_positive_int("steps", steps)
    check_positive_int("every", every)
    p = parameters("batch", params)
    c, t, u = _states(c_init, t_init, u)
    q = u + p["Q_s"]
    V, k0, E, dH, rho, Cp = p["V"], p["k0"], p["E"], p["dH"], p["rho"], p["Cp"]
    keep = _recorded(steps, every, meta_spacing)
    out_c, out_t = [], []
    with np.errstate(all="ignore"):
        for i in range(steps):
            dc = -k0 * np.exp(-E / (R_GAS * t)) * c
            dt_ = -dH / (rho * Cp) * k0 * np.exp(-E / (R_GAS * t)) * c + q / (rho * Cp * V)
            t = t + dt_ * dt
            c = c + dc * dt
            if keep[i]:
                out_c.append(c)
                out_t.append(t)
    return np.stack(out_c, axis=1), np.stack(out_t, axis=1)


def _pfr_rhs(c: np.ndarray, t: np.ndarray, tc: np.ndarray, p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Method-of-lines right-hand side on the node axis (last); the inlet node's derivative is 0."""
    dz = np.diff(np.linspace(0.0, 1.0, c.shape[-1]))
    rate = p["k0"] * np.exp(-p["E_R"] / t[..., 1:]) * c[..., 1:]
    dc = -p["v"] * np.diff(c, axis=-1) / dz - rate
    dtemp = (
        -p["v"] * np.diff(t, axis=-1) / dz
        + (-p["dH"] / (p["rho"] * p["Cp"])) * rate
        + (p["U"] / (p["rho"] * p["Cp"] * p["A"])) * p["A_t"] * (tc[..., None] - t[..., 1:])
    )
    zero = np.zeros_like(c[..., :1])
    return np.concatenate([zero, dc], axis=-1), np.concatenate([zero, dtemp], axis=-1)


def simulate_pfr(
    c_init: Any,
    t_init: Any,
    u: Any,
    params: Mapping[str, Any] | None = None,
    *,
    official_rk: bool = False,
    dt: float = 0.01,
    steps: int = 10,
    nodes: int = N_NODES,
) -> tuple[np.ndarray, np.ndarray]:
    """PFR node-1 trajectories ``(C, T)``, each ``(n, steps)``; input u = T_c − T_cs; inlet (node 0) held at
    (``c_init``, ``t_init``), the other nodes start at C = 0, T = T_cs.

    One step: k1 = f(x), k2 = f(x + Δt/2 k1), k3 = f(x + Δt/2 k2), k4 = f(x + s Δt k3),
    x ← x + Δt/6 (k1 + 4 (k2 + k3)/2 + k4) with s = 1 (RK4) or s = 1/2 (``official_rk``).
    """
    check_positive("dt", dt)
    check_positive_int("steps", steps)
    if check_positive_int("nodes", nodes) < 2:
        raise ValueError(f"nodes must be an integer >= 2, got {nodes}")
    p = parameters("pfr", params)
    c0, t0, u = _states(c_init, t_init, u)
    tc = u + p["T_cs"]
    c = np.zeros((len(c0), nodes))
    t = np.full((len(c0), nodes), float(p["T_cs"]))
    c[:, 0], t[:, 0] = c0, t0
    last = 0.5 if official_rk else 1.0
    out_c, out_t = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            k1c, k1t = _pfr_rhs(c, t, tc, p)
            k2c, k2t = _pfr_rhs(c + k1c * dt / 2, t + k1t * dt / 2, tc, p)
            k3c, k3t = _pfr_rhs(c + k2c * dt / 2, t + k2t * dt / 2, tc, p)
            k4c, k4t = _pfr_rhs(c + k3c * dt * last, t + k3t * dt * last, tc, p)
            c = c + dt / 6 * (k1c + 4 * ((k2c + k3c) / 2) + k4c)
            t = t + dt / 6 * (k1t + 4 * ((k2t + k3t) / 2) + k4t)
            out_c.append(c[:, 1])
            out_t.append(t[:, 1])
    return np.stack(out_c, axis=1), np.stack(out_t, axis=1)


def simulate(reactor: str, c_init: Any, t_init: Any, u: Any, params: Mapping[str, Any] | None = None, **kw: Any):
    """Dispatch to the reactor's simulator; ``u`` is ``(u1, u2)`` for the CSTR, a scalar/array otherwise."""
    check_one_of("reactor", reactor, REACTORS)
    if reactor == "cstr":
        return simulate_cstr(c_init, t_init, u[0], u[1], params, **kw)
    if reactor == "batch":
        return simulate_batch(c_init, t_init, u, params, **kw)
    return simulate_pfr(c_init, t_init, u, params, **kw)


def _cstr_one(c: float, t: float, u1: float, u2: float, p: Mapping[str, Any], keep: np.ndarray, dt: float):
    c_a0, q = u1 + p["C_A0s"], u2 + p["Q_s"]
    cs, ts = [], []
    for i in range(len(keep)):
        dc = p["F"] / p["V"] * (c_a0 - c) - p["k0"] * np.exp(-p["E"] / (R_GAS * t)) * (c * c)
        dtemp = (
            p["F"] / p["V"] * (p["T0"] - t)
            - p["dH"] / (p["rho"] * p["Cp"]) * p["k0"] * np.exp(-p["E"] / (R_GAS * t)) * (c * c)
            + q / (p["rho"] * p["Cp"] * p["V"])
        )
        t += dtemp * dt
        c += dc * dt
        if keep[i]:
            cs.append(c)
            ts.append(t)
    return cs, ts


def _batch_one(c: float, t: float, u: float, p: Mapping[str, Any], keep: np.ndarray, dt: float):
    q = u + p["Q_s"]
    cs, ts = [], []
    for i in range(len(keep)):
        dc = -p["k0"] * np.exp(-p["E"] / (R_GAS * t)) * c
        dtemp = -p["dH"] / (p["rho"] * p["Cp"]) * p["k0"] * np.exp(-p["E"] / (R_GAS * t)) * c + q / (
            p["rho"] * p["Cp"] * p["V"]
        )
        t += dtemp * dt
        c += dc * dt
        if keep[i]:
            cs.append(c)
            ts.append(t)
    return cs, ts


def _pfr_one(c0: float, t0: float, u: float, p: Mapping[str, Any], steps: int, dt: float, last: float, nodes: int):
    dz = np.diff(np.linspace(0.0, 1.0, nodes))
    tc = u + p["T_cs"]

    def rhs(c: list, t: list) -> tuple[list, list]:
        dc, dtemp = [0.0], [0.0]
        for j in range(1, nodes):
            rate = p["k0"] * np.exp(-p["E_R"] / t[j]) * c[j]
            dc.append(-p["v"] * (c[j] - c[j - 1]) / dz[j - 1] - rate)
            dtemp.append(
                -p["v"] * (t[j] - t[j - 1]) / dz[j - 1]
                + (-p["dH"] / (p["rho"] * p["Cp"])) * rate
                + (p["U"] / (p["rho"] * p["Cp"] * p["A"])) * p["A_t"] * (tc - t[j])
            )
        return dc, dtemp

    def shift(x: list, k: list, h: float) -> list:
        return [x[j] + k[j] * h for j in range(nodes)]

    c = [np.float64(c0)] + [np.float64(0.0)] * (nodes - 1)
    t = [np.float64(t0)] + [np.float64(p["T_cs"])] * (nodes - 1)
    cs, ts = [], []
    for _ in range(steps):
        k1c, k1t = rhs(c, t)
        k2c, k2t = rhs(shift(c, k1c, dt / 2), shift(t, k1t, dt / 2))
        k3c, k3t = rhs(shift(c, k2c, dt / 2), shift(t, k2t, dt / 2))
        k4c, k4t = rhs(shift(c, k3c, dt * last), shift(t, k3t, dt * last))
        c = [c[j] + dt / 6 * (k1c[j] + 4 * ((k2c[j] + k3c[j]) / 2) + k4c[j]) for j in range(nodes)]
        t = [t[j] + dt / 6 * (k1t[j] + 4 * ((k2t[j] + k3t[j]) / 2) + k4t[j]) for j in range(nodes)]
        cs.append(c[1])
        ts.append(t[1])
    return cs, ts


def simulate_scalar(
    reactor: str,
    c_init: Any,
    t_init: Any,
    u: Any,
    params: Mapping[str, Any] | None = None,
    *,
    meta_spacing: bool = False,
    official_rk: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference: one trajectory at a time, one state variable at a time, in Python loops (as the notebooks
    do), with the default step sizes; ``u`` is ``(u1, u2)`` for the CSTR. Used by the tests (the vectorised
    simulators must agree bit for bit) and by the speed figure (:mod:`paperzoo.reactor_fm.perf`)."""
    check_one_of("reactor", reactor, REACTORS)
    p = {k: np.float64(v) for k, v in parameters(reactor, params).items()}
    with np.errstate(all="ignore"):
        return _scalar_rows(reactor, c_init, t_init, u, p, meta_spacing, official_rk)


def _scalar_rows(
    reactor: str, c_init: Any, t_init: Any, u: Any, p: Mapping[str, Any], meta_spacing: bool, official_rk: bool
) -> tuple[np.ndarray, np.ndarray]:
    if reactor == "cstr":
        c0, t0, u1, u2 = _states(c_init, t_init, u[0], u[1])
        keep = _recorded(50, 5, meta_spacing)
        rows = [_cstr_one(c0[j], t0[j], u1[j], u2[j], p, keep, 1e-4) for j in range(len(c0))]
    elif reactor == "batch":
        c0, t0, uu = _states(c_init, t_init, u)
        keep = _recorded(500, 50, meta_spacing)
        rows = [_batch_one(c0[j], t0[j], uu[j], p, keep, 1e-4) for j in range(len(c0))]
    else:
        c0, t0, uu = _states(c_init, t_init, u)
        last = 0.5 if official_rk else 1.0
        rows = [_pfr_one(c0[j], t0[j], uu[j], p, 10, 0.01, last, N_NODES) for j in range(len(c0))]
    return np.array([r[0] for r in rows], dtype=np.float64), np.array([r[1] for r in rows], dtype=np.float64)
