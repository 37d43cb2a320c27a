"""The harness and the paper command line under faults and bad input (issue 19): each case failed before its fix."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from paperzoo.bench import cli, runner
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result
from paperzoo.shared.cli import main as paper_main
from paperzoo.shared.records import read_json, summary_path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed process may stay a zombie until its parent (init here) reaps it.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def pick(registry, *names):
    return {n: registry[n] for n in names}


# ------------------------------------------------------------------------------------------ time limit
def test_time_limit_holds_when_a_grandchild_leaves_the_group_and_keeps_the_output(zoo, tmp_path, monkeypatch):
    registry, _ = zoo
    pidfile = tmp_path / "grandchild.pid"
    monkeypatch.setenv("FAKE_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_MODE", "hang")
    start = time.perf_counter()
    outcome = runner.run_paper(registry["escape"], "smoke", tmp_path / "out", timeout_s=2)
    assert outcome.status == runner.TIMEOUT and time.perf_counter() - start < 10  # was 25+ s (the grandchild's life)
    assert wait_dead(int(pidfile.read_text())), "the grandchild that left the process group survived"


def test_a_run_leaves_no_process_behind(zoo, tmp_path, monkeypatch):
    registry, _ = zoo
    pidfile = tmp_path / "grandchild.pid"
    monkeypatch.setenv("FAKE_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_MODE", "exit")
    start = time.perf_counter()
    outcome = runner.run_paper(registry["escape"], "smoke", tmp_path / "out", timeout_s=60)
    assert outcome.status == runner.INVALID and time.perf_counter() - start < 10  # exited 0, wrote nothing
    assert wait_dead(int(pidfile.read_text()))


def test_bad_timeouts_are_usage_errors(zoo, capsys):
    registry, root = zoo
    for bad in ("0", "-1", "inf", "soon"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["run", "good", "--timeout", bad], registry, root)
        assert exit_info.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    with pytest.raises(ValueError, match="timeout"):
        runner.run_paper(registry["good"], "smoke", root / "runs", timeout_s=0)


# ------------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_paper_and_the_harness_exits_non_zero(zoo, tmp_path, signum):
    _, root = zoo
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import sys
        from paperzoo.bench import cli
        from paperzoo.bench.discovery import Paper
        registry = {{"hang": Paper("hang", "fakezoo.hang", ({str(tmp_path)!r},))}}
        sys.exit(cli.main(["run", "hang", "--timeout", "120"], registry, __import__("pathlib").Path({str(root)!r})))
    """)
    env = {**os.environ, "FAKE_PIDFILE": str(pidfile)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the fake paper never started"
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum and b"stopped" in err
    assert wait_dead(child), "the paper's child outlived the interrupted harness"


# ------------------------------------------------------------------------------------ malformed input
def test_mistyped_summary_is_a_fail_naming_the_field_and_the_others_still_run(zoo, capsys):
    registry, root = zoo
    assert cli.main(["baseline", "--papers", "good"], pick(registry, "good"), root) == 0
    assert cli.main(["bench", "--scale", "smoke"], pick(registry, "mistyped", "good"), root) == 1
    out = capsys.readouterr().out
    assert "summary.json: field means['m/score']: not a number: 'high'" in out
    assert re.search(r"good\s+ok\s+claim: method beats baseline", out) and "1 failed" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"metrics": {"method/score": {"value": 0.9', "unreadable: JSONDecodeError"),
        ('{"paper": "good"}', "field metrics: must be an object"),
        ('{"metrics": {"method/score": {"value": 0.9, "better": "higher"}}}', "tolerance: must be a number"),
        ('{"metrics": {"method/score": {"value": "x", "better": "higher", "tolerance": 0}}}', "value: must be"),
    ],
)
def test_malformed_baseline_is_a_fail_naming_the_file_and_the_others_still_run(zoo, capsys, text, message):
    registry, root = zoo
    (root / "benchmarks/baselines/good.json").write_text(text)
    assert cli.main(["bench", "--scale", "smoke"], pick(registry, "good"), root) == 1
    out = capsys.readouterr().out
    assert "good.json" in out and message in out


def test_malformed_committed_summary_is_a_fail(zoo, capsys):
    registry, root = zoo
    path = summary_path(root / "benchmarks/results", "good", "full")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"means": {}, "stds": {}, "seeds": [0, 0], "claims": []}))
    assert cli.main(["bench", "--scale", "full", "--allow-dirty"], pick(registry, "good"), root) == 1
    assert "seeds: a seed is repeated" in capsys.readouterr().out


def test_outside_a_checkout_is_a_usage_error(zoo, tmp_path, monkeypatch, capsys):
    registry, _ = zoo
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report"], registry) == 2
    assert "no paperzoo checkout" in capsys.readouterr().err


def test_children_get_the_test_thread_limits(zoo, tmp_path, monkeypatch):
    registry, _ = zoo
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    outcome = runner.run_paper(registry["good"], "smoke", tmp_path / "out", timeout_s=60)
    assert outcome.status == runner.OK and outcome.summary["means"]["env/omp_threads"] == 1.0


# ------------------------------------------------------------------------------------- paper CLI
@dataclasses.dataclass(frozen=True)
class Config:
    device: str = "cpu"


CALLS: list[int] = []


def counting_run(config: Config, seed: int) -> Result:
    CALLS.append(seed)
    return Result({"m/x": 0.5})


def benchmark() -> Benchmark:
    return Benchmark(
        slug="demo",
        title="Demo",
        framework="torch",
        scales={s: Config() for s in ("smoke", "full", "paper")},
        seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
        run={s: counting_run for s in ("smoke", "full", "paper")},
        claims={s: lambda c: (Claim("x", Compare("m/x", "<", 1.0)),) for s in ("smoke", "full")},
        metrics=(MetricSpec("m/x", "higher", 0.1),),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0", "-1"], "--seeds must be integers >= 0"),
        (["--seeds", "0", "0", "1"], "--seeds repeats [0]"),
    ],
)
def test_paper_cli_rejects_bad_seeds_before_any_compute(tmp_path, capsys, args, message):
    CALLS.clear()
    assert paper_main(benchmark(), ["--scale", "full", "--out", str(tmp_path), "--quiet", *args]) == 2
    assert message in capsys.readouterr().err and CALLS == []
    assert not list(tmp_path.rglob("*.json"))


def test_paper_cli_rejects_an_unwritable_out_before_any_compute(tmp_path, capsys):
    CALLS.clear()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert paper_main(benchmark(), ["--scale", "full", "--out", str(blocker / "runs"), "--quiet"]) == 2
    assert "--out: cannot write" in capsys.readouterr().err and CALLS == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_paper_cli_device_cuda_without_a_gpu_exits_2(tmp_path, capsys):
    CALLS.clear()
    assert paper_main(benchmark(), ["--scale", "smoke", "--out", str(tmp_path), "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err and CALLS == []


def test_leftover_temporary_files_of_a_killed_run_are_cleaned(tmp_path):
    folder = tmp_path / "demo" / "smoke"
    folder.mkdir(parents=True)
    leftovers = [folder / ".seed-0.json.abc123.tmp", folder / ".summary.json.x9.tmp"]
    for path in leftovers:
        path.write_text("{half")
    keep = folder / "notes.txt"
    keep.write_text("mine")
    assert paper_main(benchmark(), ["--scale", "smoke", "--out", str(tmp_path), "--quiet"]) == 0
    assert not any(p.exists() for p in leftovers) and keep.exists()
    assert read_json(folder / "seed-0.json")["metrics"] == {"m/x": 0.5}
