"""The timing harness: measured runtimes of every method on every task (the P/C matrix), never simulated.

:func:`measure` rebuilds a task's model from its spec and seed, fixes torch's threads to the task's node, passes
every method through its fidelity gate (that call is also the first warm-up), calibrates an inner loop so that one
timed repeat of the baseline lasts at least ``min_time_s``, and then times ``repeats`` rounds in which every method
runs once in a freshly shuffled order (interleaved: a slow spell of the machine hits all methods alike). It
returns each method's median time per serving of the task's requests and the spread (interquartile range / median).

:func:`measure_matrix` does this for a list of tasks and caches the matrix on disk as JSON
(:func:`paperzoo.shared.cache.cached`), keyed by the task and method specs, the protocol and a machine fingerprint:
a matrix measured on another machine or torch is never reused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paperzoo.meta_accel.accel import BASELINE, Method, Runnable, gate
from paperzoo.meta_accel.models import ModelSpec, build_model
from paperzoo.meta_accel.workloads import TaskSpec, make_inputs
from paperzoo.shared.cache import cached, config_key
from paperzoo.shared.records import machine_info
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive, check_positive_int

log = logging.getLogger("paperzoo.meta_accel")
FORMAT_VERSION = 1
DEFAULT_CACHE_DIR = "~/.cache/paperzoo/meta-accel"
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "process": time.process_time}


def machine_fingerprint() -> dict[str, Any]:
    """What makes a timing machine-specific: platform, CPU model and vector extensions, cores, torch version."""
    info = machine_info()
    return {
        "platform": platform.platform(),
        "cpu": info["cpu"],
        "isa": info["isa"],
        "cores": info["cores"],
        "torch": torch.__version__,
    }


def measure(
    task: TaskSpec,
    methods: tuple[Method, ...],
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
    min_time_s: float = 0.005,
    clock: str = "wall",
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, dict[str, float]]:
    """Per method: ``time_s`` (median seconds to serve the task's requests over ``repeats`` interleaved rounds),
    ``spread`` (interquartile range / median), and the fidelity gate's ``passed`` and ``logit_error``.

    The baseline (``eager``) must be among ``methods``; torch's threads are ``threads`` (default: the task node's)
    during the call.
    ``clock``: ``wall`` (``time.perf_counter``, the measurement of record, on an idle machine) or ``process``
    (``time.process_time``: CPU seconds of this process, immune to being descheduled on a contended machine but
    blind to what a second thread gains; for development only).
    """
    check_positive_int("repeats", repeats)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    check_positive("min_time_s", min_time_s)
    threads = task.threads if threads is None else check_positive_int("threads", threads)
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")

    def timer() -> float:  # an accelerator's queued work is finished before the clock is read
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return CLOCKS[clock]()

    names = [m.name for m in methods]
    if BASELINE not in names:
        raise ValueError(f"methods must include the baseline {BASELINE!r}, got {names}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(task.model, task.model_seed, device)
        inputs = make_inputs(task, seed).to(device)
        runnables = {m.name: m.apply(model) for m in methods}
        ref = runnables[BASELINE](inputs, task.gen_len)
        gates = {m.name: gate(m, runnables[m.name](inputs, task.gen_len), ref) for m in methods}
        for _ in range(warmup):
            for run in runnables.values():
                run(inputs, task.gen_len)
        start = timer()
        runnables[BASELINE](inputs, task.gen_len)
        inner = max(1, math.ceil(min_time_s / max(timer() - start, 1e-9)))
        times = {name: [] for name in names}
        rng = np.random.default_rng(derive(seed, "order", task.name))
        for _ in range(repeats):
            for i in rng.permutation(len(names)):
                times[names[i]].append(_time(runnables[names[i]], inputs, task.gen_len, inner, timer))
    finally:
        torch.set_num_threads(previous)
    result = {}
    for name in names:
        t = np.asarray(times[name])
        q25, median, q75 = np.quantile(t, [0.25, 0.5, 0.75])
        result[name] = {"time_s": float(median), "spread": float((q75 - q25) / median), **gates[name]}
    return result


def _time(run: Runnable, inputs: torch.Tensor, gen_len: int, inner: int, timer: Callable[[], float]) -> float:
    """Seconds per call of ``run``, over ``inner`` back-to-back calls."""
    start = timer()
    for _ in range(inner):
        run(inputs, gen_len)
    return (timer() - start) / inner


@dataclass
class Matrix:
    """Measured runtimes ``time_s[j, a]`` of methods ``a`` on tasks ``j`` (rows in ``tasks`` order), their spread,
    the fidelity gates, and the fingerprint of the machine that measured them."""

    tasks: list[TaskSpec]
    methods: tuple[str, ...]
    time_s: np.ndarray
    spread: np.ndarray
    passed: np.ndarray
    logit_error: np.ndarray
    fingerprint: dict[str, Any]

    def __post_init__(self) -> None:
        shape = (len(self.tasks), len(self.methods))
        for name in ("time_s", "spread", "passed", "logit_error"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if BASELINE not in self.methods:
            raise ValueError(f"methods must include the baseline {BASELINE!r}")

    @property
    def speedup(self) -> np.ndarray:
        """``time(baseline) / time(method)``; 0 where the method failed its fidelity gate (an unusable answer)."""
        base = self.time_s[:, [self.methods.index(BASELINE)]]
        return np.where(self.passed > 0, base / self.time_s, 0.0)

    @property
    def cost(self) -> np.ndarray:
        """Simulated cost ``C[j, a] = runtime x price(node of j)`` (the prices are synthetic)."""
        return self.time_s * np.asarray([t.price for t in self.tasks])[:, None]

    def subset(self, rows: np.ndarray) -> Matrix:
        """The matrix of the tasks at ``rows``."""
        rows = np.asarray(rows)
        arrays = {n: getattr(self, n)[rows] for n in ("time_s", "spread", "passed", "logit_error")}
        return Matrix([self.tasks[i] for i in rows], self.methods, fingerprint=self.fingerprint, **arrays)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "methods": list(self.methods),
            "tasks": [dataclasses.asdict(t) for t in self.tasks],
            **{n: getattr(self, n).tolist() for n in ("time_s", "spread", "passed", "logit_error")},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Matrix:
        tasks = [TaskSpec(**{**t, "model": ModelSpec(**t["model"])}) for t in data["tasks"]]
        arrays = {n: np.asarray(data[n], dtype=np.float64) for n in ("time_s", "spread", "passed", "logit_error")}
        return cls(tasks, tuple(data["methods"]), fingerprint=data["fingerprint"], **arrays)


def measure_matrix(
    tasks: list[TaskSpec],
    methods: tuple[Method, ...],
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
    clock: str = "wall",
    device: str = "cpu",
) -> tuple[Matrix, dict[str, Any]]:
    """The matrix of every method on every task (measured, or read from the disk cache) and the cache info."""
    fingerprint = machine_fingerprint()
    key = config_key(
        {
            "format_version": FORMAT_VERSION,
            "tasks": [dataclasses.asdict(t) for t in tasks],
            "methods": [dataclasses.asdict(m) for m in methods],
            "repeats": repeats,
            "warmup": warmup,
            "seed": seed,
            "clock": clock,
            "device": device,
            "machine": fingerprint,
        }
    )

    def build() -> Matrix:
        rows = []
        for i, task in enumerate(tasks):
            rows.append(measure(task, methods, repeats, warmup, seed, clock=clock, device=device))
            if (i + 1) % 10 == 0:
                log.info("measured %d/%d tasks", i + 1, len(tasks))
        arrays = {
            n: np.asarray([[row[m.name][n] for m in methods] for row in rows])
            for n in ("time_s", "spread", "passed", "logit_error")
        }
        return Matrix(list(tasks), tuple(m.name for m in methods), fingerprint=fingerprint, **arrays)

    return cached(
        cache_dir,
        "matrix",
        key,
        build,
        save=lambda m, p: Path(p).write_text(json.dumps(m.to_json())),
        load=lambda p: Matrix.from_json(json.loads(Path(p).read_text())),
        suffix="json",
    )
