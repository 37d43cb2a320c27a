"""Run records: what one seed of one paper at one scale produced, written atomically.

Layout written by the CLI: ``OUT/<slug>/<scale>/seed-<n>.json`` per seed and ``summary.json``.
A record is plain JSON so the harness can read it without importing the paper.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SEED_FIELDS = (
    "schema_version",
    "paper",
    "scale",
    "seed",
    "config",
    "metrics",
    "series",
    "wall_time_s",
    "peak_memory_mib",
    "packages",
    "git",
    "started_utc",
)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, mappings, tuples and numpy scalars to plain JSON types; non-finite floats to None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, 0-d tensors
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` so that a reader sees the old file or the new one, never half.

    The text goes to a temporary file in the same folder, is flushed to disk, then renamed over ``path``
    (``os.replace`` is atomic on POSIX). A process killed mid-write leaves at most a hidden temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def package_versions() -> dict[str, str]:
    """Versions of every installed distribution whose top-level module this process has imported."""
    dists = importlib.metadata.packages_distributions()
    versions = {"python": platform.python_version()}
    for module in sorted({name.partition(".")[0] for name in list(sys.modules)}):
        for dist in dists.get(module, ()):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def git_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The commit of the checkout holding ``path`` and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            # --no-optional-locks: a run never takes the index lock (a concurrent commit must not fail).
            out = subprocess.run(
                ["git", "--no-optional-locks", "-C", str(path), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def seed_record_path(out: str | os.PathLike[str], slug: str, scale: str, seed: int) -> Path:
    """``OUT/<slug>/<scale>/seed-<n>.json``."""
    return Path(out) / slug / scale / f"seed-{seed}.json"


def summary_path(out: str | os.PathLike[str], slug: str, scale: str) -> Path:
    """``OUT/<slug>/<scale>/summary.json``."""
    return Path(out) / slug / scale / "summary.json"


def validate_seed_record(record: Any) -> None:
    """Raise ``ValueError`` unless ``record`` has every field of a seed record and numeric metrics."""
    if not isinstance(record, dict):
        raise ValueError(f"a seed record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in SEED_FIELDS if k not in record]
    if missing:
        raise ValueError(f"seed record lacks {missing}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version {record['schema_version']!r} is not {SCHEMA_VERSION}")
    check_metrics(record["metrics"])


def check_metrics(metrics: Any) -> None:
    """Raise ``ValueError`` unless ``metrics`` maps ``<arm>/<metric>`` names to numbers (None = non-finite)."""
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("metrics must be a non-empty object")
    for name, value in metrics.items():
        if "/" not in name:
            raise ValueError(f"metric name {name!r} is not of the form <arm>/<metric>")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"metric {name!r} is not a number: {value!r}")
