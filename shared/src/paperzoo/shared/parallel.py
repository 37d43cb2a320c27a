"""Independent jobs of one seed on worker processes, results in job order. Framework-free.

A full scale whose runs are independent (a learning-rate grid, single-task baselines) uses both cores with
:func:`run_jobs`; each worker is a fresh ``forkserver`` process (no state forked from the parent: the
framework in the worker starts as the test and harness processes do, one thread), so the numbers are the
same whatever the number of workers.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from paperzoo.shared.progress import progress
from paperzoo.shared.validate import check_positive_int

Job = tuple[Callable[..., Any], tuple[Any, ...]]


def run_jobs(jobs: Sequence[Job], workers: int, desc: str = "") -> list[Any]:
    """``fn(*args)`` for every ``(fn, args)`` of ``jobs``, on ``workers`` processes (in this process when 1).

    Returns the results in the order of ``jobs``; a job's exception is raised here. ``fn`` and ``args`` must
    be picklable when ``workers > 1`` (module-level functions). ``ValueError`` for ``workers < 1``.
    """
    check_positive_int("workers", workers)
    if workers == 1:
        return [fn(*args) for fn, args in progress(jobs, desc=desc, total=len(jobs))]
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        for _ in progress(concurrent.futures.as_completed(futures), desc=desc, total=len(futures)):
            pass
        return [future.result() for future in futures]
