"""Holding a run to its record: smoke metrics against baselines, claims, and full-scale verdicts.

A metric passes if it is no worse than its baseline by more than its tolerance on its bad side
(``better="higher"``: value >= baseline - allowed). Wall time only warns above 2x the baseline's.

Smoke claims: "reproduced" passes; "not reproduced" and "missing" fail; "inconclusive" fails when the
baseline recorded that claim as reproduced (a regression), and otherwise passes with a WARN line on every
run (never silently green: the harness names it each time until it is made decidable or removed).
A full-scale verdict must equal the committed one (an honestly recorded "not reproduced" passes; a
verdict that flips fails, either way, until the record is updated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paperzoo.shared.claims import INCONCLUSIVE, REPRODUCED

WALL_TIME_WARN_RATIO = 2.0


@dataclass(frozen=True)
class Check:
    """One line of a comparison: what was checked, whether it passed, and why."""

    slug: str
    what: str
    ok: bool
    message: str
    warning: bool = False


def allowed_drop(baseline: Mapping[str, Any]) -> float:
    """How far a metric may move to its bad side: absolute, or relative to ``|value|``."""
    tol = float(baseline["tolerance"])
    return tol * abs(float(baseline["value"])) if baseline.get("relative") else tol


def metric_passes(value: float | None, baseline: Mapping[str, Any]) -> bool:
    """Whether ``value`` is within tolerance of ``baseline`` on its bad side (None = non-finite)."""
    base = baseline["value"]
    if base is None or value is None:
        return base is None and value is None
    if baseline["better"] == "higher":
        return value >= base - allowed_drop(baseline)
    return value <= base + allowed_drop(baseline)


def compare_to_baseline(slug: str, summary: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> list[Check]:
    """Every baselined metric of a smoke run against its baseline, plus the wall-time warning."""
    if baseline is None:
        return [Check(slug, "baseline", False, "no baseline: run `make baseline PAPERS=" + slug + "`")]
    checks = []
    for name, base in baseline["metrics"].items():
        if name not in summary["means"]:
            checks.append(Check(slug, name, False, f"missing from the run (baseline {base['value']})"))
            continue
        value = summary["means"][name]
        side = ">=" if base["better"] == "higher" else "<="
        kind = "rel" if base.get("relative") else "abs"
        ok = metric_passes(value, base)
        checks.append(
            Check(
                slug,
                name,
                ok,
                f"{_fmt(value)} vs baseline {_fmt(base['value'])} ({side}, tol {base['tolerance']:g} {kind})",
            )
        )
    base_wall, wall = baseline.get("wall_time_s"), summary.get("wall_time_s")
    if base_wall and wall and wall > WALL_TIME_WARN_RATIO * base_wall:
        checks.append(
            Check(
                slug,
                "wall_time_s",
                True,
                f"{wall:.1f} s is over {WALL_TIME_WARN_RATIO:g}x the baseline's {base_wall:.1f} s",
                warning=True,
            )
        )
    return checks


def check_smoke_claims(slug: str, summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> list[Check]:
    """Each smoke claim must be reproduced; an inconclusive one warns, or fails if its baseline reproduced it."""
    recorded = (baseline or {}).get("claims", {})
    checks = []
    for c in summary["claims"]:
        what, verdict = f"claim: {c['claim']}", c["verdict"]
        if verdict == INCONCLUSIVE and recorded.get(c["claim"]) != REPRODUCED:
            checks.append(Check(slug, what, True, f"{verdict}{_detail(c)} (as at baseline)", warning=True))
        elif verdict == INCONCLUSIVE:
            checks.append(Check(slug, what, False, f"{verdict}{_detail(c)}: reproduced at baseline"))
        else:
            checks.append(Check(slug, what, verdict == REPRODUCED, verdict + _detail(c)))
    return checks


def check_verdicts(slug: str, summary: Mapping[str, Any], committed: Mapping[str, Any] | None) -> list[Check]:
    """Full scale: each verdict must equal the committed one; with no record yet, they are reported only."""
    recorded = {c["claim"]: c["verdict"] for c in committed["claims"]} if committed else {}
    checks = []
    for c in summary["claims"]:
        before = recorded.get(c["claim"])
        if before is None:
            checks.append(Check(slug, f"claim: {c['claim']}", True, f"{c['verdict']} (no committed verdict)"))
        else:
            same = before == c["verdict"]
            checks.append(
                Check(
                    slug,
                    f"claim: {c['claim']}",
                    same,
                    c["verdict"]
                    if same
                    else f"verdict flipped: committed {before!r}, now {c['verdict']!r}{_detail(c)}",
                )
            )
    return checks


def make_baseline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A baseline from a smoke summary: every metric with a regression spec, at its seed mean."""
    return {
        "paper": summary["paper"],
        "scale": summary["scale"],
        "seeds": summary["seeds"],
        "wall_time_s": summary["wall_time_s"],
        "metrics": {
            name: {"value": summary["means"][name], **spec}
            for name, spec in sorted(summary.get("regression", {}).items())
        },
        "claims": {c["claim"]: c["verdict"] for c in summary.get("claims", [])},
    }


def _detail(claim: Mapping[str, Any]) -> str:
    return f" ({claim['detail']})" if claim.get("detail") else ""


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
