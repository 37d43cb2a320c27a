"""N-PG-IGT, N-HARPG and HARPG (Fatkhullin et al., ICML 2023) as ``torch.optim.Optimizer``s that *ascend* J.

The closure is the sampler: it draws a fresh trajectory with the parameters as they are when it is called and
writes an estimate into ``p.grad`` (ascent direction). ``step(closure)`` moves the parameters to the point the
method samples at, calls the closure there, restores them and applies the update.

Schedules (t counted from 0; each param group is one parameter vector theta, normalised on its own):

    gamma_t = 2 gamma0 / (t + 2),        eta_t = eta0 (2 / (t + 2))^p

with p = 4/5 for N-PG-IGT (paper, Thm. on N-PG-IGT; garage code NIGT) and p = 1 for N-HARPG (this package's
reading of the paper's theorem, see README). ``p = 0`` with ``eta0 = 1`` makes both normalised PG.

``batched=True``: dim 0 of every parameter indexes independent problems (e.g. seeds); norms, inner products
and the random q_t are then per row, so one optimizer runs many independent copies at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer

from paperzoo.shared.validate import check_one_of

INDEXING = ("paper", "code")
Closure = Callable[..., object]


def gamma_schedule(gamma0: float, t: int) -> float:
    """gamma_t = 2 gamma0 / (t + 2)."""
    return 2.0 * gamma0 / (t + 2)


def eta_schedule(eta0: float, t: int, power: float) -> float:
    """eta_t = eta0 (2 / (t + 2))^power (t >= 0, so eta_0 = eta0)."""
    return eta0 * (2.0 / (t + 2)) ** power


def _check(gamma0: float, eta0: float, eta_power: float, name: str = "gamma0") -> None:
    if not (gamma0 > 0 and math.isfinite(gamma0)):
        raise ValueError(f"{name} must be finite and > 0, got {gamma0}")
    if not 0 < eta0 <= 1:
        raise ValueError(f"eta0 must be in (0, 1], got {eta0}")
    if not eta_power >= 0:
        raise ValueError(f"eta_power must be >= 0, got {eta_power}")


def row_dot(a: Sequence[Tensor], b: Sequence[Tensor], batched: bool) -> Tensor:
    """<a, b> over a parameter vector given as tensors: a scalar, or one value per row (dim 0) when batched."""
    if batched:
        return sum((x * y).flatten(1).sum(1) for x, y in zip(a, b, strict=True))
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def _expand(scale: Tensor, like: Tensor, batched: bool) -> Tensor:
    return scale.reshape((-1,) + (1,) * (like.dim() - 1)) if batched else scale


def _normalised_step(params: list[Tensor], d: list[Tensor], gamma: float, batched: bool) -> None:
    """theta += gamma d / ||d|| (per row when batched); a zero d leaves theta where it is."""
    norm = row_dot(d, d, batched).sqrt()
    scale = gamma / torch.where(norm > 0, norm, torch.ones_like(norm))
    scale = torch.where(norm > 0, scale, torch.zeros_like(scale))
    for p, di in zip(params, d, strict=True):
        p.add_(di * _expand(scale, di, batched))


def _grads(params: list[Tensor]) -> list[Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]


class NPGIGT(Optimizer):
    """Normalised policy gradient with implicit gradient transport (paper Alg. N-PG-IGT).

    t = 0: d_0 = g(tau_0, theta_0). t >= 1: theta~_t = theta_t + (1 - eta_t)/eta_t (theta_t - theta_{t-1}),
    tau_t ~ pi_{theta~_t}, d_t = (1 - eta_t) d_{t-1} + eta_t g(tau_t, theta~_t). Then
    theta_{t+1} = theta_t + gamma_t d_t / ||d_t||.

    ``indexing="code"``: the extrapolation uses eta_{t-1} (the garage NIGT optimizer updates eta inside step()
    after extrapolating); the averaging uses eta_t in both modes.
    """

    def __init__(
        self,
        params: object,
        gamma0: float,
        eta0: float = 1.0,
        eta_power: float = 0.8,
        indexing: str = "paper",
        batched: bool = False,
    ) -> None:
        _check(gamma0, eta0, eta_power)
        check_one_of("indexing", indexing, INDEXING)
        defaults = {"gamma0": gamma0, "eta0": eta0, "eta_power": eta_power, "indexing": indexing}
        super().__init__(params, defaults)
        self.batched = batched

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> object:  # type: ignore[override]
        """One iteration; ``closure()`` samples a trajectory at theta~_t and writes g into ``p.grad``."""
        if closure is None:
            raise ValueError("closure is required: it samples the trajectory at the extrapolated point")
        saved = []
        for group in self.param_groups:
            params = group["params"]
            t = self.state[params[0]].get("t", 0)
            saved.append([p.detach().clone() for p in params])
            if t > 0:
                t_eta = t - 1 if group["indexing"] == "code" else t
                eta = eta_schedule(group["eta0"], t_eta, group["eta_power"])
                for p in params:
                    p.add_(p - self.state[p]["prev"], alpha=(1 - eta) / eta)
        with torch.enable_grad():
            loss = closure()
        for group, theta in zip(self.param_groups, saved, strict=True):
            params = group["params"]
            t = self.state[params[0]].get("t", 0)
            eta = eta_schedule(group["eta0"], t, group["eta_power"])
            g = _grads(params)
            d = []
            for p, th, gi in zip(params, theta, g, strict=True):
                state = self.state[p]
                p.copy_(th)
                state["d"] = gi if t == 0 else (1 - eta) * state["d"] + eta * gi  # new tensors: no aliasing
                state["prev"] = th
                state["t"] = t + 1
                d.append(state["d"])
            _normalised_step(params, d, gamma_schedule(group["gamma0"], t), self.batched)
        return loss


class _HARPGBase(Optimizer):
    """Hessian-aided recursive momentum (paper Alg. (N)-HARPG), shared by the normalised and plain versions.

    t = 0: d_0 = g(tau_0, theta_0). t >= 1: q_t ~ U[0, 1], theta^_t = q_t theta_t + (1 - q_t) theta_{t-1};
    tau_t ~ pi_{theta_t}, tau^_t ~ pi_{theta^_t}; v_t = B^(tau^_t, theta^_t)(theta_t - theta_{t-1});
    d_t = (1 - eta_t)(d_{t-1} + v_t) + eta_t g(tau_t, theta_t).

    The closure takes one argument: ``closure(None)`` writes g at the current parameters into ``p.grad``,
    ``closure(u)`` (u: one tensor per parameter) writes the Hessian-vector estimate B^ u. One q_t per step (per
    row when batched) is shared by all param groups, so theta^_t lies on the segment for the whole parameter
    vector, and groups with other step sizes see the same q's (common random numbers in a step-size sweep).
    """

    normalised: bool

    def __init__(self, params: object, defaults: dict, batched: bool, seed: int) -> None:
        super().__init__(params, defaults)
        self.batched = batched
        self.generator = torch.Generator().manual_seed(seed)

    def _eta(self, group: dict, t: int) -> float:
        raise NotImplementedError

    def _move(self, params: list[Tensor], d: list[Tensor], group: dict, t: int) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> object:  # type: ignore[override]
        """One iteration: g at theta_t, then (t >= 1) B^ u at theta^_t; leaves theta_{t+1}."""
        if closure is None:
            raise ValueError("closure is required: closure(None) -> g, closure(u) -> B^ u")
        with torch.enable_grad():
            loss = closure(None)
        grads = [_grads(g["params"]) for g in self.param_groups]
        first = all(self.state[g["params"][0]].get("t", 0) == 0 for g in self.param_groups)
        hvps = None
        if not first:
            saved, directions = [], []
            rows = max(g["params"][0].shape[0] for g in self.param_groups) if self.batched else 1
            draw = torch.rand(rows, generator=self.generator, dtype=torch.float64)
            for group in self.param_groups:
                params = group["params"]
                q = draw[: params[0].shape[0]] if self.batched else draw
                saved.append([p.detach().clone() for p in params])
                u = [p - self.state[p]["prev"] for p in params]
                directions.extend(u)
                for p, ui in zip(params, u, strict=True):
                    qi = _expand(q, p, self.batched).to(p.dtype) if self.batched else float(q)
                    p.sub_((1 - qi) * ui)  # theta^ = theta - (1 - q)(theta - theta_prev)
            with torch.enable_grad():
                closure(directions)
            hvps = [_grads(g["params"]) for g in self.param_groups]
            for group, theta in zip(self.param_groups, saved, strict=True):
                for p, th in zip(group["params"], theta, strict=True):
                    p.copy_(th)
        for i, group in enumerate(self.param_groups):
            params = group["params"]
            t = self.state[params[0]].get("t", 0)
            eta = self._eta(group, t)
            d = []
            for j, p in enumerate(params):
                state = self.state[p]
                g = grads[i][j]
                if t == 0:
                    state["d"] = g
                else:
                    state["d"] = (1 - eta) * (state["d"] + hvps[i][j]) + eta * g
                state["prev"] = p.detach().clone()
                state["t"] = t + 1
                d.append(state["d"])
            self._move(params, d, group, t)
        return loss

    def state_dict(self) -> dict:
        """The optimizer state plus the generator of q_t (so a restored run draws the same q's)."""
        out = super().state_dict()
        out["generator"] = self.generator.get_state()
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the state and the q_t generator."""
        state_dict = dict(state_dict)
        self.generator.set_state(state_dict.pop("generator"))
        super().load_state_dict(state_dict)


class NHARPG(_HARPGBase):
    """Normalised HARPG: theta_{t+1} = theta_t + gamma_t d_t / ||d_t||, gamma_t = 2 gamma0/(t+2),
    eta_t = eta0 (2/(t+2))^eta_power (eta_power = 1: the brief's reading of the paper's theorem)."""

    def __init__(
        self,
        params: object,
        gamma0: float,
        eta0: float = 1.0,
        eta_power: float = 1.0,
        batched: bool = False,
        seed: int = 0,
    ) -> None:
        _check(gamma0, eta0, eta_power)
        super().__init__(params, {"gamma0": gamma0, "eta0": eta0, "eta_power": eta_power}, batched, seed)

    def _eta(self, group: dict, t: int) -> float:
        return eta_schedule(group["eta0"], t, group["eta_power"])

    def _move(self, params: list[Tensor], d: list[Tensor], group: dict, t: int) -> None:
        _normalised_step(params, d, gamma_schedule(group["gamma0"], t), self.batched)


class HARPG(_HARPGBase):
    """HARPG without normalisation: theta_{t+1} = theta_t + lr d_t with constant lr and eta."""

    def __init__(self, params: object, lr: float, eta: float, batched: bool = False, seed: int = 0) -> None:
        if not 0 < eta <= 1:
            raise ValueError(f"eta must be in (0, 1], got {eta}")
        _check(lr, 1.0, 0.0, name="lr")
        super().__init__(params, {"lr": lr, "eta": eta}, batched, seed)

    def _eta(self, group: dict, t: int) -> float:
        return group["eta"]

    def _move(self, params: list[Tensor], d: list[Tensor], group: dict, t: int) -> None:
        for p, di in zip(params, d, strict=True):
            p.add_(di, alpha=group["lr"])
