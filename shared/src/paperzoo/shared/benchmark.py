"""The declaration every paper's ``bench.py`` exports as ``BENCHMARK``.

A benchmark names its scales (``smoke``, ``full``, ``paper``) with a frozen, self-validating config per
scale, and, keyed by scale: the default seeds, one runner ``(config, seed) -> Result``, the claims as a
function of the config actually run, and optionally a cross-seed ``aggregate`` step and the plots.
Runners live in the paper's ``experiment.py``, figures in ``plots.py``, speed figures in ``perf.py``;
``bench.py`` only declares. The CLI (:mod:`paperzoo.shared.cli`) and the harness do the rest.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from paperzoo.shared.claims import Claim, evaluate_claims, mean_and_std
from paperzoo.shared.validate import check_non_negative, check_one_of

SCALES = ("smoke", "full", "paper")
FRAMEWORKS = ("torch", "jax", "tensorflow")
Metrics = dict[str, float]
Config = Any
Runner = Callable[[Any, int], "Result"]
ClaimsOf = Callable[[Any], Sequence[Claim]]
Aggregate = Callable[[list[Metrics]], list[Metrics]]
Plotter = Callable[[Any, list[dict[str, Any]], Path], list[Path]]

__all__ = ["SCALES", "Benchmark", "MetricSpec", "Result", "config_from_dict", "mean_and_std"]


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
    """How metrics whose names match ``pattern`` are held to their smoke baseline, and their resolution.

    A run passes if its value is no worse than the baseline by more than ``tolerance`` on the side
    ``better`` names (absolute, or relative to ``|baseline|`` when ``relative``). ``resolution`` is the
    smallest difference the metric can show (one test example, ``1/n_test``, for an accuracy): a claim
    whose mean difference is within it of the claim's threshold is inconclusive (:mod:`paperzoo.shared.claims`).
    ``variation`` is how far one seed's full-scale value may move on another machine (absolute): measured with
    ``paperzoo verify --emulate-isa`` (same code, narrower vector instructions), never guessed; ``None`` when
    not measured. ``paperzoo verify`` reports the metrics that move by more, and a claim's interval is widened
    by it on each side (:mod:`paperzoo.shared.claims`).
    """

    pattern: str
    better: Literal["higher", "lower"]
    tolerance: float
    relative: bool = False
    resolution: float = 0.0
    variation: float | None = None

    def __post_init__(self) -> None:
        check_one_of("better", self.better, ("higher", "lower"))
        check_non_negative("tolerance", self.tolerance)
        check_non_negative("resolution", self.resolution)
        if self.variation is not None:
            check_non_negative("variation", self.variation)

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)


def _check_scale_keys(name: str, mapping: Mapping[str, Any], required: Sequence[str]) -> None:
    unknown = set(mapping) - set(SCALES)
    if unknown:
        raise ValueError(f"{name} names unknown scale(s) {sorted(unknown)}; scales are {SCALES}")
    for scale in required:
        if scale not in mapping:
            raise ValueError(f"{name} must declare {scale!r}, got {sorted(mapping)}")
    for scale, value in mapping.items():
        if not callable(value):
            raise ValueError(f"{name}[{scale!r}] must be callable, got {type(value).__name__}")


@dataclass(frozen=True)
class Benchmark:
    """One paper's uniform benchmark.

    Attributes:
        slug: the paper's slug (``papers/<slug>``).
        title: the paper's title, for tables.
        framework: ``torch``, ``jax`` or ``tensorflow``.
        scales: scale name -> frozen config dataclass instance; it must have a ``device`` field.
        seeds: scale name -> default seeds.
        run: scale name -> ``runner(config, seed) -> Result``, one per scale (no dispatch on config types).
        claims: scale name -> ``claims(config) -> [Claim, ...]``: the claims checked at that scale, built
            from the config actually run (so a non-default run is judged by its own thresholds). Smoke
            claims must hold in CI; smoke and full are required.
        metrics: regression specs; the first matching spec applies, unmatched metrics are not checked.
        aggregate: scale name -> ``aggregate(per_seed_metrics) -> per_seed_metrics``, for selections that
            look at all seeds (e.g. the learning rate with the best mean validation accuracy); applied
            before means and claims.
        plot: scale name -> ``plot(config, records, out_dir) -> [png paths]``, the paper's figures.
        perf: optional ``perf(device) -> {name: number}``: speed figures as ratios against a baseline
            measured in the same process; run by ``--perf``, never in CI.
        paper_needs: what the ``paper`` scale needs beyond CPU-scale (shown when it refuses to start).
    """

    slug: str
    title: str
    framework: str
    scales: Mapping[str, Config]
    seeds: Mapping[str, Sequence[int]]
    run: Mapping[str, Runner]
    claims: Mapping[str, ClaimsOf]
    metrics: tuple[MetricSpec, ...]
    aggregate: Mapping[str, Aggregate] = field(default_factory=dict)
    plot: Mapping[str, Plotter] = field(default_factory=dict)
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
        _check_scale_keys("run", self.run, SCALES)
        _check_scale_keys("claims", self.claims, ("smoke", "full"))
        _check_scale_keys("aggregate", self.aggregate, ())
        _check_scale_keys("plot", self.plot, ())
        for scale in ("smoke", "full"):
            if not self.claims_for(scale, self.scales[scale]):
                raise ValueError(f"claims[{scale!r}] must give at least one claim for the default {scale} config")

    def spec_for(self, name: str) -> MetricSpec | None:
        """The first regression spec matching metric ``name``, or None."""
        return next((s for s in self.metrics if s.matches(name)), None)

    def resolution_of(self, name: str) -> float:
        """The declared resolution of metric ``name`` (its first matching spec's), 0 when none."""
        spec = self.spec_for(name)
        return spec.resolution if spec is not None else 0.0

    def variation_of(self, name: str) -> float | None:
        """The declared cross-machine variation of metric ``name`` (its first matching spec's), None when none."""
        spec = self.spec_for(name)
        return spec.variation if spec is not None else None

    def claims_for(self, scale: str, config: Config) -> tuple[Claim, ...]:
        """The claims of ``scale`` for ``config`` (none for a scale that declares none)."""
        return tuple(self.claims[scale](config)) if scale in self.claims else ()

    def summarize(self, scale: str, per_seed: list[Metrics], config: Config | None = None) -> dict[str, Any]:
        """Seed means/stds (after the scale's ``aggregate``) and the claim verdicts of ``scale``.

        ``config`` is the config that was run (default: the scale's declared one); the claims are built from it.
        """
        config = self.scales[scale] if config is None else config
        aggregate = self.aggregate.get(scale)
        aggregated = aggregate([dict(m) for m in per_seed]) if aggregate else per_seed
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
            "claims": evaluate_claims(
                self.claims_for(scale, config), aggregated, self.resolution_of, lambda n: self.variation_of(n) or 0.0
            ),
        }

    def config_from_dict(self, scale: str, data: Mapping[str, Any]) -> Config:
        """The config object a record's ``config`` (plain JSON) describes, rebuilt on the scale's declared one."""
        return config_from_dict(self.scales[scale], data)


def config_from_dict(template: Config, data: Mapping[str, Any]) -> Config:
    """Rebuild a frozen config dataclass from its JSON form, using ``template`` (an instance) for the types.

    Nested config dataclasses are rebuilt recursively and JSON lists become tuples wherever the template
    holds a tuple; fields absent from ``data`` keep the template's value. ``ValueError`` for an unknown field.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(template)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown config field(s) {sorted(unknown)} for {type(template).__name__}")
    return dataclasses.replace(template, **{k: _rebuild(getattr(template, k), v) for k, v in data.items()})


def _rebuild(template: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(template) and isinstance(value, Mapping):
        return config_from_dict(template, value)
    if isinstance(template, tuple) and isinstance(value, list):
        return _deep_tuple(value)
    if isinstance(template, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _deep_tuple(value: Any) -> Any:
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, list) else value
