"""Running one paper in its own process group, with a time limit, and reading what it wrote.

The harness never parses a paper's stdout: it reads the JSON records the run wrote. A paper that
crashes, hangs (killed with its whole process group at the limit) or writes invalid records is reported
as such, and the other papers still run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperzoo.bench.discovery import Paper
from paperzoo.shared.records import read_json, seed_record_path, summary_path, validate_seed_record

OK, CRASHED, TIMEOUT, INVALID = "ok", "crashed", "timeout", "invalid output"


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
    env["PAPERZOO_QUIET"] = "1"
    env.setdefault("HF_HUB_OFFLINE", "1")
    if paper.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*paper.pythonpath, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


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

    The child runs in a new session (its own process group); at the time limit the whole group is
    killed, so a paper's worker processes cannot outlive it. ``stream`` passes the child's output through
    to this terminal instead of capturing it. ``extra_env`` is added to the child's environment.
    """
    folder = summary_path(out, paper.slug, scale).parent
    previous = {p: p.stat().st_mtime_ns for p in folder.glob("*.json")} if folder.is_dir() else {}
    start = time.perf_counter()
    pipe = None if stream else subprocess.PIPE
    proc = subprocess.Popen(
        command(paper, scale, seeds, out, device),
        stdout=pipe,
        stderr=pipe,
        text=True,
        env=_child_env(paper, extra_env),
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Outcome(paper.slug, TIMEOUT, time.perf_counter() - start, f"killed after {timeout_s:g} s")
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (stderr or "").strip().splitlines()[-5:]
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
        for key in ("means", "stds", "claims", "seeds"):
            if key not in summary:
                raise ValueError(f"summary lacks {key!r}")
        records = []
        for seed in seeds if seeds is not None else summary["seeds"]:
            record = read_json(seed_record_path(out, slug, scale, seed))
            validate_seed_record(record)
            records.append(record)
    except (OSError, ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        return Outcome(slug, INVALID, wall_time_s, f"{type(err).__name__}: {err}")
    return Outcome(slug, OK, wall_time_s, summary=summary, seeds=records)
