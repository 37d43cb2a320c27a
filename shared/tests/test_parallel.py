"""paperzoo.shared.parallel: jobs on worker processes give the in-process results, in job order."""

import math
import os

import pytest

from paperzoo.shared.parallel import run_jobs


def test_workers_give_the_in_process_results_in_job_order():
    jobs = [(pow, (2, x)) for x in range(6)]  # workers import what they run: module-level functions only
    assert run_jobs(jobs, workers=2) == run_jobs(jobs, workers=1) == [2**x for x in range(6)]
    pids = run_jobs([(os.getpid, ())] * 4, workers=2)
    assert os.getpid() not in pids and run_jobs([(os.getpid, ())], workers=1) == [os.getpid()]


def test_a_failing_job_raises_and_workers_are_validated():
    with pytest.raises(ValueError, match="math domain error"):
        run_jobs([(math.sqrt, (4.0,)), (math.sqrt, (-1.0,))], workers=2)
    with pytest.raises(ValueError, match="workers"):
        run_jobs([], workers=0)
