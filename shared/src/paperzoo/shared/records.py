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


# The instruction-set extensions that change which kernels numeric libraries pick (and so their rounding).
ISA_FLAGS = ("sse4_2", "fma", "avx", "avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "asimd", "sve")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS")


def machine_info() -> dict[str, Any]:
    """What of the machine can change a run's numbers: CPU model, instruction-set extensions, cores, threads.

    ``threads`` holds the thread-limit variables as set, and torch's intra-op thread count when torch is
    imported. Linux's ``/proc/cpuinfo`` is read where it exists; elsewhere the model falls back to ``platform``.
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "CPU part") and model in ("", platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    threads: dict[str, Any] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    if "torch" in sys.modules:
        threads["torch_intra_op"] = sys.modules["torch"].get_num_threads()
    return {
        "cpu": model,
        "isa": sorted(flags & set(ISA_FLAGS)),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "threads": threads,
    }


def git_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The commit of the checkout holding ``path`` and whether it has uncommitted changes.

    Changes to the harness's own outputs (``benchmarks/results/``, Markdown files) do not count: recording one
    paper's results must not make the next paper's run "dirty".
    """

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
    # What the harness itself writes (records, plots, the README tables) does not make the code dirty.
    outputs = (":(top,exclude)benchmarks/results", ":(top,exclude,glob)**/*.md")
    status = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outputs) if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# Metrics that measure this machine's speed (seconds, milliseconds, rates per second, shares of time) end in
# one of these: they vary from run to run by nature, so reproducibility checks leave them out.
TIMING_SUFFIXES = ("_s", "_ms", "_time_share")


def is_timing(name: str) -> bool:
    """Whether metric ``name`` is a timing (its last ``/`` segment ends in one of :data:`TIMING_SUFFIXES`)."""
    return name.rsplit("/", 1)[-1].endswith(TIMING_SUFFIXES)


def seed_record_path(out: str | os.PathLike[str], slug: str, scale: str, seed: int) -> Path:
    """``OUT/<slug>/<scale>/seed-<n>.json``."""
    return Path(out) / slug / scale / f"seed-{seed}.json"


def summary_path(out: str | os.PathLike[str], slug: str, scale: str) -> Path:
    """``OUT/<slug>/<scale>/summary.json``."""
    return Path(out) / slug / scale / "summary.json"


def _fail(where: str, field: str, problem: str) -> None:
    prefix = f"{where}: " if where else ""
    raise ValueError(f"{prefix}field {field}: {problem}")


def _check_number_map(value: Any, where: str, field: str, empty_ok: bool = False) -> None:
    """``value`` maps ``<arm>/<metric>`` names to numbers (None = non-finite)."""
    if not isinstance(value, dict) or (not value and not empty_ok):
        _fail(where, field, f"must be a non-empty object, got {type(value).__name__}")
    for name, number in value.items():
        if "/" not in name:
            _fail(where, f"{field}[{name!r}]", "the name is not of the form <arm>/<metric>")
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
            _fail(where, f"{field}[{name!r}]", f"not a number: {number!r}")


def _check_seeds(value: Any, where: str, field: str) -> None:
    if not isinstance(value, list) or not value:
        _fail(where, field, f"must be a non-empty list of seeds, got {value!r}")
    for seed in value:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            _fail(where, field, f"seeds are integers >= 0, got {seed!r}")
    if len(set(value)) != len(value):
        _fail(where, field, f"a seed is repeated: {value}")


def validate_seed_record(record: Any, where: str = "") -> None:
    """Raise ``ValueError`` (naming ``where`` and the field) unless ``record`` is a valid seed record."""
    if not isinstance(record, dict):
        _fail(where, "(top level)", f"a seed record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in SEED_FIELDS if k not in record]
    if missing:
        _fail(where, ", ".join(missing), "missing")
    if record["schema_version"] != SCHEMA_VERSION:
        _fail(where, "schema_version", f"{record['schema_version']!r} is not {SCHEMA_VERSION}")
    _check_number_map(record["metrics"], where, "metrics")


def validate_summary(summary: Any, where: str = "") -> None:
    """Raise ``ValueError`` (naming ``where`` and the field) unless ``summary`` is a valid summary record.

    Checked: ``means``/``stds`` map metric names to numbers or null; ``seeds`` are distinct integers >= 0;
    ``claims`` is a list of objects each with a string ``claim`` and a known ``verdict``.
    """
    from paperzoo.shared.claims import VERDICTS

    if not isinstance(summary, dict):
        _fail(where, "(top level)", f"a summary must be a JSON object, got {type(summary).__name__}")
    for key in ("means", "stds", "claims", "seeds"):
        if key not in summary:
            _fail(where, key, "missing")
    _check_number_map(summary["means"], where, "means", empty_ok=True)
    _check_number_map(summary["stds"], where, "stds", empty_ok=True)
    _check_seeds(summary["seeds"], where, "seeds")
    if not isinstance(summary["claims"], list):
        _fail(where, "claims", f"must be a list, got {type(summary['claims']).__name__}")
    for i, claim in enumerate(summary["claims"]):
        if not isinstance(claim, dict):
            _fail(where, f"claims[{i}]", f"must be an object, got {claim!r}")
        if not isinstance(claim.get("claim"), str):
            _fail(where, f"claims[{i}].claim", f"must be a string, got {claim.get('claim')!r}")
        if claim.get("verdict") not in VERDICTS:
            _fail(where, f"claims[{i}].verdict", f"must be one of {VERDICTS}, got {claim.get('verdict')!r}")


def validate_baseline(baseline: Any, where: str = "") -> None:
    """Raise ``ValueError`` (naming ``where`` and the field) unless ``baseline`` is a valid smoke baseline."""
    if not isinstance(baseline, dict):
        _fail(where, "(top level)", f"a baseline must be a JSON object, got {type(baseline).__name__}")
    metrics = baseline.get("metrics")
    if not isinstance(metrics, dict):
        _fail(where, "metrics", f"must be an object, got {metrics!r}")
    for name, spec in metrics.items():
        field = f"metrics[{name!r}]"
        if not isinstance(spec, dict):
            _fail(where, field, f"must be an object, got {spec!r}")
        value = spec.get("value", "absent")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            _fail(where, f"{field}.value", f"must be a number or null, got {value!r}")
        if spec.get("better") not in ("higher", "lower"):
            _fail(where, f"{field}.better", f"must be 'higher' or 'lower', got {spec.get('better')!r}")
        tolerance = spec.get("tolerance")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
            _fail(where, f"{field}.tolerance", f"must be a number >= 0, got {tolerance!r}")
        if not isinstance(spec.get("relative", False), bool):
            _fail(where, f"{field}.relative", f"must be true or false, got {spec.get('relative')!r}")
    claims = baseline.get("claims", {})
    if not isinstance(claims, dict) or not all(isinstance(v, str) for v in claims.values()):
        _fail(where, "claims", f"must map claim texts to verdicts, got {claims!r}")
