"""AdaGrad-Norm: a hand-computed trajectory, its limits, implementations, state_dict, bad arguments."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from paperzoo.adadagrad import AdaGradNorm
from paperzoo.adadagrad import optimizer as optimizer_module
from paperzoo.adadagrad.optimizer import IMPLEMENTATIONS
from paperzoo.shared.torch.testing import (
    check_half_precision,
    check_state_dict_round_trip,
    copy_params,
    make_grads,
    make_params,
    run,
)


def reference(params: list[torch.Tensor], grads: list[list[torch.Tensor]], lr: float, s0: float):
    """s² += ‖g‖², θ -= lr·g/s, written out over the flattened vector."""
    theta = torch.cat([p.detach().flatten() for p in params]).clone()
    s2 = s0**2
    out = []
    for step in grads:
        g = torch.cat([t.flatten() for t in step])
        s2 += float(g @ g)
        theta = theta - lr * g / math.sqrt(s2)
        out.append(theta.clone())
    return out


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_matches_the_written_out_update(implementation: str):
    params, grads = make_params(), make_grads(6)
    expected = reference(params, grads, 0.3, 0.5)
    trajectory = run(AdaGradNorm(params, lr=0.3, s0=0.5, implementation=implementation), params, grads)
    for got, want in zip(trajectory, expected, strict=True):
        torch.testing.assert_close(torch.cat([p.flatten() for p in got]), want, rtol=1e-12, atol=1e-14)
    assert "cpu" not in optimizer_module._COMPILED.failures  # the compiled path really ran (no fallback)


def test_accumulator_never_decreases_and_large_s0_is_sgd():
    params, grads = make_params(), make_grads(4)
    optimizer = AdaGradNorm(params, lr=0.1, s0=1e6, implementation="foreach")
    sums = []
    for step in grads:
        before = [p.detach().clone() for p in params]
        for p, g in zip(params, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
        sums.append(float(optimizer.param_groups[0]["sum_sq"]))
        # s ≈ s0: the SGD step lr·g/s0
        for p, b, g in zip(params, before, step, strict=True):
            torch.testing.assert_close(p.detach(), b - 0.1 * g / 1e6, rtol=1e-9, atol=1e-15)
    assert all(b >= a for a, b in itertools.pairwise(sums))


def test_state_dict_round_trip():
    check_state_dict_round_trip(
        lambda ps: AdaGradNorm(ps, lr=0.2, implementation="foreach"), make_params(), make_grads(6), split=3
    )


def test_half_precision_keeps_float32_arithmetic():
    check_half_precision(
        lambda ps: AdaGradNorm(ps, lr=0.1, implementation="foreach"),
        lambda ps: AdaGradNorm(ps, lr=0.1, implementation="foreach"),
        torch.bfloat16,
        steps=4,
    )


def test_implementations_agree():
    params, grads = make_params(), make_grads(5)
    runs = {}
    for implementation in ("foreach", "single_tensor"):
        ps = copy_params(params)
        runs[implementation] = run(AdaGradNorm(ps, lr=0.1, implementation=implementation), ps, grads)[-1]
    for a, b in zip(runs["foreach"], runs["single_tensor"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


def test_parameter_without_gradient_is_left_alone():
    params = make_params()
    optimizer = AdaGradNorm(params, lr=0.1, implementation="foreach")
    before = params[1].detach().clone()
    params[0].grad = torch.ones_like(params[0])
    optimizer.step()
    assert torch.equal(params[1].detach(), before)
    # ‖g‖² = 12 ones: s² = 1e-4 + 12
    assert float(optimizer.param_groups[0]["sum_sq"]) == pytest.approx(1e-4 + 12)


@pytest.mark.parametrize(("kwargs", "name"), [({"lr": 0.0}, "lr"), ({"lr": -1.0}, "lr"), ({"s0": 0.0}, "s0")])
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaGradNorm(make_params(), **kwargs)
