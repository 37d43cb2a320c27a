"""``paperzoo verify``: does this machine reproduce a paper's committed full-scale results?

A run of the full scale (made by ``paperzoo verify``, or any finished one) is compared with the committed
records in ``benchmarks/results/<slug>/full/``:

- verdict by verdict: every committed claim must come out with the same verdict; one that differs is
  reported with both mean differences and intervals;
- metric by metric (timings left out), per seed and for the summary's cross-seed selections (e.g. a chosen
  learning rate): bit-identical, within the paper's declared cross-machine variation
  (``MetricSpec.variation``), or beyond it, listed with both values.

Both sides' verdicts are re-derived from their seed records by the paper's current claims, so that only the
records can differ. The verdicts decide (exit 0 when all match); the metrics explain. ``--emulate-isa`` runs
the paper with narrower vector instructions (:data:`paperzoo.shared.runtime.EMULATED_ISA`) on this machine:
the largest move of each declared metric pattern is the measurement a paper's ``MetricSpec.variation``
records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paperzoo.shared.benchmark import Benchmark
from paperzoo.shared.records import is_timing
from paperzoo.shared.report import format_table

IDENTICAL, WITHIN, BEYOND, UNDECLARED = "identical", "within variation", "beyond variation", "moved (none declared)"


@dataclass(frozen=True)
class Move:
    """One metric of one seed (``seed`` None: a cross-seed selection of the summary) in both runs."""

    seed: int | None
    name: str
    committed: float | None
    now: float | None
    variation: float | None

    @property
    def delta(self) -> float:
        """``|now - committed|``: 0 when equal (both non-finite included), infinite when only one is finite."""
        if self.committed == self.now:
            return 0.0
        if self.committed is None or self.now is None or not math.isfinite(self.committed - self.now):
            return math.inf
        return abs(self.now - self.committed)

    @property
    def status(self) -> str:
        if self.committed == self.now:
            return IDENTICAL
        if self.variation is None:
            return UNDECLARED
        return WITHIN if self.delta <= self.variation else BEYOND


@dataclass(frozen=True)
class VerdictCheck:
    """One committed claim against the same claim in the new run."""

    claim: str
    committed: Mapping[str, Any]
    now: Mapping[str, Any] | None

    @property
    def same(self) -> bool:
        return self.now is not None and self.now["verdict"] == self.committed["verdict"]


def resummarize(
    benchmark: Benchmark, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``summary`` with its means and verdicts re-derived from ``records`` by the paper's current claims."""
    config = benchmark.config_from_dict("full", summary["config"])
    return {**summary, **benchmark.summarize("full", [r["metrics"] for r in records], config)}


def metric_moves(
    benchmark: Benchmark,
    committed: Sequence[Mapping[str, Any]],
    now: Sequence[Mapping[str, Any]],
    committed_summary: Mapping[str, Any],
    now_summary: Mapping[str, Any],
) -> list[Move]:
    """Every metric of every committed seed record against the new record of that seed, then the summary means
    that no seed record holds (the aggregate's selections). A metric absent from the new run counts as moved;
    timings (:func:`paperzoo.shared.records.is_timing`) are left out: they measure the machine, not the method.

    ``ValueError`` when the new run lacks a committed seed.
    """
    by_seed = {r["seed"]: r for r in now}
    moves = []
    for record in committed:
        if record["seed"] not in by_seed:
            raise ValueError(f"the new run has no seed {record['seed']} (it has {sorted(by_seed)})")
        new = by_seed[record["seed"]]["metrics"]
        moves += [
            Move(record["seed"], name, value, new.get(name, math.nan), benchmark.variation_of(name))
            for name, value in record["metrics"].items()
            if not is_timing(name)
        ]
    recorded = set().union(*(r["metrics"] for r in committed)) if committed else set()
    moves += [
        Move(None, name, value, now_summary["means"].get(name, math.nan), benchmark.variation_of(name))
        for name, value in committed_summary["means"].items()
        if name not in recorded and not is_timing(name)
    ]
    return moves


def verdict_checks(committed_summary: Mapping[str, Any], now_summary: Mapping[str, Any]) -> list[VerdictCheck]:
    """Each committed claim with its counterpart (by text) in the new summary (None when the run lacks it)."""
    now = {c["claim"]: c for c in now_summary["claims"]}
    return [VerdictCheck(c["claim"], c, now.get(c["claim"])) for c in committed_summary["claims"]]


def measured_variation(benchmark: Benchmark, moves: Sequence[Move]) -> dict[str, float]:
    """Per ``MetricSpec`` pattern, the largest finite per-seed move: what ``variation`` should declare."""
    out: dict[str, float] = {}
    for move in moves:
        spec = benchmark.spec_for(move.name)
        if spec is not None and move.seed is not None and math.isfinite(move.delta):
            out[spec.pattern] = max(out.get(spec.pattern, 0.0), move.delta)
    return out


def describe(claim: Mapping[str, Any] | None) -> str:
    """A verdict with its mean difference and interval, e.g. ``reproduced: +0.012 [0.004, 0.020]``."""
    if claim is None:
        return "missing"
    values = claim.get("values", {})
    text = claim["verdict"]
    if "interval" in values:
        low, high = values["interval"]
        text += f": {values['difference']:+.4g} [{low:.4g}, {high:.4g}]"
    if claim.get("detail"):
        text += f" ({claim['detail']})"
    return text


def report(slug: str, moves: Sequence[Move], checks: Sequence[VerdictCheck], listed: int = 20) -> tuple[str, bool]:
    """The text ``paperzoo verify`` prints for one paper, and whether every verdict matched."""
    counts = {s: sum(m.status == s for m in moves) for s in (IDENTICAL, WITHIN, BEYOND, UNDECLARED)}
    lines = [f"{slug}: {len(moves)} metrics: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    moved = sorted((m for m in moves if m.status in (BEYOND, UNDECLARED)), key=lambda m: -m.delta)
    if moved:
        rows = [
            ("mean" if m.seed is None else m.seed, m.name, _fmt(m.committed), _fmt(m.now), _fmt(m.delta), m.status)
            for m in moved[:listed]
        ]
        lines.append(format_table(("seed", "metric", "committed", "now", "|diff|", "status"), rows))
        if len(moved) > listed:
            lines.append(f"... and {len(moved) - listed} more")
    rows = [("same" if c.same else "DIFFERS", c.claim, describe(c.committed), describe(c.now)) for c in checks]
    lines.append(format_table(("verdict", "claim", "committed", "this machine"), rows))
    same = all(c.same for c in checks)
    lines.append(
        f"{slug}: this machine reproduces every committed verdict"
        if same
        else f"{slug}: {sum(not c.same for c in checks)} of {len(checks)} committed verdicts differ on this machine"
    )
    return "\n".join(lines), same


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
