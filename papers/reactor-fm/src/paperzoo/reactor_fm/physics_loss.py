"""Physics residuals in physical units: finite-difference dŷ/dt minus the reactor's right-hand side.

Outputs are 10 states spaced Δ = ``dt_out`` apart, the first one Δ after the initial state y0 (the spacing of
the default simulators). The derivative estimate is the few-shot notebook's:

    d̂_0 = (y_1 − y0) / (2Δ),   d̂_i = (y_{i+1} − y_{i−1}) / (2Δ)  (0 < i < 9),   d̂_9 = (y_9 − y_8) / Δ

and the residual r = d̂ − f(y, inputs; operating parameters, kinetic parameters). The kinetic parameters are
explicit arguments: the official few-shot loss uses the NOMINAL kinetics (k0, E, ΔH, ρ, Cp) with the task's
operating parameters, although tasks perturb the kinetics (kept on purpose; see the README).
Each function accepts numpy arrays or torch tensors of shape (n, 10) (initial states and inputs: (n,) or (n, 1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from paperzoo.reactor_fm.reactors import N_NODES, NOMINAL, R_GAS
from paperzoo.shared.validate import check_one_of, check_positive

KINETIC = {
    "cstr": ("k0", "E", "dH", "rho", "Cp"),
    "batch": ("k0", "E", "dH", "rho", "Cp"),
    "pfr": ("k0", "E_R", "dH", "rho", "Cp"),
}


def _exp(x: Any) -> Any:
    return torch.exp(x) if isinstance(x, torch.Tensor) else np.exp(x)


def _cat(parts: list, like: Any) -> Any:
    return torch.cat(parts, dim=-1) if isinstance(like, torch.Tensor) else np.concatenate(parts, axis=-1)


def _col(v: Any) -> Any:
    """An initial state or input as a column (n, 1) that broadcasts against (n, 10)."""
    if isinstance(v, (int, float)):
        return v
    return v if v.ndim == 2 else v[:, None]


def time_derivative(y: Any, y0: Any, dt_out: float) -> Any:
    """The notebook's finite-difference dy/dt of (n, 10) outputs with initial state ``y0``."""
    check_positive("dt_out", dt_out)
    first = (y[:, 1:2] - _col(y0)) / (2 * dt_out)
    centre = (y[:, 2:] - y[:, :-2]) / (2 * dt_out)
    last = (y[:, -1:] - y[:, -2:-1]) / dt_out
    return _cat([first, centre, last], y)


def _need(name: str, params: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {missing}")


def cstr_residual(
    conc: Any,
    temp: Any,
    conc0: Any,
    temp0: Any,
    c_a0: Any,
    q: Any,
    operating: Mapping[str, Any],
    kinetics: Mapping[str, Any],
    dt_out: float,
) -> tuple[Any, Any]:
    """CSTR residuals (r_C, r_T), absolute units; ``operating``: F, V, T0; ``kinetics``: k0, E, dH, rho, Cp.

    r_C = d̂C − [F/V (C_A0 − C) − k0 e^{−E/(RT)} C²],
    r_T = d̂T − [F/V (T0 − T) − ΔH/(ρ Cp) k0 e^{−E/(RT)} C² + Q/(ρ Cp V)].
    """
    _need("operating", operating, ("F", "V", "T0"))
    _need("kinetics", kinetics, KINETIC["cstr"])
    F, V, T0 = operating["F"], operating["V"], operating["T0"]
    k0, E, dH, rho, Cp = (kinetics[k] for k in KINETIC["cstr"])
    rate = k0 * _exp(-E / (R_GAS * temp)) * conc**2
    r_c = time_derivative(conc, conc0, dt_out) - (F / V * (_col(c_a0) - conc) - rate)
    r_t = time_derivative(temp, temp0, dt_out) - (
        F / V * (T0 - temp) - dH / (rho * Cp) * rate + _col(q) / (rho * Cp * V)
    )
    return r_c, r_t


def batch_residual(
    conc: Any,
    temp: Any,
    conc0: Any,
    temp0: Any,
    q: Any,
    operating: Mapping[str, Any],
    kinetics: Mapping[str, Any],
    dt_out: float,
) -> tuple[Any, Any]:
    """Batch residuals: r_C = d̂C + k0 e^{−E/(RT)} C, r_T = d̂T − [−ΔH/(ρ Cp) k0 e^{−E/(RT)} C + Q/(ρ Cp V)];
    ``operating``: V."""
    _need("operating", operating, ("V",))
    _need("kinetics", kinetics, KINETIC["batch"])
    k0, E, dH, rho, Cp = (kinetics[k] for k in KINETIC["batch"])
    rate = k0 * _exp(-E / (R_GAS * temp)) * conc
    r_c = time_derivative(conc, conc0, dt_out) + rate
    r_t = time_derivative(temp, temp0, dt_out) - (-dH / (rho * Cp) * rate + _col(q) / (rho * Cp * operating["V"]))
    return r_c, r_t


def pfr_residual(
    conc: Any,
    temp: Any,
    c_in: Any,
    t_in: Any,
    tc: Any,
    operating: Mapping[str, Any],
    kinetics: Mapping[str, Any],
    dt_out: float,
    nodes: int = N_NODES,
) -> tuple[Any, Any]:
    """PFR residuals at node 1 (initial state C = 0, T = T_cs; upstream node = the fixed inlet (c_in, t_in)):

    r_C = d̂C + v (C − C_in)/Δz + k0 e^{−(E/R)/T} C,
    r_T = d̂T + v (T − T_in)/Δz − (−ΔH)/(ρ Cp) k0 e^{−(E/R)/T} C − U A_t/(ρ Cp A) (T_c − T),  Δz = 1/(nodes − 1);
    ``operating``: v, U, A, A_t, T_cs; ``kinetics``: k0, E_R, dH, rho, Cp.
    """
    _need("operating", operating, ("v", "U", "A", "A_t", "T_cs"))
    _need("kinetics", kinetics, KINETIC["pfr"])
    k0, e_r, dH, rho, Cp = (kinetics[k] for k in KINETIC["pfr"])
    dz = 1.0 / (nodes - 1)
    v = operating["v"]
    rate = k0 * _exp(-e_r / temp) * conc
    r_c = time_derivative(conc, 0.0, dt_out) + v * (conc - _col(c_in)) / dz + rate
    heat = operating["U"] / (rho * Cp * operating["A"]) * operating["A_t"] * (_col(tc) - temp)
    r_t = (
        time_derivative(temp, operating["T_cs"], dt_out)
        + v * (temp - _col(t_in)) / dz
        - (-dH / (rho * Cp) * rate + heat)
    )
    return r_c, r_t


def kinetics_for(task: Any, which: str = "nominal") -> dict[str, float]:
    """The kinetic parameters a residual uses: the reactor's ``nominal`` ones (official) or the ``task``'s own."""
    check_one_of("which", which, ("nominal", "task"))
    source = NOMINAL[task.reactor] if which == "nominal" else task.params
    return {k: float(source[k]) for k in KINETIC[task.reactor]}


def task_residual(task: Any, x_std: Any, y_std: Any, kinetics: Mapping[str, float]) -> tuple[Any, Any]:
    """Residuals of standardised outputs ``y_std`` (n, 10, 2) on standardised inputs ``x_std`` (n, 10, 4) of
    ``task``: both de-standardised with the task's scalers, offsets (deviation variables) added back."""
    tensor = isinstance(y_std, torch.Tensor)

    def const(a: np.ndarray) -> Any:
        return torch.as_tensor(a, dtype=y_std.dtype, device=y_std.device) if tensor else a

    x = x_std[:, 0, :] * const(task.scaler_x.scale_) + const(task.scaler_x.mean_)
    y = y_std * const(task.scaler_y.scale_) + const(task.scaler_y.mean_)
    t_off, c_off = task.state_offset
    temp, conc = y[..., 0] + t_off, y[..., 1] + c_off
    temp0, conc0 = x[:, 0] + t_off, x[:, 1] + c_off
    p = task.params
    if task.reactor == "cstr":
        return cstr_residual(
            conc, temp, conc0, temp0, x[:, 3] + p["C_A0s"], x[:, 2] + p["Q_s"], p, kinetics, task.dt_out
        )
    if task.reactor == "batch":
        return batch_residual(conc, temp, conc0, temp0, x[:, 2] + p["Q_s"], p, kinetics, task.dt_out)
    return pfr_residual(conc, temp, conc0, temp0, x[:, 2] + p["T_cs"], p, kinetics, task.dt_out)
