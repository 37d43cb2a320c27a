"""The declaration every paper's ``bench.py`` exports as ``BENCHMARK``.

A benchmark names its scales (``smoke``, ``full``, ``paper``) with a frozen, self-validating config per
scale, the seeds per scale, a ``run(config, seed) -> Result`` function, the claims per scale, and how
each metric is regression-checked. The CLI (:mod:`paperzoo.shared.cli`) and the harness do the rest.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from paperzoo.shared.claims import Claim, evaluate_claims
from paperzoo.shared.validate import check_non_negative, check_one_of

SCALES = ("smoke", "full", "paper")
FRAMEWORKS = ("torch", "jax", "tensorflow")
Metrics = dict[str, float]


@dataclass
class Result:
    """What one seed returns: flat ``<arm>/<metric>`` numbers, and optional curves for plots.

    Accuracies are fractions. ``series`` values are lists of numbers (curves); they are recorded and
    plotted but never regression-checked.
    """

    metrics: Metrics
    series: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """How metrics whose names match ``pattern`` are held to their smoke baseline.

    A run passes if its value is no worse than the baseline by more than ``tolerance`` on the side
    ``better`` names (absolute, or relative to ``|baseline|`` when ``relative``).
    """

    pattern: str
    better: Literal["higher", "lower"]
    tolerance: float
    relative: bool = False

    def __post_init__(self) -> None:
        check_one_of("better", self.better, ("higher", "lower"))
        check_non_negative("tolerance", self.tolerance)

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class Benchmark:
    """One paper's uniform benchmark.

    Attributes:
        slug: the paper's slug (``papers/<slug>``).
        title: the paper's title, for tables.
        framework: ``torch``, ``jax`` or ``tensorflow``.
        scales: scale name -> frozen config dataclass instance; it must have a ``device`` field.
        seeds: scale name -> default seeds.
        run: ``run(config, seed) -> Result``.
        claims: scale name -> the claims checked at that scale (smoke claims must hold in CI).
        metrics: regression specs; the first matching spec applies, unmatched metrics are not checked.
        aggregate: optional ``aggregate(per_seed_metrics) -> per_seed_metrics``, for selections that look at
            all seeds (e.g. the learning rate with the best mean validation accuracy); applied before means.
        plot: optional ``plot(records, out_dir) -> [png paths]`` drawing the paper's figures from seed records.
        perf: optional ``perf(device) -> {name: number}``: speed figures as ratios against a baseline
            measured in the same process; run by ``--perf``, never in CI.
        paper_needs: what the ``paper`` scale needs beyond CPU-scale (shown when it refuses to start).
    """

    slug: str
    title: str
    framework: str
    scales: Mapping[str, Any]
    seeds: Mapping[str, Sequence[int]]
    run: Callable[[Any, int], Result]
    claims: Mapping[str, tuple[Claim, ...]]
    metrics: tuple[MetricSpec, ...]
    aggregate: Callable[[list[Metrics]], list[Metrics]] | None = None
    plot: Callable[[list[dict[str, Any]], Path], list[Path]] | None = None
    perf: Callable[[str], dict[str, float]] | None = None
    paper_needs: str = "a GPU and the paper's data sets"

    def __post_init__(self) -> None:
        check_one_of("framework", self.framework, FRAMEWORKS)
        for scale in SCALES:
            if scale not in self.scales:
                raise ValueError(f"scales must declare {scale!r}, got {sorted(self.scales)}")
            config = self.scales[scale]
            if not (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):
                raise ValueError(f"scales[{scale!r}] must be a frozen dataclass instance")
            if not any(f.name == "device" for f in dataclasses.fields(config)):
                raise ValueError(f"scales[{scale!r}] config must have a 'device' field")
            if not self.seeds.get(scale):
                raise ValueError(f"seeds must give at least one seed for {scale!r}")
        if len(self.seeds["full"]) < 3:
            raise ValueError(f"seeds['full'] must have at least 3 seeds, got {list(self.seeds['full'])}")
        for scale in ("smoke", "full"):
            if not self.claims.get(scale):
                raise ValueError(f"claims must give at least one claim for {scale!r}")

    def spec_for(self, name: str) -> MetricSpec | None:
        """The first regression spec matching metric ``name``, or None."""
        return next((s for s in self.metrics if s.matches(name)), None)

    def summarize(self, scale: str, per_seed: list[Metrics]) -> dict[str, Any]:
        """Seed means/stds (after ``aggregate``) and the claim verdicts of ``scale``."""
        aggregated = self.aggregate([dict(m) for m in per_seed]) if self.aggregate else per_seed
        means, stds = mean_and_std(aggregated)
        regression = {
            name: {"better": spec.better, "tolerance": spec.tolerance, "relative": spec.relative}
            for name in means
            if (spec := self.spec_for(name)) is not None
        }
        return {
            "means": means,
            "stds": stds,
            "n_seeds": len(per_seed),
            "regression": regression,
            "claims": evaluate_claims(self.claims.get(scale, ()), means),
        }


def mean_and_std(per_seed: list[Metrics]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Per-metric mean and population std over seeds; ``None`` where a seed gave a non-finite value."""
    names = sorted({k for m in per_seed for k in m})
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for name in names:
        values = [m.get(name) for m in per_seed]
        if any(v is None or not math.isfinite(v) for v in values):
            means[name] = stds[name] = None
            continue
        arr = np.asarray(values, dtype=np.float64)
        means[name], stds[name] = float(arr.mean()), float(arr.std())
    return means, stds
