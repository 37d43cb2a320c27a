"""Running one paper in its own process group, with a time limit, and reading what it wrote.

The harness never parses a paper's stdout: it reads the JSON records the run wrote. What it guarantees:

- the time limit holds: the child's output goes to a file, never a pipe, so a descendant that keeps it
  open cannot hold the harness; at the limit the child's process group is killed, and so is every
  process that carries the run's mark in its environment (descendants that left the group included);
- nothing outlives a run: marked processes still alive when the child exits are killed too;
- SIGINT/SIGTERM to the harness are forwarded to the child's group, which gets a short grace period
  before everything of the run is killed, and the harness then exits non-zero (:class:`Interrupted`);
- a paper that crashes, hangs or writes invalid records is reported as such, and the other papers still run;
- children run with the same thread limits as the tests (:mod:`paperzoo.shared.runtime`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperzoo.bench.discovery import Paper
from paperzoo.shared.records import (
    read_json,
    seed_record_path,
    summary_path,
    validate_seed_record,
    validate_summary,
)
from paperzoo.shared.runtime import apply_run_environment

OK, CRASHED, TIMEOUT, INVALID = "ok", "crashed", "timeout", "invalid output"
RUN_MARK = "PAPERZOO_RUN_ID"  # set in each child's environment; every descendant inherits it
GRACE_S = 5.0  # after a forwarded signal, how long the child may take to stop before it is killed


class Interrupted(Exception):
    """The harness received SIGINT or SIGTERM; the run it was waiting for has been stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Outcome:
    """How one paper's run ended, and its summary when it ended well."""

    slug: str
    status: str
    wall_time_s: float
    detail: str = ""
    summary: dict[str, Any] | None = None
    seeds: list[dict[str, Any]] = field(default_factory=list)


def command(paper: Paper, scale: str, seeds: list[int] | None, out: Path, device: str = "cpu") -> list[str]:
    """The command line that runs ``paper`` (shown by ``--dry-run``)."""
    cmd = [
        sys.executable,
        "-m",
        paper.module,
        "--scale",
        scale,
        "--out",
        str(out),
        "--device",
        device,
        "--quiet",
    ]
    if seeds:
        cmd += ["--seeds", *map(str, seeds)]
    return cmd


def _child_env(paper: Paper, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ) | dict(extra or {})
    apply_run_environment(env)
    env["PAPERZOO_QUIET"] = "1"
    if paper.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*paper.pythonpath, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def marked_processes(run_id: str) -> list[int]:
    """PIDs of the live processes whose environment holds ``PAPERZOO_RUN_ID=<run_id>`` (Linux ``/proc``)."""
    needle = f"{RUN_MARK}={run_id}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_run(proc: subprocess.Popen, run_id: str) -> None:
    """SIGKILL the child's process group and every process marked with ``run_id``; reap the child."""
    _signal_group(proc.pid, signal.SIGKILL)
    for _ in range(3):  # a process may fork while we kill: repeat until none is left
        pids = marked_processes(run_id)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    proc.wait()


@contextmanager
def _signals_raise() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only; elsewhere a no-op)."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_paper(
    paper: Paper,
    scale: str,
    out: Path,
    timeout_s: float,
    seeds: list[int] | None = None,
    device: str = "cpu",
    stream: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run one paper at one scale and read back its records.

    The child runs in a new session (its own process group), marked with a run id in its environment.
    It returns at the time limit whatever the child's descendants do (see the module docstring), and
    raises :class:`Interrupted` after stopping the run when the harness is signalled. ``stream`` passes
    the child's output through to this terminal instead of capturing it; ``extra_env`` is added to the
    child's environment.
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout_s!r}")
    folder = summary_path(out, paper.slug, scale).parent
    previous = {p: p.stat().st_mtime_ns for p in folder.glob("*.json")} if folder.is_dir() else {}
    run_id = uuid.uuid4().hex
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        target = None if stream else log
        proc = subprocess.Popen(
            command(paper, scale, seeds, out, device),
            stdout=target,
            stderr=subprocess.STDOUT if target is not None else None,
            env=_child_env(paper, extra_env) | {RUN_MARK: run_id},
            start_new_session=True,
        )
        try:
            with _signals_raise():
                try:
                    proc.wait(timeout=timeout_s)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    timed_out = True
        except Interrupted as interrupted:
            _signal_group(proc.pid, interrupted.signum)  # forward, then give the paper a moment to stop
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            kill_run(proc, run_id)
            raise
        finally:
            kill_run(proc, run_id)  # the child's leftovers never outlive the run
        wall = time.perf_counter() - start
        if timed_out:
            return Outcome(paper.slug, TIMEOUT, wall, f"killed after {timeout_s:g} s")
        if proc.returncode != 0:
            log.seek(0)
            tail = log.read().strip().splitlines()[-5:]
            return Outcome(paper.slug, CRASHED, wall, f"exit code {proc.returncode}: " + " | ".join(tail))
    return read_outcome(paper.slug, scale, out, wall, seeds, stale=previous)


def read_outcome(
    slug: str,
    scale: str,
    out: Path,
    wall_time_s: float = float("nan"),
    seeds: list[int] | None = None,
    stale: dict[Path, int] | None = None,
) -> Outcome:
    """Read and validate ``summary.json`` and the seed records a run left under ``out``.

    ``stale`` maps files that existed before the run to their modification times: a summary the run
    did not rewrite is invalid output, never an old result passed off as new.
    """
    path = summary_path(out, slug, scale)
    try:
        summary = read_json(path)
        if stale and stale.get(path) == path.stat().st_mtime_ns:
            raise ValueError("summary.json was not rewritten by this run")
        validate_summary(summary, where=str(path))
        records = []
        for seed in seeds if seeds is not None else summary["seeds"]:
            record_path = seed_record_path(out, slug, scale, seed)
            record = read_json(record_path)
            validate_seed_record(record, where=str(record_path))
            records.append(record)
    except (OSError, ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        return Outcome(slug, INVALID, wall_time_s, f"{type(err).__name__}: {err}")
    return Outcome(slug, OK, wall_time_s, summary=summary, seeds=records)
