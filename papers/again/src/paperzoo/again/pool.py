"""Independent jobs on ``workers`` processes, longest expected cost first, this process being one of them.

The classroom build and the test students are a few dozen jobs of seconds to minutes each. With a fresh
process pool per call (``paperzoo.shared.parallel.run_jobs``) two processes gave 1.22x one on perf's classroom:
every new worker imported scikit-learn (3-4 s), while this process only waited, and whatever job came last
set the end. Here

- this process runs jobs itself next to ``workers - 1`` worker processes, so work starts at once;
- the workers are started once per run and reused by every later call; they fork from the ``forkserver`` with
  this package and scikit-learn already imported;
- a worker claims a job only once it runs (a slow start never holds a job back), one job at a time, from
  one queue sorted by expected cost, longest first, so the jobs that finish last are the short ones.

Every job is a pure function of its arguments (explicit seeds), so the results do not depend on which
process ran a job or when: the number of workers never changes a number.
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from typing import Any

from paperzoo.shared.validate import check_positive_int

Job = tuple[Callable[..., Any], tuple[Any, ...]]

PRELOAD = ["paperzoo.again.experiment"]  # imports every job function and scikit-learn


@functools.cache
def worker_pool(processes: int) -> concurrent.futures.ProcessPoolExecutor:
    """The run's pool of ``processes`` workers (started on first use, kept until the interpreter exits)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # no effect if this process's forkserver already runs
    return concurrent.futures.ProcessPoolExecutor(max_workers=processes, mp_context=context)


def run_longest_first(jobs: Sequence[Job], costs: Sequence[float], workers: int) -> list[Any]:
    """``fn(*args)`` of every ``(fn, args)`` in ``jobs`` on ``workers`` processes; results in job order.

    Jobs start in decreasing ``costs`` (ties keep the job order), each on the first free process; this
    process is one of the ``workers``. The first exception of a job is raised once the running jobs are done.
    ``ValueError`` for ``workers < 1`` or ``costs`` of another length than ``jobs``.
    """
    check_positive_int("workers", workers)
    if len(costs) != len(jobs):
        raise ValueError(f"costs must have one entry per job ({len(jobs)}), got {len(costs)}")
    order = iter(sorted(range(len(jobs)), key=lambda i: -costs[i]))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    busy = [0]  # jobs running on workers
    state = threading.Condition()

    def claim(on_worker: bool) -> int | None:
        with state:
            i = None if errors else next(order, None)
            busy[0] += on_worker and i is not None
            return i

    def feed(pool: concurrent.futures.ProcessPoolExecutor) -> None:
        try:
            pool.submit(int).result()  # wait until a worker runs
            while (i := claim(on_worker=True)) is not None:
                fn, args = jobs[i]
                try:
                    results[i] = pool.submit(fn, *args).result()
                finally:
                    with state:
                        busy[0] -= 1
                        state.notify_all()
        except BaseException as error:  # raised in the calling thread
            with state:
                errors.append(error)
                state.notify_all()

    n_extra = min(workers, len(jobs)) - 1
    if n_extra > 0:
        pool = worker_pool(n_extra)
        for _ in range(n_extra):
            threading.Thread(target=feed, args=(pool,), daemon=True).start()
    try:
        while (i := claim(on_worker=False)) is not None:
            fn, args = jobs[i]
            results[i] = fn(*args)
    except BaseException as error:
        with state:
            errors.append(error)
    with state:
        state.wait_for(lambda: busy[0] == 0)
    if errors:
        raise errors[0]
    return results
