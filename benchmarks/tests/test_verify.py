"""``paperzoo verify``: a re-run compared with the committed records, verdict by verdict and metric by metric."""

from __future__ import annotations

import json
import math

import pytest

from paperzoo.bench import cli, verify
from paperzoo.shared.records import read_json, seed_record_path, summary_path


@pytest.fixture
def recorded(zoo, monkeypatch):
    """The good fake paper with committed full-scale records (and importable, for its MetricSpecs)."""
    registry, root = zoo
    good = {"good": registry["good"]}
    monkeypatch.syspath_prepend(good["good"].pythonpath[0])
    assert cli.main(["bench", "--scale", "full", "--allow-dirty"], good, root) == 0
    return good, root


def test_a_rerun_reproduces_the_committed_records(recorded, capsys):
    good, root = recorded
    assert cli.main(["verify", "--papers", "good"], good, root) == 0
    out = capsys.readouterr().out
    assert "5 identical, 0 within variation, 0 beyond variation, 0 moved" in out  # 5 metrics of seed 0, 1, 2: 15
    assert "good: this machine reproduces every committed verdict" in out
    assert summary_path(root / "runs" / "verify", "good", "full").is_file()


def test_a_doctored_record_is_reported_metric_and_verdict_with_exit_1(recorded, capsys):
    good, root = recorded
    committed = root / "benchmarks" / "results"
    for seed in (0, 1, 2):  # the method's score below the baseline's (0.5): the committed claim is not reproduced
        record_path = seed_record_path(committed, "good", "full", seed)
        record = read_json(record_path)
        record["metrics"]["method/score"] = 0.4
        record_path.write_text(json.dumps(record))
    summary = read_json(summary_path(committed, "good", "full"))
    assert summary["claims"][0]["verdict"] == "reproduced"  # stale: verify re-derives it from the records
    assert cli.main(["verify", "--papers", "good"], good, root) == 1
    out = capsys.readouterr().out
    moved = [line.split() for line in out.splitlines() if "method/score" in line]
    assert [m[:4] for m in moved] == [[str(s), "method/score", "0.4", "0.9"] for s in (0, 1, 2)]  # variation 0.01
    assert all(m[-2:] == ["beyond", "variation"] for m in moved)
    verdict = next(line for line in out.splitlines() if "method beats baseline" in line)
    assert verdict.startswith("DIFFERS") and "not reproduced" in verdict and verdict.rstrip().endswith("reproduced")
    assert "1 of 1 committed verdicts differ on this machine" in out
    # The same comparison of the finished run, without running again.
    assert cli.main(["verify", "--papers", "good", "--records", str(root / "runs" / "verify")], good, root) == 1


def test_emulated_isa_reaches_the_run_and_its_moves_are_measured(recorded, capsys):
    good, root = recorded
    assert cli.main(["verify", "--papers", "good", "--emulate-isa", "avx2"], good, root) == 0
    out = capsys.readouterr().out
    run = read_json(seed_record_path(root / "runs" / "verify", "good", "full", 0))
    assert run["metrics"]["env/isa_capped"] == 1.0 and run["metrics"]["env/omp_threads"] == 1.0
    assert "env/isa_capped" in out and "moved (none declared)" in out
    assert "largest per-seed move with the instruction set capped at avx2" in out
    assert cli.main(["verify", "--papers", "good", "--emulate-isa", "avx2", "--records", "x"], good, root) == 2


def test_verify_needs_committed_records(zoo, capsys):
    registry, root = zoo
    assert cli.main(["verify", "--papers", "good"], {"good": registry["good"]}, root) == 2
    assert "no valid committed full-scale records" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("committed", "now", "variation", "status", "delta"),
    [
        (0.5, 0.5, None, verify.IDENTICAL, 0.0),
        (None, None, None, verify.IDENTICAL, 0.0),  # non-finite both times
        (0.5, 0.505, 0.01, verify.WITHIN, 0.005),
        (0.5, 0.52, 0.01, verify.BEYOND, 0.02),
        (0.5, 0.52, None, verify.UNDECLARED, 0.02),
        (0.5, None, 0.01, verify.BEYOND, math.inf),  # became non-finite
        (0.5, math.nan, 0.01, verify.BEYOND, math.inf),  # missing from the new run
    ],
)
def test_move_status(committed, now, variation, status, delta):
    move = verify.Move(0, "m/score", committed, now, variation)
    assert move.status == status and move.delta == pytest.approx(delta)


def test_moves_cover_seeds_and_summary_selections_and_measure_per_pattern(recorded):
    from fakezoo.good.bench import BENCHMARK as benchmark  # importable once the zoo is on the path

    committed = [{"seed": s, "metrics": {"a/score": 0.5, "a/loss": 1.0}} for s in (0, 1)]
    now = [{"seed": 0, "metrics": {"a/score": 0.505, "a/loss": 1.0}}, {"seed": 1, "metrics": {"a/score": 0.53}}]
    summaries = ({"means": {"a/score": 0.5, "a/lr": 0.1}}, {"means": {"a/score": 0.5175, "a/lr": 0.3}})
    moves = verify.metric_moves(benchmark, committed, now, *summaries)
    assert [(m.seed, m.name, m.status) for m in moves] == [
        (0, "a/score", verify.WITHIN),
        (0, "a/loss", verify.IDENTICAL),
        (1, "a/score", verify.BEYOND),
        (1, "a/loss", verify.UNDECLARED),  # missing now, and no declared variation
        (None, "a/lr", verify.UNDECLARED),  # the summary's selection, not in any seed record
    ]
    assert verify.measured_variation(benchmark, moves) == {"*/score": pytest.approx(0.03), "*/loss": 0.0}
    with pytest.raises(ValueError, match="no seed 1"):
        verify.metric_moves(benchmark, committed, now[:1], *summaries)


def test_changed_verdicts_show_both_intervals():
    claim = {"claim": "c", "verdict": "reproduced", "values": {"difference": 0.02, "interval": [0.01, 0.03]}}
    flipped = {**claim, "verdict": "inconclusive", "detail": "the interval straddles the threshold 0"}
    flipped["values"] = {"difference": 0.01, "interval": [-0.01, 0.03]}
    checks = verify.verdict_checks({"claims": [claim]}, {"claims": [flipped]})
    text, same = verify.report("p", [], checks)
    assert not same and "reproduced: +0.02 [0.01, 0.03]" in text and "inconclusive: +0.01 [-0.01, 0.03]" in text
    assert verify.verdict_checks({"claims": [claim]}, {"claims": []})[0].now is None
