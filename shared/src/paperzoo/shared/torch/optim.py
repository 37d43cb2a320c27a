"""The machinery every paperzoo optimizer shares, so that a paper's optimizer file holds only its math.

An optimizer paper writes its step three times — a readable ``"single_tensor"`` loop over parameters, the
same ops with ``torch._foreach_*`` (``"foreach"``), and one traceable function that ``torch.compile`` fuses
into a single pass over memory (``"compiled"``, the default) — plus the scalars of one step. This module
supplies the rest:

- :class:`BucketedOptimizer`: a ``torch.optim.Optimizer`` base that validates each parameter group
  (rejecting complex parameters), initialises state lazily, advances per-parameter step counts, groups
  a group's parameters by (device, step count) into :class:`Bucket` s, runs the closure, and restores
  the float32 state of float16/bfloat16 parameters in ``load_state_dict``.
- :class:`CompiledStep`: a fused step compiled once per process (``fullgraph=True, dynamic=False``, a
  recompile limit), with the per-step scalars as one float64 tensor (:func:`float64_tensor`) so that a
  new learning rate or step count never recompiles; where compilation is impossible it warns
  (``RuntimeWarning``) and runs the foreach step, remembering a compiler failure per device type.
- :func:`implementations`: the ``{"compiled", "foreach", "single_tensor"}`` dispatch table of a paper.
- :func:`state_bytes_per_param`, :func:`time_optimizers` and :func:`ratio_figures`: the speed figures
  (``perf``) of an optimizer paper, as ratios to ``torch.optim.AdamW(fused=True)`` in the same process.

Low precision: float16 and bfloat16 parameters keep float32 state (:func:`state_dtype`) and are updated
in float32, then rounded back: in float16 an ε of 1e-16 underflows to 0, and in bfloat16 ``0.999·s``
rounds back to ``s``, so the moments would not move.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer

from paperzoo.shared.torch import configure, median_step_time
from paperzoo.shared.validate import check_one_of

IMPLEMENTATIONS: tuple[str, ...] = ("compiled", "foreach", "single_tensor")

# Parameter dtypes whose state and arithmetic are kept in float32 (see the module docstring).
LOW_PRECISION: frozenset[torch.dtype] = frozenset({torch.float16, torch.bfloat16})

# Device types for which torch.compile (inductor) generates code; other devices use "foreach".
COMPILE_DEVICE_TYPES: frozenset[str] = frozenset({"cpu", "cuda", "xpu"})

# Each distinct signature (parameter shapes and dtypes, static flags, device) compiles one graph; this
# allows several models and parameter groups in one process. Beyond it, "foreach" is used.
RECOMPILE_LIMIT = 64

# The name of the baseline in the speed figures.
FUSED_ADAMW = "adamw_fused"


def state_dtype(param: Tensor) -> torch.dtype:
    """The dtype of a parameter's optimizer state: float32 for float16/bfloat16, else the parameter's."""
    return torch.float32 if param.dtype in LOW_PRECISION else param.dtype


def zeros_state(param: Tensor) -> Tensor:
    """A zero state tensor shaped like ``param``, in :func:`state_dtype` and the parameter's memory format."""
    return torch.zeros_like(param, dtype=state_dtype(param), memory_format=torch.preserve_format)


def float64_tensor(values: Sequence[float], device: torch.device) -> Tensor:
    """``values`` as one float64 tensor on ``device`` (pinned and copied without blocking for CUDA).

    The input of a compiled step: scalars that enter as a tensor are graph inputs, not constants, so one
    graph serves every learning rate and step count.
    """
    host = torch.tensor(values, dtype=torch.float64, pin_memory=device.type == "cuda")
    return host.to(device, non_blocking=True)


@dataclass
class Bucket:
    """The parameters of one group that share a device and a step count, with their gradients and state.

    ``state[name][i]`` is the state tensor ``name`` of ``params[i]``.
    """

    params: list[Tensor] = field(default_factory=list)
    grads: list[Tensor] = field(default_factory=list)
    state: dict[str, list[Tensor]] = field(default_factory=dict)


class StepScalars(Protocol):
    """The scalars of one step of one group, as a compiled step takes them."""

    def as_tensor(self, device: torch.device) -> Tensor:
        """The changing scalars as one float64 tensor (see :func:`float64_tensor`)."""
        ...


UpdateFn = Callable[[Bucket, Any], None]


def implementations(*, compiled: UpdateFn, foreach: UpdateFn, single_tensor: UpdateFn) -> dict[str, UpdateFn]:
    """An optimizer's dispatch table ``implementation name -> step(bucket, scalars)``, with all three present."""
    return {"compiled": compiled, "foreach": foreach, "single_tensor": single_tensor}


def check_implementation(value: Any) -> str:
    """Require one of :data:`IMPLEMENTATIONS` (``ValueError`` naming ``implementation`` otherwise)."""
    return check_one_of("implementation", value, IMPLEMENTATIONS)


class BucketedOptimizer(Optimizer):
    """A ``torch.optim.Optimizer`` whose step runs over buckets of same-device, same-step parameters.

    A subclass puts ``implementation`` among its defaults and provides:

    - :meth:`_validate`: check a group's settings (the defaults merged with the group), raising ``ValueError``;
      ``implementation`` is checked here.
    - :meth:`_state_names`: the per-parameter state tensors of a group (created by :meth:`_initial_state`,
      zeros in :func:`state_dtype` unless overridden, with an int ``step``).
    - :meth:`_update_bucket`: one step of one bucket, usually ``table[group["implementation"]](bucket,
      scalars_of(group, step))`` with a table from :func:`implementations`.

    The step count is per parameter (as in ``torch.optim``): a parameter without a gradient is skipped and
    does not advance its count, so that one group may hold parameters at different step counts.
    """

    def _validate(self, settings: dict[str, Any]) -> None:
        """Raise ``ValueError`` naming the first invalid setting of a group (defaults merged with it)."""
        raise NotImplementedError

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The names of the per-parameter state tensors of ``group``, in the order a bucket lists them."""
        raise NotImplementedError

    def _update_bucket(self, bucket: Bucket, group: dict[str, Any], step: int) -> None:
        """Update the parameters and state of ``bucket`` (of ``group``, at step count ``step``) in place."""
        raise NotImplementedError

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first step: ``step`` 0 and zero tensors."""
        return {"step": 0} | {name: zeros_state(param) for name in self._state_names(group)}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group after validating its settings; complex parameters are rejected."""
        settings = {**self.defaults, **param_group}
        self._validate(settings)
        check_implementation(settings["implementation"])
        super().add_param_group(param_group)
        if any(param.is_complex() for param in self.param_groups[-1]["params"]):
            self.param_groups.pop()
            raise ValueError(f"params: {type(self).__name__} does not support complex parameters")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state; float16/bfloat16 parameters get their float32 state back in float32.

        ``Optimizer.load_state_dict`` casts floating state to the parameter dtype, which would round
        the float32 moments of half-precision parameters.
        """
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
        params = chain.from_iterable(group["params"] for group in self.param_groups)
        for saved_id, param in zip(saved_ids, params, strict=True):
            if param.dtype in LOW_PRECISION and saved_id in state_dict["state"]:
                for key, value in state_dict["state"][saved_id].items():
                    if isinstance(value, Tensor):
                        self.state[param][key] = value.to(device=param.device, dtype=torch.float32)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient.

        Args:
            closure: re-evaluates the model and returns the loss (run with gradients enabled).

        Returns:
            The closure's loss, or None without a closure.
        """
        loss = self._evaluate(closure)
        self._update()
        return loss

    @staticmethod
    def _evaluate(closure: Callable[[], float] | None) -> float | None:
        """The closure's loss, computed with gradients enabled (None without a closure)."""
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def _update(self) -> None:
        """Step every bucket of every group."""
        for group in self.param_groups:
            for (_, step), bucket in self._buckets(group).items():
                self._update_bucket(bucket, group, step)

    def _buckets(self, group: dict[str, Any]) -> dict[tuple[torch.device, int], Bucket]:
        """Advance the step count of each parameter with a gradient; group them by (device, step)."""
        if any(param.grad is not None and param.grad.is_sparse for param in group["params"]):
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        names = self._state_names(group)
        buckets: dict[tuple[torch.device, int], Bucket] = {}
        for param in group["params"]:
            if param.grad is None:
                continue
            state = self.state[param]
            if not state:
                state.update(self._initial_state(param, group))
            state["step"] += 1
            key = (param.device, state["step"])
            bucket = buckets.get(key) or buckets.setdefault(key, Bucket(state={name: [] for name in names}))
            bucket.params.append(param)
            bucket.grads.append(param.grad)
            for name in names:
                bucket.state[name].append(state[name])
        return buckets


class CompiledStep:
    """A fused step, compiled once per process, that falls back to the foreach step where it cannot compile.

    ``fused(params, grads, state, scalars, *static)`` is called with a bucket's lists, its ``state`` dict,
    the step's scalars as one float64 tensor (``scalars.as_tensor(device)``) and the static arguments
    (flags fixed for a group, each selecting a graph). Where compilation is impossible — a device type
    inductor has no code generator for, TorchScript, or a compiler failure (no C++ compiler, a backend
    error, the recompile limit) — it warns and runs ``fallback(bucket, scalars)``; a compiler failure is
    remembered per device type in :attr:`failures`, so that the device uses the fallback from then on.

    Args:
        name: the optimizer's name, for the warning.
        fused: the traceable step.
        fallback: the foreach step with the same arithmetic.
    """

    def __init__(self, name: str, fused: Callable[..., None], fallback: UpdateFn) -> None:
        self.name = name
        self.fused = fused
        self.fallback = fallback
        self.failures: dict[str, str] = {}

    @functools.cached_property
    def compiled(self) -> Callable[..., None]:
        """``fused`` under ``torch.compile``; optimizers with same-shaped parameters share its graphs."""
        try:
            return torch.compile(self.fused, fullgraph=True, dynamic=False, recompile_limit=RECOMPILE_LIMIT)
        except TypeError:  # older torch has no per-function limit: torch._dynamo.config's applies
            return torch.compile(self.fused, fullgraph=True, dynamic=False)

    def __call__(self, bucket: Bucket, scalars: StepScalars, *static: Any) -> None:
        """Run the compiled step on ``bucket``, or the fallback with a ``RuntimeWarning``."""
        device = bucket.params[0].device
        reason = self.failures.get(device.type)
        if device.type not in COMPILE_DEVICE_TYPES:
            reason = f"torch.compile does not support device type {device.type!r}"
        elif torch.jit.is_scripting() or torch.jit.is_tracing():
            reason = "torch.compile cannot run under TorchScript"
        if reason is None:
            try:
                self.compiled(bucket.params, bucket.grads, bucket.state, scalars.as_tensor(device), *static)
                return
            except Exception as error:  # any compiler failure: no C++ compiler, backend error, recompile limit
                reason = self.failures[device.type] = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"{self.name}: compiled step unavailable ({reason}); using implementation='foreach'",
            RuntimeWarning,
            stacklevel=2,
        )
        self.fallback(bucket, scalars)


# ------------------------------------------------------------------------------------------ speed figures
def state_bytes_per_param(optimizer: Optimizer) -> float:
    """Bytes of parameter-shaped tensor state per parameter element (e.g. 8 for float32 AdamW).

    Counts the state tensors with as many elements as their parameter (not scalar step counts).
    """
    params = [p for g in optimizer.param_groups for p in g["params"]]
    stored = sum(
        v.numel() * v.element_size()
        for p in params
        for v in optimizer.state[p].values()
        if isinstance(v, Tensor) and v.numel() == p.numel()
    )
    return stored / sum(p.numel() for p in params)


@dataclass(frozen=True)
class StepTiming:
    """One optimizer on the standard set: median ``step()`` time, the warm-up steps' time, state size."""

    median_step_s: float
    warmup_s: float
    state_bytes_per_param: float


def time_optimizers(
    factories: Mapping[str, Callable[[list[torch.nn.Parameter]], Optimizer]],
    device: str | torch.device,
    threads: int | None = 1,
    steps: int = 50,
    warmup: int = 10,
) -> dict[str, StepTiming]:
    """Time ``torch.optim.AdamW(lr=1e-3, fused=True)`` (as :data:`FUSED_ADAMW`), then each factory, in one process.

    Each runs on a fresh standard set (:func:`paperzoo.shared.torch.median_step_time`), with ``threads``
    intra-op threads. ``warmup_s`` is the time of the first ``warmup`` steps; for a compiled optimizer it
    includes a cold compile: the on-disk inductor cache is disabled while it is measured.
    """
    configure(threads=threads)
    made: dict[str, Optimizer] = {}
    makers = {FUSED_ADAMW: lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True), **factories}
    timings = {}
    for name, make in makers.items():
        with torch._inductor.config.patch(force_disable_caches=True), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*force_disable_caches")  # "PGO disabled" notice
            t = median_step_time(lambda ps, n=name, m=make: made.setdefault(n, m(ps)), device, steps, warmup)
        timings[name] = StepTiming(t["median_step_s"], t["warmup_s"], state_bytes_per_param(made[name]))
    return timings


RATIO_FIGURES: tuple[str, ...] = ("step_ms", "step_over_adamw_fused", "warmup_s", "state_bytes_per_param")


def ratio_figures(
    timings: Mapping[str, StepTiming], figures: Sequence[str] = ("step_ms", "step_over_adamw_fused", "warmup_s")
) -> dict[str, float]:
    """``adamw_fused/step_ms`` and, per other timed optimizer ``name``, ``name/<figure>`` for each of ``figures``.

    ``figures`` are chosen from :data:`RATIO_FIGURES`; ``step_over_adamw_fused`` is the ratio of median step
    times to fused AdamW's.
    """
    for figure in figures:
        check_one_of("figure", figure, RATIO_FIGURES)
    base = timings[FUSED_ADAMW].median_step_s
    out = {f"{FUSED_ADAMW}/step_ms": base * 1e3}
    for name, t in timings.items():
        if name == FUSED_ADAMW:
            continue
        values = {
            "step_ms": t.median_step_s * 1e3,
            "step_over_adamw_fused": t.median_step_s / base,
            "warmup_s": t.warmup_s,
            "state_bytes_per_param": t.state_bytes_per_param,
        }
        out |= {f"{name}/{figure}": values[figure] for figure in figures}
    return out
