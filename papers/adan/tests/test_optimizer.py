"""Tests of the Adan optimizer.

Exactness is checked in float64: against the equations re-implemented here in numpy (the official
code's arithmetic, and the paper's Algorithm 1 for ``paper_init``), against ``torch.optim.Adam`` in the
b2 = 0 limit, against closed forms (first step, pure decay), and between the three implementations
(foreach must equal single_tensor bit for bit; compiled within 1e-12).
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from paperzoo.adan import optimizer as adan_module
from paperzoo.adan.optimizer import STATE_TENSORS, Adan
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


def reference_trajectory(
    thetas: list[np.ndarray],
    grads: list[list[np.ndarray]],
    *,
    lr: float,
    betas: tuple[float, float, float],
    eps: float,
    weight_decay: float,
    max_grad_norm: float,
    no_prox: bool,
    paper_init: bool,
) -> list[list[tuple[np.ndarray, ...]]]:
    """Per step, per parameter (θ, m, v, n), written directly from the equations (numpy float64)."""
    b1, b2, b3 = betas
    m = [np.zeros_like(t) for t in thetas]
    v, n, prev = [np.zeros_like(t) for t in thetas], [np.zeros_like(t) for t in thetas], [None] * len(thetas)
    out = []
    for k, gs in enumerate(grads, start=1):
        if max_grad_norm > 0:
            norm = math.sqrt(sum(float((g**2).sum()) for g in gs))
            gs = [g * min(max_grad_norm / (norm + eps), 1.0) for g in gs]
        row = []
        for i, g in enumerate(gs):
            delta = np.zeros_like(g) if k == 1 else g - prev[i]
            if paper_init and k == 1:
                m[i], v[i], n[i] = g, np.zeros_like(g), g**2
            else:
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = delta if paper_init and k == 2 else b2 * v[i] + (1 - b2) * delta
                n[i] = b3 * n[i] + (1 - b3) * (g + b2 * delta) ** 2
            if paper_init:
                update = lr * (m[i] + b2 * v[i]) / (np.sqrt(n[i]) + eps)
            else:
                denom = np.sqrt(n[i] / (1 - b3**k)) + eps
                update = lr / (1 - b1**k) * m[i] / denom + lr * b2 / (1 - b2**k) * v[i] / denom
            if no_prox:
                thetas[i] = thetas[i] * (1 - lr * weight_decay) - update
            else:
                thetas[i] = (thetas[i] - update) / (1 + lr * weight_decay)
            prev[i] = g
            row.append((thetas[i], m[i], v[i], n[i]))
        out.append(row)
    return out


HAND_CASES = {
    f"{'no_prox' if no_prox else 'prox'}-wd{wd}-clip{clip}-{'paper' if paper else 'code'}_init": {
        "no_prox": no_prox,
        "weight_decay": wd,
        "max_grad_norm": clip,
        "paper_init": paper,
    }
    for no_prox, wd, clip, paper in itertools.product((False, True), (0.0, 0.3), (0.0, 1.5), (False, True))
}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
@pytest.mark.parametrize("settings", HAND_CASES.values(), ids=HAND_CASES.keys())
def test_matches_hand_computed_equations(settings: dict[str, Any], implementation: str) -> None:
    steps = 4  # the first three steps and one more: k = 1 (Δ = 0), k = 2 (paper's v_1 = g_1 − g_0), EMAs
    hyper = {"lr": 0.05, "betas": (0.7, 0.6, 0.8), "eps": 1e-10}
    params, grads = make_params(), make_grads(steps)
    expected = reference_trajectory(
        [p.detach().numpy().copy() for p in params], [[g.numpy() for g in gs] for gs in grads], **hyper, **settings
    )
    optimizer = Adan(params, implementation=implementation, **hyper, **settings)
    clip_was_active = False
    for step_grads, rows in zip(grads, expected, strict=True):
        set_grads(params, step_grads)
        optimizer.step()
        clip_was_active |= not torch.equal(params[0].grad, step_grads[0])
        for param, (theta, m, v, n) in zip(params, rows, strict=True):
            state = optimizer.state[param]
            for got, want in ((param.detach(), theta), (state["exp_avg"], m), (state["exp_avg_diff"], v)):
                np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(state["exp_avg_sq"].numpy(), n, rtol=1e-12, atol=1e-15)
    assert clip_was_active == (settings["max_grad_norm"] > 0)  # the clipping cases really clip


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach", "compiled"])
@pytest.mark.parametrize("betas", [(0.98, 0.0, 0.99), (0.9, 0.0, 0.999)])
def test_beta2_zero_is_adam(betas: tuple[float, float, float], implementation: str) -> None:
    # b2 = 0: the v-term's step lr·b2/(1 − b2^k) is 0 and n is the EMA of g² (g + 0·Δ = g): Adam(b1, b3).
    params, grads = make_params(), make_grads(30)
    adam_params = copy_params(params)
    ours = run(Adan(params, lr=0.01, betas=betas, eps=1e-8, implementation=implementation), params, grads)
    adam = torch.optim.Adam(adam_params, lr=0.01, betas=(betas[0], betas[2]), eps=1e-8, foreach=False)
    for got_step, want_step in zip(ours, run(adam, adam_params, grads), strict=True):
        for got, want in zip(got_step, want_step, strict=True):
            torch.testing.assert_close(got, want, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach", "compiled"])
@pytest.mark.parametrize("paper_init", [False, True])
def test_first_step_is_a_sign_step(paper_init: bool, implementation: str) -> None:
    # k = 1: Δ_1 = 0 ⇒ v_1 = 0, n_1 = (1 − b3)·g², bias-corrected ⇒ θ moves by lr·g/(|g| + ε).
    lr, eps = 0.1, 1e-3  # a large ε makes the difference from lr·sign(g) visible
    param = make_params(((6,),))[0]
    start, grad = param.detach().clone(), make_grads(1, ((6,),))[0][0]
    optimizer = Adan([param], lr=lr, eps=eps, paper_init=paper_init, implementation=implementation)
    set_grads([param], [grad])
    optimizer.step()
    torch.testing.assert_close(start - param.detach(), lr * grad / (grad.abs() + eps), rtol=1e-13, atol=0.0)
    assert torch.equal(optimizer.state[param]["exp_avg_diff"], torch.zeros(6, dtype=F64))
    assert torch.equal(optimizer.state[param]["prev_grad"], grad)


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach", "compiled"])
@pytest.mark.parametrize(("no_prox", "factor"), [(False, 1 / (1 + 0.1 * 0.5)), (True, 1 - 0.1 * 0.5)])
def test_zero_gradient_is_pure_decay(no_prox: bool, factor: float, implementation: str) -> None:
    param = make_params(((5,),))[0]
    expected = param.detach().clone()
    optimizer = Adan([param], lr=0.1, weight_decay=0.5, no_prox=no_prox, implementation=implementation)
    for _ in range(5):
        param.grad = torch.zeros(5, dtype=F64)
        optimizer.step()
        expected = expected / (1 + 0.1 * 0.5) if not no_prox else expected * (1 - 0.1 * 0.5)
        assert torch.equal(param.detach(), expected)
    torch.testing.assert_close(param.detach(), make_params(((5,),))[0].detach() * factor**5, rtol=1e-14, atol=0.0)


def test_prox_and_no_prox_differ_only_by_decay_order() -> None:
    # (θ − u)/(1 + lr·λ) vs θ(1 − lr·λ) − u: the same to first order in lr·λ, different beyond.
    params, grads = make_params(), make_grads(3)
    a, b = copy_params(params), copy_params(params)
    prox = run(Adan(a, lr=0.1, weight_decay=0.5, implementation="single_tensor"), a, grads)[-1]
    no_prox = run(Adan(b, lr=0.1, weight_decay=0.5, no_prox=True, implementation="single_tensor"), b, grads)[-1]
    assert not torch.allclose(prox[0], no_prox[0], rtol=1e-6)
    torch.testing.assert_close(prox[0], no_prox[0], rtol=0.05, atol=0.05)


CLIP_CASES = {"clips": (0.5, True), "below_threshold": (1e6, False), "off": (0.0, False)}


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach", "compiled"])
@pytest.mark.parametrize(("max_norm", "clips"), CLIP_CASES.values(), ids=CLIP_CASES.keys())
def test_clipping_is_global_and_scales_grad_in_place(max_norm: float, clips: bool, implementation: str) -> None:
    # Two groups, one norm: the clipped p.grad of both groups is c·g with c = max/(‖g‖ + ε) over all of them.
    params = make_params(((3, 4), (5,), (2,)))
    grads = make_grads(1, ((3, 4), (5,), (2,)))[0]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.5}]
    optimizer = Adan(groups, lr=0.01, max_grad_norm=max_norm, implementation=implementation)
    set_grads(params, grads)
    norm = math.sqrt(sum(g.square().sum().item() for g in grads))
    coefficient = min(max_norm / (norm + 1e-8), 1.0) if max_norm > 0 else 1.0
    assert optimizer.clip_coefficient() == pytest.approx(coefficient, rel=1e-14)
    optimizer.step()
    clipped_norm = math.sqrt(sum(p.grad.square().sum().item() for p in params))
    if clips:
        assert coefficient < 1.0
        assert clipped_norm <= max_norm
        for param, grad in zip(params, grads, strict=True):
            torch.testing.assert_close(param.grad, grad * coefficient, rtol=1e-15, atol=0.0)
            # the clipped gradient is what is remembered for Δ
            assert torch.equal(optimizer.state[param]["prev_grad"], param.grad)
    else:
        assert all(torch.equal(p.grad, g) for p, g in zip(params, grads, strict=True))


def test_clipping_uses_the_clipped_previous_gradient() -> None:
    # With clipping on every step, Δ_2 = c_2·g_2 − c_1·g_1 (clipped, not raw): hand-check v_2.
    b1, b2, b3 = 0.5, 0.5, 0.5
    param = torch.nn.Parameter(torch.zeros(2, dtype=F64))
    optimizer = Adan([param], lr=0.0, betas=(b1, b2, b3), max_grad_norm=1.0, eps=0.0, implementation="foreach")
    for g in ([3.0, 4.0], [0.0, 10.0]):
        param.grad = torch.tensor(g, dtype=F64)
        optimizer.step()
    clipped1, clipped2 = torch.tensor([0.6, 0.8], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    # v_1 = 0, v_2 = (1 − b2)·(c2·g2 − c1·g1)
    torch.testing.assert_close(optimizer.state[param]["exp_avg_diff"], (1 - b2) * (clipped2 - clipped1))


def test_defaults_match_official_code() -> None:
    # sail-sg/Adan adan.py: Adan(params, lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=0.0,
    # max_grad_norm=0.0, no_prox=False, foreach=True, fused=False)
    official = {
        "lr": 1e-3,
        "betas": (0.98, 0.92, 0.99),
        "eps": 1e-8,
        "weight_decay": 0.0,
        "max_grad_norm": 0.0,
        "no_prox": False,
    }
    ours = inspect.signature(Adan).parameters
    assert {name: ours[name].default for name in official} == official


def two_group_trajectory(implementation: str, settings: dict[str, Any], steps: int = 8) -> list[torch.Tensor]:
    """Two groups, an lr change, a parameter without a gradient on odd steps: values, clipped grads, m, v, n, g_prev."""
    return group_trajectory(
        lambda groups: Adan(groups, lr=0.01, weight_decay=0.2, implementation=implementation, **settings), steps
    )


EQUALITY_CASES = {
    "defaults": {},
    "no_prox": {"no_prox": True},
    "paper_init": {"paper_init": True},
    "clipped": {"max_grad_norm": 1.0},
    "paper_init_no_prox_clipped": {"paper_init": True, "no_prox": True, "max_grad_norm": 1.0},
}


@pytest.mark.parametrize("settings", EQUALITY_CASES.values(), ids=EQUALITY_CASES.keys())
def test_foreach_equals_single_tensor_bitwise(settings: dict[str, Any]) -> None:
    single = two_group_trajectory("single_tensor", settings)
    foreach = two_group_trajectory("foreach", settings)
    assert len(single) == len(foreach)
    assert all(torch.equal(a, b) for a, b in zip(single, foreach, strict=True))


@pytest.mark.parametrize("settings", [{"max_grad_norm": 1.0}, {"paper_init": True, "no_prox": True}])
def test_compiled_matches_single_tensor_without_recompiling(settings: dict[str, Any]) -> None:
    # Two groups of the same shapes share the graph; the lrs change at t = 5; paper_init's k = 1, 2 steps
    # (other coefficients) run through the same graph.
    def make(implementation: str) -> tuple[Adan, list[torch.nn.Parameter]]:
        params = make_params(SHAPES * 2)
        groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.02}]
        return Adan(groups, lr=0.01, weight_decay=0.2, implementation=implementation, **settings), params

    (single, params_single), (compiled, params_compiled) = make("single_tensor"), make("compiled")
    graphs_after_first = None
    for t, step_grads in enumerate(make_grads(7, SHAPES * 2), start=1):
        for optimizer, params in ((single, params_single), (compiled, params_compiled)):
            if t == 5:
                optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"] = 0.05, 0.001
            set_grads(params, step_grads)
            optimizer.step()
        for a, b in zip(params_compiled, params_single, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
            for key in STATE_TENSORS:
                torch.testing.assert_close(compiled.state[a][key], single.state[b][key], rtol=1e-12, atol=1e-15)
        if t == 1:
            graphs_after_first = counters["stats"]["unique_graphs"]
    assert counters["stats"]["unique_graphs"] == graphs_after_first
    assert "cpu" not in adan_module._COMPILED.failures  # the compiled path really ran


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_restart_reproduces_a_fresh_trajectory(implementation: str) -> None:
    params, grads = make_params(), make_grads(10)
    optimizer = Adan(params, lr=0.01, weight_decay=0.1, implementation=implementation)
    run(optimizer, params, grads[:5])
    optimizer.restart()
    assert all(optimizer.state[p]["step"] == 0 for p in params)
    fresh_params = copy_params(params)
    fresh = Adan(fresh_params, lr=0.01, weight_decay=0.1, implementation=implementation)
    continued = run(optimizer, params, grads[5:])
    restarted = run(fresh, fresh_params, grads[5:])
    assert all(torch.equal(a, b) for s, t in zip(continued, restarted, strict=True) for a, b in zip(s, t, strict=True))


def test_restart_condition_restarts_when_it_holds() -> None:
    calls = []

    def every_third(optimizer: Adan) -> bool:
        calls.append(optimizer.state[params[0]]["step"])
        return len(calls) % 3 == 0

    params, grads = make_params(), make_grads(7)
    optimizer = Adan(params, restart_condition=every_third, implementation="single_tensor")
    run(optimizer, params, grads)
    assert calls == [1, 2, 3, 1, 2, 3, 1]  # step count after each step, before a restart
    assert optimizer.state[params[0]]["step"] == 1
    with pytest.raises(ValueError, match=r"^restart_condition must"):
        Adan(params, restart_condition=3)


@pytest.mark.parametrize(
    ("implementation", "settings", "dtype"),
    [
        ("single_tensor", {}, F64),
        ("foreach", {"paper_init": True, "max_grad_norm": 1.0}, F64),
        ("foreach", {"no_prox": True}, torch.float16),
    ],
)
def test_state_dict_round_trip_resumes_identically(
    implementation: str, settings: dict[str, Any], dtype: torch.dtype
) -> None:
    settings = {"lr": 0.01, "weight_decay": 0.1, "implementation": implementation, **settings}
    first, resumed = check_state_dict_round_trip(
        lambda ps: Adan(ps, **settings), make_params(dtype=dtype), make_grads(8, dtype=dtype), split=4
    )
    for state, resumed_state in zip(first.state.values(), resumed.state.values(), strict=True):
        assert [resumed_state[key].dtype for key in STATE_TENSORS] == [state[key].dtype for key in STATE_TENSORS]
        assert (state["step"], resumed_state["step"]) == (4, 8)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_float32_state(dtype: torch.dtype) -> None:
    # m, v, n and the previous gradient stay float32; the update is done in float32 and rounded.
    check_half_precision(
        lambda ps: Adan(ps, lr=0.01, implementation="foreach"),
        lambda ps: Adan(ps, lr=0.01, implementation="single_tensor"),
        dtype,
        steps=5,
    )


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_closure_runs_with_grad_and_returns_loss(implementation: str) -> None:
    model = torch.nn.Linear(3, 1, dtype=F64)
    inputs, targets = torch.randn(8, 3, dtype=F64), torch.randn(8, 1, dtype=F64)
    reference_model = torch.nn.Linear(3, 1, dtype=F64)
    reference_model.load_state_dict(model.state_dict())

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        return loss

    optimizer = Adan(model.parameters(), lr=0.1, implementation=implementation)
    with torch.no_grad():
        loss = optimizer.step(closure)
    reference_loss = torch.nn.functional.mse_loss(reference_model(inputs), targets)
    reference_loss.backward()
    Adan(reference_model.parameters(), lr=0.1, implementation=implementation).step()
    assert loss.item() == reference_loss.item()
    assert torch.equal(model.weight, reference_model.weight)
    assert not torch.equal(model.weight.grad, torch.zeros_like(model.weight))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"eps": -1e-8}, "eps"),
        ({"betas": (1.0, 0.92, 0.99)}, "betas[0]"),
        ({"betas": (0.98, -0.1, 0.99)}, "betas[1]"),
        ({"betas": (0.98, 0.92, 1.0)}, "betas[2]"),
        ({"betas": (0.9, 0.999)}, "betas"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
        ({"no_prox": "yes"}, "no_prox"),
        ({"paper_init": None}, "paper_init"),
        ({"implementation": "fused"}, "implementation"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must"):
        Adan(make_params(), **kwargs)


@pytest.mark.parametrize(("group", "name"), [({"lr": -1.0}, "lr"), ({"max_grad_norm": 2.0}, "max_grad_norm")])
def test_bad_group_setting_raises(group: dict[str, Any], name: str) -> None:
    optimizer = Adan(make_params(), max_grad_norm=1.0)
    with pytest.raises(ValueError, match=f"^{name} "):
        optimizer.add_param_group({"params": make_params(seed=3), **group})


def test_same_seed_same_numbers() -> None:
    first = two_group_trajectory("foreach", {"max_grad_norm": 1.0})
    second = two_group_trajectory("foreach", {"max_grad_norm": 1.0})
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
