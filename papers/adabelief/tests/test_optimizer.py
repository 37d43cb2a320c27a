"""Tests of the AdaBelief optimizer.

Exactness is checked in float64: against the paper's equations re-implemented here in numpy, against
the official package ``adabelief-pytorch`` v0.2.1, against closed forms of limiting cases, and
between the three implementations (foreach must equal single_tensor bit for bit).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from adabelief_pytorch import AdaBelief as OfficialAdaBelief
from torch._dynamo.utils import counters

from paperzoo.adabelief import optimizer as adabelief_module
from paperzoo.adabelief.optimizer import AdaBelief
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


def official(params: Any, **kwargs: Any) -> OfficialAdaBelief:
    """The official optimizer, with its console messages swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return OfficialAdaBelief(params, print_change_log=False, **kwargs)


def first_rectified_step(beta2: float) -> int:
    """The smallest t with ρ_t ≥ 5 (ρ∞ = 2/(1−β2) − 1, ρ_t = ρ∞ − 2tβ2^t/(1−β2^t))."""
    rho_inf = 2 / (1 - beta2) - 1
    return next(t for t in itertools.count(1) if rho_inf - 2 * t * beta2**t / (1 - beta2**t) >= 5)


def reference_trajectory(
    theta: np.ndarray,
    grads: list[np.ndarray],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decay: str,
    amsgrad: bool,
    rectify: bool,
    degenerated_to_sgd: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(θ_t, m_t, s_t) for t = 1, 2, … written directly from the paper's equations (numpy float64)."""
    beta1, beta2 = betas
    m, s, s_max = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    rho_inf = 2 / (1 - beta2) - 1
    out = []
    for t, g in enumerate(grads, start=1):
        if decay == "decoupled":
            theta = theta * (1 - lr * weight_decay)
        elif decay == "fixed":
            theta = theta * (1 - weight_decay)
        else:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps
        s_max = np.maximum(s_max, s)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        if not rectify:
            v = s_max if amsgrad else s
            theta = theta - lr / bc1 * m / (np.sqrt(v) / math.sqrt(bc2) + eps)
        else:
            rho_t = rho_inf - 2 * t * beta2**t / bc2
            if rho_t >= 5:
                r = math.sqrt(bc2 * (rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / rho_t * rho_inf / (rho_inf - 2))
                theta = theta - lr * r / bc1 * m / (np.sqrt(s) + eps)
            elif degenerated_to_sgd:
                theta = theta - lr / bc1 * m
        out.append((theta, m, s))
    return out


DECAYS = {
    "decoupled": {"weight_decouple": True, "fixed_decay": False},
    "fixed": {"weight_decouple": True, "fixed_decay": True},
    "l2": {"weight_decouple": False},
}
# (rectify, β2, amsgrad, decay, degenerated_to_sgd): β2 = 0.8 first rectifies at t = 7, β2 = 0.999 at
# t = 6; eight steps cover both regimes.
HAND_CASES = [(False, 0.999, amsgrad, decay, True) for amsgrad, decay in itertools.product((False, True), DECAYS)] + [
    (True, beta2, amsgrad, decay, degenerated)
    for beta2, amsgrad, decay, degenerated in itertools.product((0.8, 0.999), (False, True), DECAYS, (True, False))
]


@pytest.mark.parametrize(("rectify", "beta2", "amsgrad", "decay", "degenerated"), HAND_CASES)
def test_matches_hand_computed_equations(
    rectify: bool, beta2: float, amsgrad: bool, decay: str, degenerated: bool
) -> None:
    steps = 8
    assert not rectify or first_rectified_step(beta2) <= steps  # both regimes are exercised
    settings = {"lr": 0.05, "betas": (0.6, beta2), "eps": 1e-10, "weight_decay": 0.3}
    flags = {"amsgrad": amsgrad, "rectify": rectify, "degenerated_to_sgd": degenerated}
    params, grads = make_params(((6,),)), make_grads(steps, ((6,),))
    expected = reference_trajectory(
        params[0].detach().numpy().copy(),
        [g[0].numpy() for g in grads],
        decay=decay,
        **settings,
        **flags,
    )
    optimizer = AdaBelief(params, implementation="single_tensor", **settings, **flags, **DECAYS[decay])
    state = optimizer.state[params[0]]
    for step_grads, (theta, m, s) in zip(grads, expected, strict=True):
        set_grads(params, step_grads)
        optimizer.step()
        np.testing.assert_allclose(params[0].detach().numpy(), theta, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state["exp_avg"].numpy(), m, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state["exp_avg_var"].numpy(), s, rtol=1e-12, atol=1e-15)


OFFICIAL_CASES = {
    "defaults": {},
    "not_rectified": {"rectify": False},
    "amsgrad": {"amsgrad": True, "rectify": False},
    "amsgrad_rectified": {"amsgrad": True},
    "decoupled_decay": {"weight_decay": 0.1},
    "fixed_decay": {"weight_decay": 0.1, "fixed_decay": True, "rectify": False},
    "l2_decay": {"weight_decay": 0.1, "weight_decouple": False},
    "no_sgd_phase": {"degenerated_to_sgd": False, "betas": (0.5, 0.9), "eps": 1e-8},
}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("settings", OFFICIAL_CASES.values(), ids=OFFICIAL_CASES.keys())
def test_matches_official_package(settings: dict[str, Any], implementation: str) -> None:
    # Every step sets a fresh p.grad, so the official code's in-place L2 edit of p.grad cannot carry
    # over; ours leaves p.grad alone (checked in test_l2_decay_leaves_grad_untouched).
    params_official = make_params()
    params_ours = copy_params(params_official)
    grads = make_grads(20)
    expected = run(official(params_official, lr=0.01, **settings), params_official, grads)
    ours = AdaBelief(params_ours, lr=0.01, implementation=implementation, **settings)
    for got_step, expected_step in zip(run(ours, params_ours, grads), expected, strict=True):
        for got, want in zip(got_step, expected_step, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_defaults_match_official_package() -> None:
    ours = inspect.signature(AdaBelief).parameters
    theirs = inspect.signature(OfficialAdaBelief).parameters
    shared = set(ours) & set(theirs) - {"params"}
    assert shared == set(ours) - {"params", "implementation"}
    assert {name: ours[name].default for name in shared} == {name: theirs[name].default for name in shared}


def test_beta1_zero_is_sgd_with_constant_step() -> None:
    # β1 = 0: m_t = g_t, so s_t = ε(1−β2^t)/(1−β2) and sqrt(s_t/(1−β2^t)) = sqrt(ε/(1−β2)) for all t.
    lr, beta2, eps = 0.01, 0.999, 1e-8
    params = make_params()
    sgd_params = copy_params(params)
    grads = make_grads(10)
    ours = AdaBelief(params, lr=lr, betas=(0.0, beta2), eps=eps, rectify=False, implementation="foreach")
    sgd = torch.optim.SGD(sgd_params, lr=lr / (math.sqrt(eps / (1 - beta2)) + eps))
    for got_step, want_step in zip(run(ours, params, grads), run(sgd, sgd_params, grads), strict=True):
        for got, want in zip(got_step, want_step, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0)


def step_sizes(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter, grads: list[torch.Tensor]) -> np.ndarray:
    """|Δθ_t| for each step, one row per step."""
    sizes = []
    for grad in grads:
        before = param.detach().clone()
        param.grad = grad.clone()
        optimizer.step()
        sizes.append((param.detach() - before).abs().numpy())
    return np.array(sizes)


def test_constant_gradient_steps_grow_to_the_epsilon_floor() -> None:
    # g − m_t = β1^t·g → 0, so s_t falls to its floor ε(1−β2^t)/(1−β2): the step approaches
    # lr·|g|/(sqrt(ε/(1−β2)) + ε), thousands of times Adam's step lr.
    lr, betas, eps = 1e-3, (0.5, 0.5), 1e-8
    g = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    param = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    optimizer = AdaBelief([param], lr=lr, betas=betas, eps=eps, rectify=False, implementation="single_tensor")
    sizes = step_sizes(optimizer, param, [g] * 80)
    # t = 1: m̂ = g, s_1/(1−β2) = (0.5·(g − 0.5g)² + ε)/0.5 = 0.25g² + 2ε
    first = lr * g.abs().numpy() / (np.sqrt(0.25 * g.numpy() ** 2 + 2 * eps) + eps)
    np.testing.assert_allclose(sizes[0], first, rtol=1e-12)
    assert np.all(np.diff(sizes, axis=0) >= 0)
    limit = lr * g.abs().numpy() / (math.sqrt(eps / (1 - betas[1])) + eps)
    np.testing.assert_allclose(sizes[-1], limit, rtol=1e-9)
    assert np.all(sizes[-1] > 1000 * lr)


def test_alternating_gradient_step_is_of_adams_order() -> None:
    # g_t = ±g: m_t → ±(1−β1)/(1+β1)·g and g_t − m_t → ±2β1/(1+β1)·g, while Adam's v_t → g². Unlike the
    # constant-gradient case, AdaBelief's step stays Adam's step times (1+β1)/(2β1).
    lr, betas = 1e-3, (0.9, 0.9)
    g = torch.tensor([1.0, -3.0], dtype=F64)
    grads = [g * (-1) ** t for t in range(300)]
    param, adam_param = torch.nn.Parameter(torch.zeros(2, dtype=F64)), torch.nn.Parameter(torch.zeros(2, dtype=F64))
    ours = AdaBelief([param], lr=lr, betas=betas, rectify=False, implementation="single_tensor")
    adam = torch.optim.Adam([adam_param], lr=lr, betas=betas, eps=1e-16)
    ratio = step_sizes(ours, param, grads)[-1] / step_sizes(adam, adam_param, grads)[-1]
    np.testing.assert_allclose(ratio, (1 + betas[0]) / (2 * betas[0]), rtol=1e-9)


@pytest.mark.parametrize("degenerated", [True, False])
@pytest.mark.parametrize(("beta2", "first_rectified"), [(0.999, 6), (0.9, 6), (0.8, 7), (0.7, 10)])
def test_rectification_starts_at_rho_5(beta2: float, first_rectified: int, degenerated: bool) -> None:
    assert first_rectified_step(beta2) == first_rectified
    lr, beta1 = 0.1, 0.9
    param = make_params(((4,),))[0]
    grads = [g[0] for g in make_grads(first_rectified, ((4,),))]
    optimizer = AdaBelief(
        [param], lr=lr, betas=(beta1, beta2), degenerated_to_sgd=degenerated, implementation="single_tensor"
    )
    m = torch.zeros(4, dtype=F64)
    for t, grad in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * grad
        momentum_step = lr * m / (1 - beta1**t)
        before = param.detach().clone()
        param.grad = grad.clone()
        optimizer.step()
        change = before - param.detach()
        if t < first_rectified and degenerated:
            torch.testing.assert_close(change, momentum_step, rtol=1e-10, atol=1e-15)
        elif t < first_rectified:
            assert torch.equal(change, torch.zeros(4, dtype=F64))
        else:
            assert not torch.allclose(change, momentum_step, rtol=1e-3)
            assert torch.all(change != 0)


@pytest.mark.parametrize("rectify", [False, True])
def test_amsgrad_state_is_a_running_maximum(rectify: bool) -> None:
    params, grads = make_params(), make_grads(30)
    optimizer = AdaBelief(params, amsgrad=True, rectify=rectify, implementation="single_tensor")
    previous = [torch.zeros_like(p) for p in params]
    var_fell = False
    for step_grads in grads:
        set_grads(params, step_grads)
        before = [optimizer.state[p]["exp_avg_var"].clone() if optimizer.state[p] else None for p in params]
        optimizer.step()
        for i, param in enumerate(params):
            state = optimizer.state[param]
            assert torch.all(state["max_exp_avg_var"] >= previous[i])
            assert torch.equal(state["max_exp_avg_var"], torch.maximum(previous[i], state["exp_avg_var"]))
            var_fell |= before[i] is not None and bool(torch.any(state["exp_avg_var"] < before[i]))
            previous[i] = state["max_exp_avg_var"].clone()
    assert var_fell  # the maximum was actually needed


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("rectify", [False, True])
@pytest.mark.parametrize(("fixed_decay", "factor"), [(False, 1 - 0.1 * 0.5), (True, 1 - 0.5)])
def test_decoupled_decay_with_zero_gradient(
    fixed_decay: bool, factor: float, rectify: bool, implementation: str
) -> None:
    param = make_params(((5,),))[0]
    expected = param.detach().clone()
    optimizer = AdaBelief(
        [param], lr=0.1, weight_decay=0.5, fixed_decay=fixed_decay, rectify=rectify, implementation=implementation
    )
    for _ in range(8):
        param.grad = torch.zeros(5, dtype=F64)
        optimizer.step()
        expected = expected * factor
        assert torch.equal(param.detach(), expected)


def test_l2_decay_leaves_grad_untouched() -> None:
    params, grads = make_params(), make_grads(3)
    optimizer = AdaBelief(params, weight_decay=0.5, weight_decouple=False, implementation="single_tensor")
    for step_grads in grads:
        set_grads(params, step_grads)
        optimizer.step()
        for param, grad in zip(params, step_grads, strict=True):
            assert torch.equal(param.grad, grad)


EQUALITY_CASES = [
    {"rectify": rectify, "amsgrad": amsgrad, "betas": (0.9, 0.8), **DECAYS[decay], **extra}
    for rectify, amsgrad, decay, extra in itertools.product(
        (False, True), (False, True), DECAYS, ({"degenerated_to_sgd": True}, {"degenerated_to_sgd": False})
    )
    if rectify or extra["degenerated_to_sgd"]
]


def two_group_trajectory(implementation: str, settings: dict[str, Any], steps: int = 10) -> list[torch.Tensor]:
    """Two groups, an lr change, a parameter without a gradient on odd steps: all values after each step."""
    return group_trajectory(
        lambda groups: AdaBelief(groups, lr=0.01, weight_decay=0.2, implementation=implementation, **settings), steps
    )


@pytest.mark.parametrize("settings", EQUALITY_CASES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_foreach_equals_single_tensor_bitwise(settings: dict[str, Any]) -> None:
    single = two_group_trajectory("single_tensor", settings)
    foreach = two_group_trajectory("foreach", settings)
    assert len(single) == len(foreach)
    assert all(torch.equal(a, b) for a, b in zip(single, foreach, strict=True))


COMPILED_CASES = {
    # β2 = 0.8: momentum steps (foreach ops) for t < 7, compiled rectified steps after; decoupled decay.
    "rectified": {"rectify": True, "amsgrad": True, "betas": (0.9, 0.8)},
    # sqrt(s_max)/sqrt(1−β2^t) + ε denominators; L2 decay.
    "amsgrad_l2": {"rectify": False, "amsgrad": True, "weight_decouple": False},
}


@pytest.mark.parametrize("settings", COMPILED_CASES.values(), ids=COMPILED_CASES.keys())
def test_compiled_matches_single_tensor_without_recompiling(settings: dict[str, Any]) -> None:
    # Two groups of the same shapes with different lrs share the graphs; the lrs change at t = 9.
    # ε = 1e-6 is large enough to show in s_t at the 1e-12 tolerance.
    def make(implementation: str) -> tuple[AdaBelief, list[torch.nn.Parameter]]:
        params = make_params(SHAPES * 2)
        groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.02}]
        return AdaBelief(groups, lr=0.01, eps=1e-6, weight_decay=0.2, implementation=implementation, **settings), params

    (single, params_single), (compiled, params_compiled) = make("single_tensor"), make("compiled")
    graphs_after_warmup = None
    for t, step_grads in enumerate(make_grads(12, SHAPES * 2), start=1):
        for optimizer, params in ((single, params_single), (compiled, params_compiled)):
            if t == 9:
                optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"] = 0.05, 0.001
            set_grads(params, step_grads)
            optimizer.step()
        for a, b in zip(params_compiled, params_single, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
            for key in ("exp_avg", "exp_avg_var", "max_exp_avg_var"):
                torch.testing.assert_close(compiled.state[a][key], single.state[b][key], rtol=1e-12, atol=1e-15)
        if t == 7:  # the first adaptive step (earlier ones are momentum steps when rectified)
            graphs_after_warmup = counters["stats"]["unique_graphs"]
    assert counters["stats"]["unique_graphs"] == graphs_after_warmup
    assert "cpu" not in adabelief_module._COMPILED.failures  # the compiled path really ran


@pytest.mark.parametrize(
    ("implementation", "amsgrad", "dtype"),
    [("single_tensor", False, F64), ("foreach", True, F64), ("foreach", False, torch.float16)],
)
def test_state_dict_round_trip_resumes_identically(implementation: str, amsgrad: bool, dtype: torch.dtype) -> None:
    settings = {"lr": 0.01, "amsgrad": amsgrad, "weight_decay": 0.1, "implementation": implementation}
    first, resumed = check_state_dict_round_trip(
        lambda ps: AdaBelief(ps, **settings), make_params(dtype=dtype), make_grads(10, dtype=dtype), split=5
    )
    state, resumed_state = (next(iter(o.state.values())) for o in (first, resumed))
    assert resumed_state["exp_avg"].dtype == state["exp_avg"].dtype
    assert (state["step"], resumed_state["step"]) == (5, 10)
    assert ("max_exp_avg_var" in resumed_state) == amsgrad


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_float32_state(dtype: torch.dtype, implementation: str) -> None:
    # The half parameter is updated in float32 and rounded back each step: the same as a float32
    # parameter that is rounded to the half dtype after each step.
    check_half_precision(
        lambda ps: AdaBelief(ps, lr=0.01, amsgrad=True, implementation=implementation),
        lambda ps: AdaBelief(ps, lr=0.01, amsgrad=True, implementation="single_tensor"),
        dtype,
        steps=8,
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"eps": -1e-16}, "eps"),
        ({"betas": (1.0, 0.999)}, "betas[0]"),
        ({"betas": (-0.1, 0.999)}, "betas[0]"),
        ({"betas": (0.9, 1.0)}, "betas[1]"),
        ({"betas": (0.9,)}, "betas"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"implementation": "fused"}, "implementation"),
        ({"amsgrad": "yes"}, "amsgrad"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must"):
        AdaBelief(make_params(), **kwargs)


def test_bad_group_setting_raises() -> None:
    optimizer = AdaBelief(make_params())
    with pytest.raises(ValueError, match=r"^lr must"):
        optimizer.add_param_group({"params": make_params(seed=3), "lr": -1.0})


def test_same_seed_same_numbers() -> None:
    first = two_group_trajectory("foreach", {"amsgrad": True})
    second = two_group_trajectory("foreach", {"amsgrad": True})
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
