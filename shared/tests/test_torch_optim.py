"""paperzoo.shared.torch.optim, through a toy optimizer written on it: SGD with momentum.

The toy has torch.optim.SGD's arithmetic (dampening 0, no Nesterov, no weight decay), so every
implementation is checked against ``torch.optim.SGD`` itself. Then the machinery: compile fallback and
its per-device cache, bucketing by step count, float32 state for half-precision parameters across a
``state_dict`` round trip, validation, and the speed figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Any

import pytest
import torch
from torch import Tensor
from torch._dynamo.utils import counters

from paperzoo.shared.torch import configure
from paperzoo.shared.torch.optim import (
    FUSED_ADAMW,
    Bucket,
    BucketedOptimizer,
    CompiledStep,
    StepTiming,
    float64_tensor,
    implementations,
    ratio_figures,
    state_bytes_per_param,
    time_optimizers,
)
from paperzoo.shared.torch.testing import (
    check_half_precision,
    check_state_dict_round_trip,
    group_trajectory,
    make_grads,
    make_params,
    run,
    set_grads,
)
from paperzoo.shared.validate import check_non_negative, check_range

configure(threads=1, deterministic=True)

F64 = torch.float64
SHAPES = ((3, 4), (5,), (2, 3))


@dataclass(frozen=True)
class _Scalars:
    lr: float
    momentum: float

    def as_tensor(self, device: torch.device) -> Tensor:
        return float64_tensor([self.lr, self.momentum], device)


def _single_tensor(bucket: Bucket, c: _Scalars) -> None:
    for param, grad, buf in zip(bucket.params, bucket.grads, bucket.state["momentum_buffer"], strict=True):
        theta = param.to(buf.dtype)
        # b ← μ·b + g  (b = 0 before the first step, so b_1 = g_1 as in torch.optim.SGD)
        buf.mul_(c.momentum).add_(grad.to(buf.dtype))
        # θ ← θ − lr·b
        theta.add_(buf, alpha=-c.lr)
        if theta is not param:
            param.copy_(theta)


def _foreach(bucket: Bucket, c: _Scalars) -> None:
    bufs = bucket.state["momentum_buffer"]
    thetas = [p.to(b.dtype) for p, b in zip(bucket.params, bufs, strict=True)]
    torch._foreach_mul_(bufs, c.momentum)
    torch._foreach_add_(bufs, [g.to(b.dtype) for g, b in zip(bucket.grads, bufs, strict=True)])
    torch._foreach_add_(thetas, bufs, alpha=-c.lr)
    for param, theta in zip(bucket.params, thetas, strict=True):
        if theta is not param:
            param.copy_(theta)


def _fused(params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]], scalars: Tensor) -> None:
    lr, momentum = scalars.unbind()
    for param, grad, buf in zip(params, grads, state["momentum_buffer"], strict=True):
        new_buf = buf * momentum + grad.to(buf.dtype)
        buf.copy_(new_buf)
        param.copy_(param.to(buf.dtype) - lr * new_buf)


_COMPILED = CompiledStep("ToySGD", _fused, fallback=_foreach)
_TABLE = implementations(compiled=_COMPILED, foreach=_foreach, single_tensor=_single_tensor)


class ToySGD(BucketedOptimizer):
    """SGD with momentum on the shared machinery."""

    def __init__(self, params: Any, lr: float = 0.1, momentum: float = 0.9, implementation: str = "compiled") -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "implementation": implementation})

    def _validate(self, settings: dict[str, Any]) -> None:
        check_non_negative("lr", settings["lr"])
        check_range("momentum", settings["momentum"], 0.0, 1.0, high_inclusive=False)

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        _TABLE[group["implementation"]](bucket, _Scalars(group["lr"], group["momentum"]))


def toy_params(dtype: torch.dtype = F64, device: str = "cpu") -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(p.detach().to(device)) for p in make_params(SHAPES, dtype=dtype)]


def toy_grads(steps: int, dtype: torch.dtype = F64, device: str = "cpu") -> list[list[Tensor]]:
    return [[g.to(device) for g in step] for step in make_grads(steps, SHAPES, dtype=dtype)]


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_toy_equals_torch_sgd_exactly(implementation: str, dtype: torch.dtype) -> None:
    # Two groups, an lr change, a parameter without a gradient on odd steps (its step count lags).
    got = group_trajectory(lambda g: ToySGD(g, lr=0.1, momentum=0.9, implementation=implementation), 8, dtype)
    want = group_trajectory(lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, foreach=False), 8, dtype)
    assert len(got) == len(want)
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_compiled_toy_equals_torch_sgd_without_recompiling() -> None:
    # One graph (one group, every gradient present) serves every step although lr and momentum change.
    # The fused kernel rounds b·μ + g and θ − lr·b its own way: a rounding apart from eager, not bitwise.
    ours, theirs = toy_params(), toy_params()
    grads = toy_grads(8)
    optimizer = ToySGD(ours, lr=0.1, momentum=0.9, implementation="compiled")
    reference = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, foreach=False)
    got, want = run(optimizer, ours, grads[:1]), run(reference, theirs, grads[:1])
    graphs = counters["stats"]["unique_graphs"]
    for opt in (optimizer, reference):
        opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"] = 0.05, 0.5
    got += run(optimizer, ours, grads[1:])
    want += run(reference, theirs, grads[1:])
    assert counters["stats"]["unique_graphs"] == graphs
    assert _COMPILED.failures == {}  # the compiled path really ran
    got_buffers = [optimizer.state[p]["momentum_buffer"] for p in ours]
    for a, b in zip(
        [*chain(*got), *got_buffers],
        [*chain(*want), *(reference.state[p]["momentum_buffer"] for p in theirs)],
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_compile_failure_warns_falls_back_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = []

    def failing_compile(fn: Any, **options: Any) -> Any:
        def compiled(*args: Any) -> None:
            attempts.append(options)
            raise RuntimeError("no C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    step = CompiledStep("ToySGD", _fused, fallback=_foreach)
    monkeypatch.setitem(_TABLE, "compiled", step)
    params, reference = toy_params(), toy_params()
    grads = toy_grads(3)
    with pytest.warns(RuntimeWarning, match=r"^ToySGD: compiled step unavailable \(RuntimeError: no C\+\+ compiler\)"):
        got = run(ToySGD(params, implementation="compiled"), params, grads)
    want = run(ToySGD(reference, implementation="foreach"), reference, grads)
    assert all(torch.equal(a, b) for a, b in zip(chain(*got), chain(*want), strict=True))
    assert step.failures == {"cpu": "RuntimeError: no C++ compiler"}
    assert len(attempts) == 1  # compiled once per process, tried once per device type
    assert attempts[0] == {"fullgraph": True, "dynamic": False, "recompile_limit": 64}


def test_device_without_a_compiler_uses_foreach_and_is_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    step = CompiledStep("ToySGD", _fused, fallback=_foreach)
    monkeypatch.setitem(_TABLE, "compiled", step)
    params = toy_params(device="meta")
    with pytest.warns(RuntimeWarning, match="device type 'meta'.*implementation='foreach'"):
        run(ToySGD(params, implementation="compiled"), params, toy_grads(2, device="meta"))
    assert step.failures == {}  # the device, not a failure: the next device type still compiles


def test_buckets_group_parameters_by_step_count() -> None:
    seen: list[dict[int, list[int]]] = []

    class Recording(ToySGD):
        def _update(self) -> None:
            for group in self.param_groups:
                buckets = self._buckets(group)
                seen.append({step: [id(p) for p in b.params] for (_, step), b in buckets.items()})
                assert all(len(b.state["momentum_buffer"]) == len(b.params) == len(b.grads) for b in buckets.values())

    params = toy_params()
    optimizer = Recording(params, implementation="single_tensor")
    for t, step_grads in enumerate(toy_grads(4)):
        set_grads(params, [g if i != 1 or t != 1 else None for i, g in enumerate(step_grads)])
        optimizer.step()
    first, second, third = (id(p) for p in params)
    assert seen == [
        {1: [first, second, third]},
        {2: [first, third]},
        {3: [first, third], 2: [second]},
        {4: [first, third], 3: [second]},
    ]
    assert [optimizer.state[p]["step"] for p in params] == [4, 3, 4]
    untouched = torch.nn.Parameter(torch.zeros(2, dtype=F64))
    optimizer.add_param_group({"params": [untouched]})
    optimizer.step()
    assert untouched not in optimizer.state  # state is created at a parameter's first gradient


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_low_precision_state_stays_float32_across_a_state_dict_round_trip(
    implementation: str, dtype: torch.dtype
) -> None:
    # Optimizer.load_state_dict alone would cast the buffers to the parameter dtype (and the run would differ).
    first, resumed = check_state_dict_round_trip(
        lambda ps: ToySGD(ps, implementation=implementation), toy_params(dtype), toy_grads(6, dtype), split=3
    )
    for optimizer in (first, resumed):
        assert all(p.dtype == dtype for p in optimizer.param_groups[0]["params"])
        assert [s["momentum_buffer"].dtype for s in optimizer.state.values()] == [torch.float32] * len(SHAPES)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_low_precision_parameters_follow_a_rounded_float32_torch_sgd(implementation: str, dtype: torch.dtype) -> None:
    check_half_precision(
        lambda ps: ToySGD(ps, implementation=implementation),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=False),
        dtype,
        steps=6,
    )


def test_half_precision_check_catches_state_in_the_parameter_dtype() -> None:
    class HalfState(ToySGD):
        def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
            return {"step": 0, "momentum_buffer": torch.zeros_like(param)}

    with pytest.raises(AssertionError, match="step 1: "):
        check_half_precision(
            lambda ps: HalfState(ps, implementation="foreach"),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=False),
            torch.bfloat16,
            steps=2,
        )


def test_round_trip_check_catches_a_state_that_is_not_restored() -> None:
    class Forgetful(ToySGD):
        def state_dict(self) -> dict[str, Any]:
            return {**super().state_dict(), "state": {}}

    with pytest.raises(AssertionError, match="resumed after 3 steps differs"):
        check_state_dict_round_trip(lambda ps: Forgetful(ps, implementation="foreach"), toy_params(), toy_grads(6), 3)


@pytest.mark.parametrize("implementation", ["single_tensor", "foreach"])
def test_closure_runs_with_grad_and_its_loss_is_returned(implementation: str) -> None:
    model = torch.nn.Linear(3, 1, dtype=F64)
    reference = torch.nn.Linear(3, 1, dtype=F64)
    reference.load_state_dict(model.state_dict())
    inputs, targets = torch.randn(8, 3, dtype=F64), torch.randn(8, 1, dtype=F64)

    def closure(net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(inputs), targets)
        loss.backward()
        return loss

    ours = ToySGD(model.parameters(), implementation=implementation)
    theirs = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    with torch.no_grad():  # the closure still gets gradients
        loss = ours.step(lambda: closure(model, ours))
    assert loss.item() == theirs.step(lambda: closure(reference, theirs)).item()
    assert torch.equal(model.weight, reference.weight)
    assert not torch.equal(model.weight.grad, torch.zeros_like(model.weight))
    assert ToySGD(model.parameters(), implementation=implementation).step() is None


def test_sparse_gradients_and_complex_parameters_are_rejected() -> None:
    param = torch.nn.Parameter(torch.zeros(4, dtype=F64))
    param.grad = torch.zeros(4, dtype=F64).to_sparse()
    with pytest.raises(RuntimeError, match=r"^ToySGD does not support sparse gradients"):
        ToySGD([param]).step()
    optimizer = ToySGD(toy_params())
    with pytest.raises(ValueError, match=r"^params: ToySGD does not support complex"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))]})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"implementation": "fused"}, "implementation"), ({"lr": -1.0}, "lr"), ({"momentum": 1.0}, "momentum")],
)
def test_bad_settings_raise_naming_the_setting(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must"):
        ToySGD(toy_params(), **kwargs)
    optimizer = ToySGD(toy_params())
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], **kwargs})
    assert len(optimizer.param_groups) == 1


def test_float64_tensor_keeps_every_digit() -> None:
    values = [0.1, 1.0 - 0.999, 1e-300]
    tensor = float64_tensor(values, torch.device("cpu"))
    assert tensor.dtype == F64 and tensor.tolist() == values


@pytest.mark.parametrize(("dtype", "expected"), [(torch.float32, 4.0), (F64, 8.0), (torch.bfloat16, 4.0)])
def test_state_bytes_per_param(dtype: torch.dtype, expected: float) -> None:
    params = toy_params(dtype)
    for p in params:
        p.grad = torch.ones_like(p)
    toy = ToySGD(params, implementation="foreach")
    toy.step()
    assert state_bytes_per_param(toy) == expected  # one buffer; float32 for bfloat16 parameters
    adamw = torch.optim.AdamW(toy_params(torch.float32))
    for p in adamw.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    adamw.step()
    assert state_bytes_per_param(adamw) == 8.0  # m and v; the step count is not parameter-shaped


def test_time_optimizers_times_fused_adamw_and_each_factory_on_the_standard_set() -> None:
    timings = time_optimizers({"toy": lambda ps: ToySGD(ps, implementation="foreach")}, "cpu", steps=2, warmup=1)
    assert list(timings) == [FUSED_ADAMW, "toy"]
    assert timings[FUSED_ADAMW].state_bytes_per_param == 8.0 and timings["toy"].state_bytes_per_param == 4.0
    assert all(t.median_step_s > 0 and t.warmup_s > 0 for t in timings.values())


def test_ratio_figures() -> None:
    timings = {FUSED_ADAMW: StepTiming(0.002, 0.1, 8.0), "toy": StepTiming(0.005, 3.0, 4.0)}
    assert ratio_figures(timings) == {
        "adamw_fused/step_ms": 2.0,
        "toy/step_ms": 5.0,
        "toy/step_over_adamw_fused": 2.5,
        "toy/warmup_s": 3.0,
    }
    assert ratio_figures(timings, ("step_over_adamw_fused", "state_bytes_per_param")) == {
        "adamw_fused/step_ms": 2.0,
        "toy/step_over_adamw_fused": 2.5,
        "toy/state_bytes_per_param": 4.0,
    }
    with pytest.raises(ValueError, match=r"^figure must"):
        ratio_figures(timings, ("speed",))
