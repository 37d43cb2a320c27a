"""Tests of the AdamP and SGDP optimizers.

Exactness is checked in float64: against the equations re-implemented here in numpy (with gradients built
so that the channel view, the layer view, or neither fires), against ``torch.optim.AdamW``/``SGD`` in the
δ = 0 limit (bit for bit), against the official package ``adamp`` v0.3.0 step for step (random
gradients and a small BatchNorm/LayerNorm model), and between the three implementations (foreach must
equal single_tensor bit for bit; compiled within 1e-12).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import adamp as official
import numpy as np
import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters
from torch.nn import functional as F
from torch.optim.optimizer import required

from paperzoo.adamp import optimizer as adamp_module
from paperzoo.adamp.optimizer import SGDP, AdamP, project_radial, scale_invariant_view
from paperzoo.shared.torch.testing import (
    SHAPES,
    check_half_precision,
    check_state_dict_round_trip,
    copy_params,
    group_trajectory,
    make_grads,
    make_params,
    run,
    set_grads,
)

F64 = torch.float64
# Per shape, how the test builds its gradient: orthogonal to each row ("channel"), to the whole tensor
# ("layer"), or random ("none"); the last is a vector (never tested).
CASE_SHAPES: tuple[tuple[int, ...], ...] = ((4, 2, 3), (3, 5), (2, 3), (5,))
CASE_KINDS = ("channel", "layer", "none", "none")


# ------------------------------------------------------------------------------------ numpy reference
def np_rows(x: np.ndarray, view: str) -> np.ndarray:
    return x.reshape(x.shape[0] if view == "channel" else 1, -1)


def np_view(w: np.ndarray, g: np.ndarray, delta: float, eps: float) -> str | None:
    """The scale-invariance test, written from the official code's description (|cos| of g and w per row)."""
    if w.ndim <= 1:
        return None
    for view in ("channel", "layer"):
        rw, rg = np_rows(w, view), np_rows(g, view)
        unit_w = rw / np.maximum(np.linalg.norm(rw, axis=1, keepdims=True), eps)
        unit_g = rg / np.maximum(np.linalg.norm(rg, axis=1, keepdims=True), eps)
        if np.abs((unit_w * unit_g).sum(1)).max() < delta / math.sqrt(rw.shape[1]):
            return view
    return None


def np_project(w: np.ndarray, d: np.ndarray, view: str, eps: float) -> np.ndarray:
    rw, rd = np_rows(w, view), np_rows(d, view)
    unit = rw / (np.linalg.norm(rw, axis=1, keepdims=True) + eps)
    return (rd - unit * (unit * rd).sum(1, keepdims=True)).reshape(d.shape)


def np_adamp(
    ws: list[np.ndarray],
    grad_fn: Callable[[int, list[np.ndarray]], list[np.ndarray]],
    steps: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    delta: float,
    wd_ratio: float,
    nesterov: bool,
) -> list[list[np.ndarray]]:
    """AdamP's parameters after each step (numpy float64)."""
    b1, b2 = betas
    m = [np.zeros_like(w) for w in ws]
    v = [np.zeros_like(w) for w in ws]
    out = []
    for t in range(1, steps + 1):
        gs = grad_fn(t - 1, ws)
        new = []
        for i, (w, g) in enumerate(zip(ws, gs, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            denom = np.sqrt(v[i]) / math.sqrt(1 - b2**t) + eps
            d = ((b1 * m[i] + (1 - b1) * g) if nesterov else m[i]) / denom
            view = np_view(w, g, delta, eps)
            ratio = 1.0
            if view is not None:
                d, ratio = np_project(w, d, view, eps), wd_ratio
            new.append(w * (1 - lr * weight_decay * ratio) - lr / (1 - b1**t) * d)
        ws = new
        out.append(ws)
    return out


def np_sgdp(
    ws: list[np.ndarray],
    grad_fn: Callable[[int, list[np.ndarray]], list[np.ndarray]],
    steps: int,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    eps: float,
    delta: float,
    wd_ratio: float,
) -> list[list[np.ndarray]]:
    """SGDP's parameters after each step (numpy float64); without Nesterov the buffer is projected too."""
    bufs = [np.zeros_like(w) for w in ws]
    out = []
    for t in range(steps):
        gs = grad_fn(t, ws)
        new = []
        for i, (w, g) in enumerate(zip(ws, gs, strict=True)):
            bufs[i] = momentum * bufs[i] + (1 - dampening) * g
            d = g + momentum * bufs[i] if nesterov else bufs[i]
            view = np_view(w, g, delta, eps)
            ratio = 1.0
            if view is not None:
                d, ratio = np_project(w, d, view, eps), wd_ratio
                if not nesterov:
                    bufs[i] = d
            new.append(w * (1 - lr * weight_decay * ratio / (1 - momentum)) - lr * d)
        ws = new
        out.append(ws)
    return out


def structured_grads(steps: int, shapes=CASE_SHAPES, kinds=CASE_KINDS, seed: int = 3):
    """``grad_fn(t, ws)``: random gradients made orthogonal to each row of w, to all of w, or left alone."""
    gen = np.random.default_rng(seed)
    raw = [[gen.normal(size=s) * (0.5 + t % 3) for s in shapes] for t in range(steps)]

    def grad_fn(t: int, ws: list[np.ndarray]) -> list[np.ndarray]:
        gs = []
        for w, r, kind in zip(ws, raw[t], kinds, strict=True):
            if kind == "none":
                gs.append(r)
                continue
            rw, rr = np_rows(w, kind), np_rows(r, kind)
            gs.append((rr - rw * (rw * rr).sum(1, keepdims=True) / (rw * rw).sum(1, keepdims=True)).reshape(r.shape))
        return gs

    return grad_fn


def torch_trajectory(
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    grad_fn: Callable[[int, list[np.ndarray]], list[np.ndarray]],
    steps: int,
    views: list[list[str | None]] | None = None,
) -> list[list[np.ndarray]]:
    """Step with gradients built from the current parameters; optionally record which view fires (δ 0.1)."""
    out = []
    for t in range(steps):
        grads = grad_fn(t, [p.detach().numpy() for p in params])
        set_grads(params, [torch.from_numpy(g) for g in grads])
        if views is not None:
            views.append([scale_invariant_view(p.detach(), p.grad, 0.1) for p in params])
        optimizer.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out


def case_params() -> list[nn.Parameter]:
    return make_params(CASE_SHAPES, seed=4)


def assert_trajectories_close(got, want, rtol: float = 1e-12, atol: float = 1e-14) -> None:
    for got_step, want_step in zip(got, want, strict=True):
        for a, b in zip(got_step, want_step, strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------- hand-built cases
def test_gradient_construction_fires_the_intended_views() -> None:
    views: list[list[str | None]] = []
    params = case_params()
    torch_trajectory(torch.optim.SGD(params, lr=0.1), params, structured_grads(6), 6, views)
    assert all(step == ["channel", "layer", None, None] for step in views)


ADAMP_CASES = {
    "defaults": {},
    "nesterov": {"nesterov": True},
    "decay": {"weight_decay": 0.3},
    "decay_nesterov_ratio": {"weight_decay": 0.3, "wd_ratio": 0.5, "nesterov": True, "betas": (0.8, 0.9)},
    "no_projection": {"delta": 0.0, "weight_decay": 0.3},
}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("settings", ADAMP_CASES.values(), ids=ADAMP_CASES.keys())
def test_adamp_matches_the_equations(settings: dict[str, Any], implementation: str) -> None:
    steps, grad_fn = 8, structured_grads(8)
    full = {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "delta": 0.1, "wd_ratio": 0.1}
    full |= {"nesterov": False, **settings}
    params = case_params()
    expected = np_adamp([p.detach().numpy().copy() for p in params], grad_fn, steps, **full)
    got = torch_trajectory(AdamP(params, implementation=implementation, **full), params, grad_fn, steps)
    assert_trajectories_close(got, expected)


SGDP_CASES = {
    "plain": {"momentum": 0.0},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
    "dampening_decay": {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.2},
    "nesterov_decay_ratio": {"momentum": 0.5, "nesterov": True, "weight_decay": 0.2, "wd_ratio": 0.5},
}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("settings", SGDP_CASES.values(), ids=SGDP_CASES.keys())
def test_sgdp_matches_the_equations(settings: dict[str, Any], implementation: str) -> None:
    steps, grad_fn = 8, structured_grads(8)
    full = {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    full |= {"eps": 1e-8, "delta": 0.1, "wd_ratio": 0.1, **settings}
    params = case_params()
    expected = np_sgdp([p.detach().numpy().copy() for p in params], grad_fn, steps, **full)
    got = torch_trajectory(SGDP(params, implementation=implementation, **full), params, grad_fn, steps)
    assert_trajectories_close(got, expected)


COMPILED_CASES = {
    "adamp": lambda ps: AdamP(ps, lr=0.05, weight_decay=0.3, implementation="compiled"),
    "sgdp": lambda ps: SGDP(ps, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.2, implementation="compiled"),
}
COMPILED_REFERENCES = {
    "adamp": lambda ws, fn, n: np_adamp(
        ws, fn, n, lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.3, delta=0.1, wd_ratio=0.1, nesterov=False
    ),
    "sgdp": lambda ws, fn, n: np_sgdp(
        ws, fn, n, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.2, nesterov=False, eps=1e-8, delta=0.1,
        wd_ratio=0.1,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", COMPILED_CASES)
def test_compiled_matches_the_equations_without_recompiling(name: str) -> None:
    steps, grad_fn = 8, structured_grads(8)
    params = case_params()
    expected = COMPILED_REFERENCES[name]([p.detach().numpy().copy() for p in params], grad_fn, steps)
    optimizer = COMPILED_CASES[name](params)
    got = torch_trajectory(optimizer, params, grad_fn, 2)
    graphs = counters["stats"]["unique_graphs"]
    got += torch_trajectory(optimizer, params, lambda t, ws: grad_fn(t + 2, ws), steps - 2)  # steps 3..8
    assert_trajectories_close(got, expected, rtol=1e-11, atol=1e-13)
    assert counters["stats"]["unique_graphs"] == graphs  # new step counts and scalars: no new graph
    compiled = adamp_module._ADAMP_COMPILED if name == "adamp" else adamp_module._SGDP_COMPILED
    assert "cpu" not in compiled.failures  # the compiled path really ran


def test_sgdp_without_nesterov_stores_the_projected_buffer() -> None:
    # The official code projects the update in place, and without Nesterov the update is the buffer.
    for nesterov in (False, True):
        w = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64))
        optimizer = SGDP([w], lr=0.1, momentum=0.9, nesterov=nesterov, eps=0.0, implementation="single_tensor")
        first = torch.tensor([[0.5, 1.0], [1.0, 0.5]], dtype=F64)  # not orthogonal: no projection
        w.grad = first.clone()
        optimizer.step()
        before = w.detach().clone()
        w.grad = torch.stack([before[:, 1], -before[:, 0]], dim=1)  # orthogonal to each row: projected
        assert scale_invariant_view(before, w.grad, 0.1) == "channel"
        optimizer.step()
        buf = optimizer.state[w]["momentum_buffer"]
        radial = (buf * before).sum(1) / (buf.norm(dim=1) * before.norm(dim=1))
        if nesterov:
            torch.testing.assert_close(buf, 0.9 * first + w.grad, rtol=1e-15, atol=0.0)
        else:
            assert radial.abs().max() < 1e-12  # ⟨b, w⟩ = 0 (ε = 0: ŵ is the unit vector)
            assert ((0.9 * first + w.grad) * before).sum(1).abs().min() > 0.1  # the unprojected buffer is not


def test_hand_computed_sgdp_step_projects_the_momentum() -> None:
    # Step 1: g1 = [[1, 1]] against w = [[1, 0]]: |cos| = 0.707 > 0.1/sqrt(2): no projection, b = g1.
    # Step 2: g2 = [[0, 1]] is orthogonal to w1: b = 0.9·g1 + g2 = [[0.9, 1.9]]; its radial part along
    # ŵ1 is removed, and the decay uses wd_ratio.
    lr, wd = 0.1, 0.5
    w = nn.Parameter(torch.tensor([[1.0, 0.0]], dtype=F64))
    optimizer = SGDP([w], lr=lr, momentum=0.9, weight_decay=wd, implementation="single_tensor")
    w.grad = torch.tensor([[1.0, 1.0]], dtype=F64)
    optimizer.step()
    w1 = np.array([[1.0 * (1 - lr * wd / 0.1) - lr, -lr]])
    np.testing.assert_allclose(w.detach().numpy(), w1, rtol=1e-15)
    g2 = np.array([[-w1[0, 1], w1[0, 0]]])  # orthogonal to w1
    w.grad = torch.from_numpy(g2.copy())
    optimizer.step()
    b = 0.9 * np.array([[1.0, 1.0]]) + g2
    unit = w1 / (np.linalg.norm(w1) + 1e-8)
    d = b - unit * (unit * b).sum()
    expected = w1 * (1 - lr * wd * 0.1 / 0.1) - lr * d
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-14)


# --------------------------------------------------------------------------- limits and equivalences
@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("torch_foreach", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_delta_zero_adamp_is_adamw_bitwise(weight_decay: float, torch_foreach: bool, implementation: str) -> None:
    # δ = 0: |cos| < 0 never holds, so nothing is projected and the decay is AdamW's 1 − lr·λ. Not Adam:
    # AdamP's decay is decoupled. (With Nesterov there is no torch.optim counterpart: NAdam's momentum
    # schedule and bias correction differ; that case is checked against the equations and the official code.)
    shapes = ((4, 2, 3), (3, 5), (5,))
    params, grads = make_params(shapes), make_grads(12, shapes)
    reference = copy_params(params)
    ours = AdamP(
        params, lr=0.01, betas=(0.8, 0.99), weight_decay=weight_decay, delta=0.0, implementation=implementation
    )
    adamw = torch.optim.AdamW(reference, lr=0.01, betas=(0.8, 0.99), weight_decay=weight_decay, foreach=torch_foreach)
    for a_step, b_step in zip(run(ours, params, grads), run(adamw, reference, grads), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(a_step, b_step, strict=True))


def test_delta_zero_compiled_adamp_is_adamw_to_rounding() -> None:
    params, grads = make_params(), make_grads(10)
    reference = copy_params(params)
    ours = AdamP(params, lr=0.01, weight_decay=0.1, delta=0.0, implementation="compiled")
    adamw = torch.optim.AdamW(reference, lr=0.01, weight_decay=0.1)
    for a_step, b_step in zip(run(ours, params, grads), run(adamw, reference, grads), strict=True):
        for a, b in zip(a_step, b_step, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_delta_zero_sgdp_is_sgd_bitwise(momentum: float, nesterov: bool, implementation: str) -> None:
    # δ = 0, λ = 0, no dampening: SGDP's zero-initialised buffer gives b_1 = g_1, torch.optim.SGD's b_1 = g_1.
    shapes = ((4, 2, 3), (3, 5), (5,))
    params, grads = make_params(shapes), make_grads(12, shapes)
    reference = copy_params(params)
    ours = SGDP(params, lr=0.05, momentum=momentum, nesterov=nesterov, delta=0.0, implementation=implementation)
    sgd = torch.optim.SGD(reference, lr=0.05, momentum=momentum, nesterov=nesterov)
    for a_step, b_step in zip(run(ours, params, grads), run(sgd, reference, grads), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(a_step, b_step, strict=True))


def test_sgdp_decay_is_decoupled_and_divided_by_one_minus_momentum() -> None:
    # SGDP's λ is not torch.optim.SGD's (an L2 term in the gradient): with δ = 0 it is SGD without decay
    # after w ← w·(1 − lr·λ/(1 − μ)), bit for bit.
    lr, wd, mu = 0.05, 0.2, 0.9
    params, grads = make_params(), make_grads(10)
    reference = copy_params(params)
    ours = SGDP(params, lr=lr, momentum=mu, nesterov=True, weight_decay=wd, delta=0.0, implementation="foreach")
    sgd = torch.optim.SGD(reference, lr=lr, momentum=mu, nesterov=True)
    for step_grads in grads:
        set_grads(params, step_grads)
        set_grads(reference, step_grads)
        ours.step()
        with torch.no_grad():
            for p in reference:
                p.mul_(1 - lr * wd / (1 - mu))
        sgd.step()
        assert all(torch.equal(a, b) for a, b in zip(params, reference, strict=True))


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach", "compiled"])
def test_decay_factor_per_parameter_with_zero_gradient(implementation: str) -> None:
    # g = 0: cos(0, w) = 0 < δ/sqrt(L), so every matrix is projected (r = wd_ratio); vectors never are.
    lr, wd, mu, ratio = 0.1, 0.5, 0.75, 0.2
    params = make_params(((3, 4), (5,)))
    start = [p.detach().clone() for p in params]
    optimizer = SGDP(params, lr=lr, momentum=mu, weight_decay=wd, wd_ratio=ratio, implementation=implementation)
    set_grads(params, [torch.zeros_like(p) for p in params])
    optimizer.step()
    torch.testing.assert_close(params[0].detach(), start[0] * (1 - lr * wd * ratio / (1 - mu)), rtol=1e-15, atol=0.0)
    torch.testing.assert_close(params[1].detach(), start[1] * (1 - lr * wd / (1 - mu)), rtol=1e-15, atol=0.0)


def test_dampening_starts_from_a_zero_buffer_unlike_torch_sgd() -> None:
    param, grad = make_params(((6,),))[0], make_grads(1, ((6,),))[0][0]
    start = param.detach().clone()
    optimizer = SGDP([param], lr=0.1, momentum=0.9, dampening=0.4, implementation="single_tensor")
    param.grad = grad.clone()
    optimizer.step()
    torch.testing.assert_close(param.detach(), start - 0.1 * 0.6 * grad, rtol=1e-15, atol=0.0)  # b_1 = 0.6·g
    other = nn.Parameter(start.clone())
    sgd = torch.optim.SGD([other], lr=0.1, momentum=0.9, dampening=0.4)
    other.grad = grad.clone()
    sgd.step()
    assert not torch.allclose(other.detach(), param.detach())  # torch.optim.SGD: b_1 = g


@pytest.mark.parametrize(("eps", "bound"), [(1e-8, 1e-6), (0.0, 1e-12)])
@pytest.mark.parametrize("name", ["adamp", "sgdp"])
def test_huge_delta_always_projects_at_the_channel_view(name: str, eps: float, bound: float) -> None:
    # δ > sqrt(row length) ≥ |cos|·sqrt(row length): every matrix is projected per channel, with wd_ratio.
    # ŵ = w/(‖w‖ + ε) leaves a radial part of relative size about 2ε/‖w‖; with ε = 0 only rounding remains.
    lr, wd, ratio = 0.05, 0.4, 0.25
    params, grads = make_params(((4, 2, 3), (3, 5), (5,))), make_grads(6, ((4, 2, 3), (3, 5), (5,)))
    if name == "adamp":
        optimizer = AdamP(params, lr=lr, eps=eps, weight_decay=wd, wd_ratio=ratio, delta=1e6, implementation="foreach")
        factor = 1 - lr * wd * ratio
    else:
        optimizer = SGDP(params, lr=lr, eps=eps, momentum=0.9, weight_decay=wd, wd_ratio=ratio, delta=1e6)
        factor = 1 - lr * wd * ratio / 0.1
    for step_grads in grads:
        before = [p.detach().clone() for p in params]
        assert [scale_invariant_view(p, g, 1e6) for p, g in zip(before, step_grads, strict=True)][:2] == [
            "channel",
            "channel",
        ]
        set_grads(params, step_grads)
        optimizer.step()
        for w, w0 in zip(params[:2], before[:2], strict=True):
            step = (w.detach() - w0 * factor).reshape(w0.shape[0], -1)  # −step_size·d_projected
            rows = w0.reshape(w0.shape[0], -1)
            cosine = (step * rows).sum(1).abs() / (step.norm(dim=1) * rows.norm(dim=1))
            assert cosine.max() < bound  # orthogonal, and the decay used wd_ratio


def test_one_dimensional_parameters_are_never_tested() -> None:
    assert scale_invariant_view(torch.ones(5), torch.zeros(5), delta=1e6) is None
    assert scale_invariant_view(torch.ones(()), torch.zeros(()), delta=1e6) is None
    params, grads = make_params(((7,),)), make_grads(5, ((7,),))
    reference = copy_params(params)
    ours = AdamP(params, lr=0.01, weight_decay=0.1, delta=1e6, implementation="single_tensor")
    adamw = torch.optim.AdamW(reference, lr=0.01, weight_decay=0.1)
    for a_step, b_step in zip(run(ours, params, grads), run(adamw, reference, grads), strict=True):
        assert torch.equal(a_step[0], b_step[0])


def test_channel_view_is_tried_first_and_only_one_projection_applies() -> None:
    # g orthogonal to every row is orthogonal to the whole tensor: both views would fire; the channel view wins.
    w = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=F64)
    g = torch.tensor([[2.0, -1.0, 0.0], [1.0, 3.0, 1.0]], dtype=F64)
    assert (g * w).sum(1).abs().max() == 0.0
    assert scale_invariant_view(w, g, 0.1) == "channel"
    # AdamP's first update d ≈ sign(g) has radial parts: the step removes them per row, not per layer.
    unprojected, projected = nn.Parameter(w.clone()), nn.Parameter(w.clone())
    for param, delta in ((unprojected, 0.0), (projected, 0.1)):
        param.grad = g.clone()
        AdamP([param], lr=0.1, delta=delta, implementation="single_tensor").step()
    step = w - unprojected.detach()
    torch.testing.assert_close(projected.detach(), w - project_radial(w, step, "channel"), rtol=1e-15, atol=1e-15)
    assert not torch.allclose(projected.detach(), w - project_radial(w, step, "layer"))
    # Only the layer view fires when g is orthogonal to w as a whole but not row by row.
    g_layer = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    g_layer = g_layer - w * (g_layer * w).sum() / (w * w).sum()
    assert scale_invariant_view(w, g_layer, 0.1) == "layer"


def test_cosine_test_uses_the_raw_gradient_and_absolute_value() -> None:
    w = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=F64)
    # cos = −0.04: below δ/sqrt(4) = 0.05 in absolute value; a test without |·| would fire for any negative cos.
    g = torch.tensor([[-0.04, math.sqrt(1 - 0.04**2), 0.0, 0.0]], dtype=F64)
    assert scale_invariant_view(w, g, 0.1) == "channel"
    assert scale_invariant_view(w, torch.tensor([[-0.9, 0.1, 0.0, 0.0]], dtype=F64), 0.1) is None


# ------------------------------------------------------------------------------- the official package
def official_params() -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    params = case_params()
    return params, copy_params(params)


OFFICIAL_ADAMP = {
    "defaults": {},
    "nesterov_decay": {"nesterov": True, "weight_decay": 0.2, "wd_ratio": 0.3},
    "always_projecting": {"delta": 1e6, "weight_decay": 0.2},
}
OFFICIAL_SGDP = {
    "momentum": {"momentum": 0.9},
    "nesterov_decay": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    "dampening_decay": {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1, "wd_ratio": 0.5},
    "always_projecting": {"momentum": 0.9, "delta": 1e6},
}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize(
    ("name", "settings"),
    [("adamp", s) for s in OFFICIAL_ADAMP.values()] + [("sgdp", s) for s in OFFICIAL_SGDP.values()],
    ids=[f"adamp-{k}" for k in OFFICIAL_ADAMP] + [f"sgdp-{k}" for k in OFFICIAL_SGDP],
)
def test_matches_official_package_step_for_step(name: str, settings: dict[str, Any], implementation: str) -> None:
    steps, grad_fn = 10, structured_grads(10, seed=11)
    ours_params, theirs_params = official_params()
    if name == "adamp":
        ours = AdamP(ours_params, lr=0.02, implementation=implementation, **settings)
        theirs = official.AdamP(theirs_params, lr=0.02, **settings)
    else:
        ours = SGDP(ours_params, lr=0.1, implementation=implementation, **settings)
        theirs = official.SGDP(theirs_params, lr=0.1, **settings)
    assert_trajectories_close(
        torch_trajectory(ours, ours_params, grad_fn, steps), torch_trajectory(theirs, theirs_params, grad_fn, steps)
    )


class NormalisedNet(nn.Module):
    """conv → BatchNorm (channel-wise scale-invariant), linear → LayerNorm (layer-wise), linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.hidden = nn.Linear(6 * 16, 12, bias=False)
        self.norm = nn.LayerNorm(12)
        self.head = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)
        return self.head(F.relu(self.norm(self.hidden(z))))


def digits_batches(steps: int, batch: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images / 16.0).unsqueeze(1)
    y = torch.from_numpy(digits.target)
    gen = torch.Generator().manual_seed(0)
    return [(x[i], y[i]) for i in (torch.randint(len(y), (batch,), generator=gen) for _ in range(steps))]


def test_hand_built_model_projects_exactly_the_normalised_weights() -> None:
    torch.manual_seed(0)
    model = NormalisedNet().double()
    x, y = digits_batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    views = {name: scale_invariant_view(p.detach(), p.grad, 0.1) for name, p in model.named_parameters()}
    assert views == {
        "conv.weight": "channel",
        "bn.weight": None,
        "bn.bias": None,
        "hidden.weight": "layer",
        "norm.weight": None,
        "norm.bias": None,
        "head.weight": None,
        "head.bias": None,
    }
    # The optimizer acts on that set: the projected updates have no radial component (per row for the
    # conv, as a whole for the hidden layer), the head's has one.
    params = dict(model.named_parameters())
    before = {name: p.detach().clone() for name, p in params.items()}
    for implementation in ("single_tensor", "foreach", "compiled"):
        model_copy = NormalisedNet().double()
        model_copy.load_state_dict(model.state_dict())
        for name, p in model_copy.named_parameters():
            p.grad = params[name].grad.clone()
        AdamP(model_copy.parameters(), lr=0.01, implementation=implementation).step()
        after = dict(model_copy.named_parameters())

        def radial(name: str, view: str, a=after) -> float:
            w, dw = before[name], a[name].detach() - before[name]
            rows = w.shape[0] if view == "channel" else 1
            w, dw = w.reshape(rows, -1), dw.reshape(rows, -1)
            return float(((w * dw).sum(1).abs() / (w.norm(dim=1) * dw.norm(dim=1))).max())

        assert radial("conv.weight", "channel") < 1e-6  # ε/‖w_i‖-sized remainder (ŵ = w/(‖w‖ + ε))
        assert radial("hidden.weight", "layer") < 1e-6
        assert radial("hidden.weight", "channel") > 1e-3  # rows are not individually projected
        assert radial("head.weight", "layer") > 1e-4


@pytest.mark.parametrize("name", ["adamp", "sgdp"])
def test_matches_official_package_on_a_small_model(name: str) -> None:
    # Each optimizer trains its own copy of the model on the same batches (float64, 15 steps): channel- and
    # layer-view projections, unprojected matrices and vectors, weight decay, Nesterov.
    torch.manual_seed(0)
    ours_model = NormalisedNet().double()
    theirs_model = NormalisedNet().double()
    theirs_model.load_state_dict(ours_model.state_dict())
    if name == "adamp":
        ours = AdamP(ours_model.parameters(), lr=0.01, weight_decay=0.05, nesterov=True, implementation="foreach")
        theirs = official.AdamP(theirs_model.parameters(), lr=0.01, weight_decay=0.05, nesterov=True)
    else:
        ours = SGDP(ours_model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3, implementation="foreach")
        theirs = official.SGDP(theirs_model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    fired = set()
    for x, y in digits_batches(15):
        for model, optimizer in ((ours_model, ours), (theirs_model, theirs)):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            fired |= {scale_invariant_view(p.detach(), p.grad, 0.1) for p in model.parameters()}
            optimizer.step()
    assert fired == {"channel", "layer", None}
    for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_defaults_match_official_package() -> None:
    for ours_class, theirs_class in ((AdamP, official.AdamP), (SGDP, official.SGDP)):
        ours = inspect.signature(ours_class).parameters
        theirs = inspect.signature(theirs_class).parameters
        assert set(ours) - {"implementation"} == set(theirs)
        assert all(ours[name].default == theirs[name].default for name in theirs if name != "lr")
    assert inspect.signature(SGDP).parameters["lr"].default is required
    assert inspect.signature(AdamP).parameters["lr"].default == 1e-3


# ---------------------------------------------------------------------------- scale invariance (BN)
def test_batchnorm_makes_conv_weights_scale_invariant() -> None:
    from paperzoo.adamp.models import BNCNN

    torch.manual_seed(0)
    model = BNCNN().double()
    x, y = digits_batches(1, batch=64)[0]
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for conv in model.conv_weights():
            conv.mul_(3.0)
        scaled = F.cross_entropy(model(x), y)
    assert scaled.item() == pytest.approx(loss.item(), rel=1e-4)  # up to BatchNorm's ε
    for conv in model.conv_weights():
        with torch.no_grad():
            conv.div_(3.0)
        assert scale_invariant_view(conv.detach(), conv.grad, 0.1) == "channel"
    assert scale_invariant_view(model.head.weight.detach(), model.head.weight.grad, 0.1) is None


# ------------------------------------------------------------------------------- the implementations
EQUALITY_CASES = {
    "adamp": lambda groups, impl, delta: AdamP(groups, lr=0.01, weight_decay=0.2, delta=delta, implementation=impl),
    "adamp_nesterov": lambda groups, impl, delta: AdamP(
        groups, lr=0.01, weight_decay=0.2, delta=delta, nesterov=True, implementation=impl
    ),
    "sgdp": lambda groups, impl, delta: SGDP(
        groups, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.2, delta=delta, implementation=impl
    ),
    "sgdp_nesterov": lambda groups, impl, delta: SGDP(
        groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.2, delta=delta, implementation=impl
    ),
}


@pytest.mark.parametrize("delta", [0.1, 1e6])
@pytest.mark.parametrize("name", EQUALITY_CASES)
def test_foreach_equals_single_tensor_bitwise(name: str, delta: float) -> None:
    # Two groups, an lr change, a parameter without a gradient on odd steps (group_trajectory).
    single = group_trajectory(lambda groups: EQUALITY_CASES[name](groups, "single_tensor", delta), 8)
    foreach = group_trajectory(lambda groups: EQUALITY_CASES[name](groups, "foreach", delta), 8)
    assert len(single) == len(foreach)
    assert all(torch.equal(a, b) for a, b in zip(single, foreach, strict=True))


@pytest.mark.parametrize(
    ("make", "dtype"),
    [
        (lambda ps: AdamP(ps, lr=0.01, weight_decay=0.1, delta=1e6, implementation="single_tensor"), F64),
        (lambda ps: SGDP(ps, lr=0.1, momentum=0.9, weight_decay=0.1, delta=1e6, implementation="foreach"), F64),
        (lambda ps: AdamP(ps, lr=0.01, nesterov=True, implementation="foreach"), torch.float16),
    ],
)
def test_state_dict_round_trip_resumes_identically(make: Callable, dtype: torch.dtype) -> None:
    first, resumed = check_state_dict_round_trip(make, make_params(dtype=dtype), make_grads(10, dtype=dtype), split=5)
    state, resumed_state = (next(iter(o.state.values())) for o in (first, resumed))
    assert (state["step"], resumed_state["step"]) == (5, 10)
    assert all(
        v.dtype == (F64 if dtype == F64 else torch.float32) for v in resumed_state.values() if torch.is_tensor(v)
    )


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_float32_state(dtype: torch.dtype, implementation: str) -> None:
    for make in (
        lambda ps, i: AdamP(ps, lr=0.01, weight_decay=0.1, delta=1e6, implementation=i),
        lambda ps, i: SGDP(ps, lr=0.1, momentum=0.9, delta=1e6, implementation=i),
    ):
        check_half_precision(
            lambda ps, m=make: m(ps, implementation), lambda ps, m=make: m(ps, "single_tensor"), dtype, steps=6
        )


def test_closure_and_missing_gradients() -> None:
    params = make_params(SHAPES)
    optimizer = AdamP(params, lr=0.1, implementation="single_tensor")
    params[1].grad = None

    def closure() -> float:
        params[0].grad = torch.ones_like(params[0])
        return 3.0

    before = params[1].detach().clone()
    assert optimizer.step(closure) == 3.0
    assert torch.equal(params[1].detach(), before) and optimizer.state[params[0]]["step"] == 1


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda ps: AdamP(ps, lr=-1e-3), "lr"),
        (lambda ps: AdamP(ps, eps=-1e-8), "eps"),
        (lambda ps: AdamP(ps, betas=(1.0, 0.999)), "betas[0]"),
        (lambda ps: AdamP(ps, betas=(0.9, -0.1)), "betas[1]"),
        (lambda ps: AdamP(ps, betas=(0.9,)), "betas"),
        (lambda ps: AdamP(ps, weight_decay=-0.1), "weight_decay"),
        (lambda ps: AdamP(ps, delta=-0.1), "delta"),
        (lambda ps: AdamP(ps, wd_ratio=-1.0), "wd_ratio"),
        (lambda ps: AdamP(ps, nesterov="yes"), "nesterov"),
        (lambda ps: AdamP(ps, implementation="fused"), "implementation"),
        (lambda ps: SGDP(ps), "lr"),
        (lambda ps: SGDP(ps, lr=0.1, momentum=1.0), "momentum"),
        (lambda ps: SGDP(ps, lr=0.1, momentum=-0.5), "momentum"),
        (lambda ps: SGDP(ps, lr=0.1, dampening=1.5), "dampening"),
        (lambda ps: SGDP(ps, lr=0.1, delta=float("nan")), "delta"),
        (lambda ps: SGDP([{"params": ps, "wd_ratio": -0.1}], lr=0.1), "wd_ratio"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(make: Callable, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must"):
        make(make_params())


def test_complex_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^params"):
        AdamP([nn.Parameter(torch.ones(3, dtype=torch.complex64))])
