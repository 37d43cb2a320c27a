"""The process environment every run gets: thread limits, quiet third-party logs, offline hubs.

One place for the settings that the test configuration (the root ``conftest.py``) and the harness's
child runs share, so that a paper computes the same way in its tests and in ``paperzoo bench``.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# One thread per process for every framework (2 pytest workers on 2 cores; one paper at a time in the harness).
THREAD_LIMITS = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1", "PAPERZOO_QUIET": "1"}


def apply_run_environment(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set :data:`THREAD_LIMITS` and :data:`QUIET` in ``env`` (default ``os.environ``) where not already set."""
    env = os.environ if env is None else env
    for name, value in {**THREAD_LIMITS, **QUIET}.items():
        env.setdefault(name, value)
    return env
