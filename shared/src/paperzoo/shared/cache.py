"""A disk cache for expensive, deterministic artefacts (pretrained weights, measured matrices), keyed by a hash.

:func:`config_key` hashes any JSON-serialisable description of what was built (every config field, the format
version, the model class, a machine fingerprint where the artefact is machine-dependent); :func:`cached` returns the
artefact from ``cache_dir/<name>-<key>.<suffix>`` when it is there and readable, else builds it, writes it
atomically (a temporary file then a rename: a run killed while writing leaves no half file under the final name)
and returns it. A corrupt or truncated file is rebuilt with a warning, never fatal; ``cache_dir=None`` disables the
cache. How the artefact is written and read is the caller's (``torch.save``/``torch.load``, ``json``, ``numpy``),
so this module imports no framework.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("paperzoo.cache")


def config_key(fields: dict[str, Any], length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``fields`` as sorted-key JSON (non-JSON values by ``str``)."""
    if not 1 <= length <= 64:
        raise ValueError(f"length must be in [1, 64], got {length}")
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cached(
    cache_dir: str | Path | None,
    name: str,
    key: str,
    build: Callable[[], T],
    save: Callable[[T, Path], None],
    load: Callable[[Path], T],
    suffix: str = "pt",
) -> tuple[T, dict[str, Any]]:
    """``build()``'s artefact, from ``cache_dir/<name>-<key>.<suffix>`` when present and readable, else built and saved.

    ``save(artefact, path)`` must write the whole artefact to ``path``; ``load(path)`` must read it back (and raise on a
    damaged file). Returns the artefact and ``info``: ``cache_hit`` (1.0 or 0.0), ``build_s`` (seconds spent building,
    0.0 on a hit) and ``path`` (``None`` when the cache is disabled).
    """
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name prefix without '/', got {name!r}")
    if not key:
        raise ValueError("key must be non-empty")
    path = None if cache_dir is None else Path(cache_dir).expanduser() / f"{name}-{key}.{suffix}"
    if path is not None and path.is_file():
        try:
            return load(path), {"cache_hit": 1.0, "build_s": 0.0, "path": str(path)}
        except Exception as err:
            log.warning("unreadable cache file %s (%s: %s): rebuilding it", path, type(err).__name__, err)
    start = time.perf_counter()
    artefact = build()
    build_s = time.perf_counter() - start
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{time.time_ns()}.tmp")
        save(artefact, tmp)
        tmp.replace(path)
    return artefact, {"cache_hit": 0.0, "build_s": build_s, "path": None if path is None else str(path)}
