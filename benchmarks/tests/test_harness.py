"""The harness with throwaway papers: one that succeeds, one that raises, one that hangs, one that writes garbage."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from paperzoo.bench import cli, compare, readme, runner
from paperzoo.bench.discovery import Paper, discover
from paperzoo.shared.records import read_json, summary_path


def only(registry: dict[str, Paper], *names: str) -> dict[str, Paper]:
    return {n: registry[n] for n in names}


def test_good_paper_baseline_then_bench_passes(zoo, capsys):
    registry, root = zoo
    good = only(registry, "good")
    assert cli.main(["baseline", "--papers", "good"], good, root) == 0
    baseline = read_json(root / "benchmarks/baselines/good.json")
    assert baseline["metrics"]["method/score"] == {
        "value": 0.9,
        "better": "higher",
        "tolerance": 0.05,
        "relative": False,
    }
    assert baseline["metrics"]["method/loss"]["relative"] is True
    assert cli.main(["bench", "--scale", "smoke"], good, root) == 0
    assert "0 failed" in capsys.readouterr().out
    record = read_json(root / "runs/bench/good/smoke/seed-0.json")
    assert record["metrics"]["method/score"] == 0.9 and record["git"].keys() == {"commit", "dirty"}
    assert record["config"] == {"n": 1, "device": "cpu"} and record["packages"]["python"]


def test_unreachable_baseline_fails_the_bench(zoo, monkeypatch, capsys):
    registry, root = zoo
    good = only(registry, "good")
    assert cli.main(["baseline", "--papers", "good"], good, root) == 0
    monkeypatch.setenv("FAKE_SCORE", "0.8")  # 0.1 below the baseline, tolerance 0.05
    assert cli.main(["bench", "--scale", "smoke"], good, root) == 1
    assert re.search(r"good\s+FAIL\s+method/score\s+0.8 vs baseline 0.9", capsys.readouterr().out)


def test_missing_baseline_is_a_failure(zoo):
    registry, root = zoo
    assert cli.main(["bench", "--scale", "smoke"], only(registry, "good"), root) == 1


def test_failed_smoke_claim_fails_the_bench(zoo, monkeypatch, capsys):
    registry, root = zoo
    good = only(registry, "good")
    monkeypatch.setenv("FAKE_SCORE", "0.4")
    assert cli.main(["baseline", "--papers", "good"], good, root) == 0  # metrics at baseline, but ...
    assert cli.main(["bench", "--scale", "smoke"], good, root) == 1  # ... the claim is not reproduced
    assert "not reproduced" in capsys.readouterr().out


def test_crash_and_garbage_are_reported_and_the_good_paper_still_runs(zoo, capsys):
    registry, root = zoo
    assert cli.main(["baseline", "--papers", "good"], only(registry, "good"), root) == 0
    papers = only(registry, "crash", "good", "garbage", "silent")
    assert cli.main(["bench", "--scale", "smoke"], papers, root) == 1
    out = capsys.readouterr().out
    assert "crashed: exit code 1" in out and "this paper is broken" in out
    assert "invalid output: JSONDecodeError" in out
    assert "invalid output: FileNotFoundError" in out  # exited 0 but wrote nothing
    assert (root / "runs/bench/good/smoke/summary.json").is_file()


def test_hang_is_killed_with_its_children(zoo, tmp_path, monkeypatch):
    registry, _ = zoo
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_PIDFILE", str(pidfile))
    start = time.perf_counter()
    outcome = runner.run_paper(registry["hang"], "smoke", tmp_path / "out", timeout_s=3)
    assert outcome.status == runner.TIMEOUT and time.perf_counter() - start < 30
    child = int(pidfile.read_text())
    for _ in range(50):  # the killed child is reaped by init shortly after
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} of the hung paper survived")


def test_stale_summary_is_not_passed_off_as_new(zoo, tmp_path):
    registry, _ = zoo
    out = tmp_path / "out"
    assert runner.run_paper(registry["good"], "smoke", out, 60).status == runner.OK
    silent = Paper("good", "fakezoo.silent", registry["silent"].pythonpath)  # exits 0, writes nothing
    outcome = runner.run_paper(silent, "smoke", out, 60)
    assert outcome.status == runner.INVALID and "not rewritten" in outcome.detail


def test_unknown_slug_exits_2_and_lists_known(zoo, capsys):
    registry, root = zoo
    assert cli.main(["run", "nosuch"], registry, root) == 2
    err = capsys.readouterr().err
    assert "unknown paper(s): nosuch" in err and "good" in err and "hang" in err


def test_console_script_unknown_slug(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "paperzoo.bench.cli", "run", "nosuch"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "known:" in proc.stderr and "adabelief" in proc.stderr


def test_dry_run_prints_commands_and_runs_nothing(zoo, capsys):
    registry, root = zoo
    assert cli.main(["bench", "--scale", "smoke", "--dry-run"], only(registry, "good", "crash"), root) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "-m fakezoo.good --scale smoke" in lines[0]
    assert not (root / "runs").exists()


def test_full_scale_verdict_flip_fails_and_honest_record_passes(zoo, capsys):
    registry, root = zoo
    good = only(registry, "good")
    full = ["bench", "--scale", "full", "--allow-dirty"]  # the fake root is no git checkout
    assert cli.main(full, good, root) == 0  # first record: verdicts only reported
    path = summary_path(root / "benchmarks/results", "good", "full")
    summary = read_json(path)
    assert summary["claims"][0]["verdict"] == "reproduced" and summary["seeds"] == [0, 1, 2]
    assert summary["git"]["dirty_override"] is True
    assert "good" in (root / "README.md").read_text() and "after" in (root / "README.md").read_text()
    paper_readme = (root / "papers/good/README.md").read_text()
    assert "✅ C1 | method beats baseline" in paper_readme and "| 2 | 0.9 vs 0.5 |" in paper_readme
    assert paper_readme.endswith("Reading: hand-written.\n") and "recorded with --allow-dirty" in paper_readme
    assert cli.main(["report", "--check"], good, root) == 0
    assert cli.main(full, good, root) == 0  # same verdict
    summary["claims"][0]["verdict"] = "not reproduced"
    path.write_text(json.dumps(summary))
    assert cli.main(full, good, root) == 1
    assert "verdict flipped" in capsys.readouterr().out
    path.write_text(json.dumps(summary))  # a record edited by hand: the README blocks no longer match it
    assert cli.main(["report", "--check"], good, root) == 1
    assert "papers/good/README.md" in capsys.readouterr().err


def test_full_scale_refuses_a_dirty_or_unknown_tree(zoo, capsys):
    registry, root = zoo
    good = only(registry, "good")
    assert cli.main(["bench", "--scale", "full"], good, root) == 2  # not a git checkout: cannot prove clean
    assert "not a git checkout" in capsys.readouterr().err
    # The checkout holds the fake papers too, so their records name its commit.
    git = ["git", "-C", str(root.parent), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root.parent / ".gitignore").write_text("runs/\nresults/\n__pycache__/\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    code = root.parent / "fakezoo" / "good" / "__init__.py"
    code.write_text("# an uncommitted edit of the code\n")
    assert cli.main(["bench", "--scale", "full"], good, root) == 2
    assert "uncommitted changes" in capsys.readouterr().err
    assert not summary_path(root / "benchmarks/results", "good", "full").exists()
    subprocess.run([*git, "commit", "-qam", "edit"], check=True)
    assert cli.main(["bench", "--scale", "full"], good, root) == 0
    # Its own outputs (records, README tables) do not make the tree dirty: the next paper may run at once.
    (root / "README.md").write_text((root / "README.md").read_text() + "\na regenerated table\n")
    assert cli.main(["bench", "--scale", "full"], good, root) == 0
    summary = read_json(summary_path(root / "benchmarks/results", "good", "full"))
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert summary["git"] == {"commit": head, "dirty": False}


def test_rederive_recomputes_claims_from_seed_records(zoo, capsys, monkeypatch):
    registry, root = zoo
    good = only(registry, "good")
    assert cli.main(["bench", "--scale", "full", "--allow-dirty"], good, root) == 0
    path = summary_path(root / "benchmarks/results", "good", "full")
    summary = read_json(path)
    summary["claims"] = [{"claim": "stale", "verdict": "not reproduced"}]
    summary["means"]["method/score"] = -1.0
    path.write_text(json.dumps(summary))
    monkeypatch.syspath_prepend(good["good"].pythonpath[0])
    assert cli.main(["rederive", "--papers", "good"], good, root) == 0
    # The README was rendered from the original run, which the re-derived record equals again.
    assert cli.main(["report", "--check", "--papers", "good"], good, root) == 0
    fresh = read_json(path)
    assert fresh["claims"][0]["verdict"] == "reproduced" and fresh["means"]["method/score"] == pytest.approx(0.9)
    assert fresh["wall_time_s"] == summary["wall_time_s"] and "rederived" in fresh
    assert cli.main(["report", "--check"], good, root) == 0


def test_compare_reads_existing_records(zoo):
    registry, root = zoo
    good = only(registry, "good")
    assert cli.main(["compare", "--scale", "smoke"], good, root) == 1  # nothing ran yet
    assert cli.main(["baseline", "--papers", "good"], good, root) == 0
    assert cli.main(["bench", "--scale", "smoke"], good, root) == 0
    assert cli.main(["compare", "--scale", "smoke"], good, root) == 0


@pytest.mark.parametrize(
    ("value", "better", "tol", "relative", "ok"),
    [
        (0.90, "higher", 0.05, False, True),
        (0.85, "higher", 0.05, False, True),
        (0.84, "higher", 0.05, False, False),
        (5.0, "higher", 0.05, False, True),
        (1.10, "lower", 0.1, True, True),
        (1.11, "lower", 0.1, True, False),
        (0.0, "lower", 0.1, True, True),
        (None, "higher", 0.05, False, False),
    ],
)
def test_metric_passes(value, better, tol, relative, ok):
    base = {
        "value": 0.9 if better == "higher" else 1.0,
        "better": better,
        "tolerance": tol,
        "relative": relative,
    }
    assert compare.metric_passes(value, base) is ok


def test_wall_time_only_warns():
    summary = {"means": {"a/x": 1.0}, "wall_time_s": 30.0}
    baseline = {"metrics": {"a/x": {"value": 1.0, "better": "higher", "tolerance": 0.0}}, "wall_time_s": 10.0}
    checks = compare.compare_to_baseline("p", summary, baseline)
    assert [c.ok for c in checks] == [True, True] and checks[1].warning


def test_readme_render_replaces_only_the_block():
    text = f"head\n{readme.BEGIN}\nold\n{readme.END}\ntail\n"
    assert readme.render(text, ["| a |"]) == f"head\n{readme.BEGIN}\n| a |\n{readme.END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        readme.render("no markers", [])


def test_discovery_finds_installed_papers_without_importing_them():
    assert discover()["adabelief"].module == "paperzoo.adabelief"
    script = (
        "import sys; from paperzoo.bench.discovery import discover; papers = discover(); "
        "print(sorted(m for m in sys.modules if m.startswith('paperzoo.adabelief') or m == 'torch'))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_atomic_write_killed_mid_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "record.json"
    script = textwrap.dedent(f"""
        from paperzoo.shared.records import write_json_atomic
        big = {{"metrics": {{f"arm/m{{i}}": float(i) for i in range(200_000)}}}}
        while True:
            write_json_atomic({str(target)!r}, big)
    """)
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([sys.executable, "-c", script])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            assert len(json.loads(target.read_text())["metrics"]) == 200_000


def test_inconclusive_smoke_claim_warns_unless_its_baseline_reproduced_it():
    summary = {"claims": [{"claim": "a beats b", "verdict": "inconclusive", "detail": "straddles"}]}
    (warn,) = compare.check_smoke_claims("p", summary, {"claims": {"a beats b": "inconclusive"}})
    assert warn.ok and warn.warning
    (new,) = compare.check_smoke_claims("p", summary, None)  # no baseline verdict yet: a warning, not silence
    assert new.ok and new.warning
    (regressed,) = compare.check_smoke_claims("p", summary, {"claims": {"a beats b": "reproduced"}})
    assert not regressed.ok and "reproduced at baseline" in regressed.message
    for verdict, ok in (("reproduced", True), ("not reproduced", False), ("missing", False)):
        (check,) = compare.check_smoke_claims("p", {"claims": [{"claim": "c", "verdict": verdict}]}, None)
        assert check.ok is ok and not check.warning
    baseline = compare.make_baseline(
        {"paper": "p", "scale": "smoke", "seeds": [0], "wall_time_s": 1.0, "means": {}, "claims": summary["claims"]}
    )
    assert baseline["claims"] == {"a beats b": "inconclusive"}
