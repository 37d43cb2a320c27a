"""meta-accel's speed figure (``--perf``): choosing an acceleration method for a new task (features + one MetaInf
prediction per method) against measuring every method on it, in the same process (the issue's bound: <= 0.01x)."""

from __future__ import annotations

import dataclasses

from paperzoo.meta_accel.accel import get_methods
from paperzoo.meta_accel.experiment import ExperimentConfig, load_fixture, selection_speed
from paperzoo.shared.torch import configure


def perf(device: str, n_tasks: int = 3) -> dict[str, float]:
    """Seconds per new task to choose and to measure all methods, and their ratio; MetaInf fitted on the committed
    fixture matrix, the new tasks drawn as in the full scale."""
    configure(threads=1, deterministic=False)
    fixture = load_fixture()
    config = dataclasses.replace(ExperimentConfig(), perf_tasks=n_tasks, device=device, methods=fixture.methods)
    return selection_speed(config, fixture, get_methods(fixture.methods), seed=0)
