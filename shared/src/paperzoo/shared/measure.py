"""Wall time and peak memory of a piece of work."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Measurement:
    """Filled in when the ``measure()`` block exits."""

    wall_time_s: float = float("nan")
    peak_memory_mib: float = float("nan")


def peak_rss_mib() -> float:
    """High-water mark of this process's resident memory, in MiB (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@contextmanager
def measure() -> Iterator[Measurement]:
    """Time a block with a monotonic clock and record the process's peak RSS at its end.

    The peak is the process's high-water mark so far, so it is an upper bound for the block itself.
    """
    m = Measurement()
    start = time.perf_counter()
    try:
        yield m
    finally:
        m.wall_time_s = time.perf_counter() - start
        m.peak_memory_mib = peak_rss_mib()
