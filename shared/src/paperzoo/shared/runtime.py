"""The process environment every run gets: one thread, deterministic kernels, quiet logs, offline hubs.

One place for the settings that the test configuration (the root ``conftest.py``), the harness's child runs
and the uniform paper CLI (:mod:`paperzoo.shared.cli`) share, so that a paper computes the same way in its
tests, in ``paperzoo bench`` and in ``make paper-<slug>``:

- :func:`apply_run_environment`: thread limits, TensorFlow's deterministic ops and quiet/offline variables,
  set in the environment (JAX and TensorFlow read them when they start);
- :func:`configure_framework`: what must be set inside the process (torch's thread count and deterministic
  algorithms);
- :data:`EMULATED_ISA`: variables that cap the instruction set every framework's kernels may use, so that one
  machine can measure how much a run's numbers move on a machine with narrower vector units
  (``paperzoo verify --emulate-isa``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, MutableMapping

# One thread per process for every framework (2 pytest workers on 2 cores; one paper at a time in the harness).
# A thread count changes how reductions are split, hence the last bits of a result: it is part of a run's identity.
THREADS = 1
THREAD_LIMITS = {
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
    "OPENBLAS_NUM_THREADS": str(THREADS),
    "TF_NUM_INTRAOP_THREADS": str(THREADS),
    "TF_NUM_INTEROP_THREADS": str(THREADS),
    "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={THREADS}",
}
# Deterministic kernels where a framework reads the request from the environment (TensorFlow's op determinism).
DETERMINISM = {"TF_DETERMINISTIC_OPS": "1"}
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1", "PAPERZOO_QUIET": "1"}

# x86-64 instruction-set caps: PyTorch's vectorised kernels (ATen), MKL's code path (conditional numerical
# reproducibility), oneDNN's kernels and XLA's code generation. Values are per ISA name.
EMULATED_ISA: Mapping[str, Mapping[str, str]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
    },
}


def apply_run_environment(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set :data:`THREAD_LIMITS`, :data:`DETERMINISM` and :data:`QUIET` in ``env`` (default ``os.environ``) where
    not already set.

    For this process (``env`` None) the BLAS/OpenMP pools that are already loaded are also capped at
    :data:`THREADS` (threadpoolctl): numpy reads ``OPENBLAS_NUM_THREADS`` only when it is first imported, which
    happens before this call wherever ``paperzoo.shared`` itself is imported first (the root ``conftest.py``,
    a paper's CLI). Two spinning BLAS threads per process on a shared 2-core machine cost far more than they give.
    """
    own = env is None
    env = os.environ if env is None else env
    for name, value in {**THREAD_LIMITS, **DETERMINISM, **QUIET}.items():
        env.setdefault(name, value)
    if own:
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(env["OMP_NUM_THREADS"]))
    return env


def emulate_isa(env: MutableMapping[str, str], isa: str) -> MutableMapping[str, str]:
    """Add the :data:`EMULATED_ISA` caps of ``isa`` to ``env`` (``XLA_FLAGS`` is extended, not replaced).

    ``ValueError`` for an ISA without caps.
    """
    if isa not in EMULATED_ISA:
        raise ValueError(f"isa must be one of {sorted(EMULATED_ISA)}, got {isa!r}")
    for name, value in EMULATED_ISA[isa].items():
        env[name] = f"{env[name]} {value}" if name == "XLA_FLAGS" and env.get(name) else value
    return env


def configure_framework(framework: str) -> None:
    """Fix the in-process settings of ``framework`` for a reproducible run.

    torch: :data:`THREADS` intra-op threads and ``use_deterministic_algorithms`` (warn-only: an op without a
    deterministic kernel warns rather than stops the run). JAX and TensorFlow take theirs from the
    environment (:func:`apply_run_environment`, set before they start): thread counts from ``XLA_FLAGS`` and
    ``TF_NUM_*_THREADS``, TensorFlow's deterministic ops from ``TF_DETERMINISTIC_OPS``; XLA's CPU kernels are
    deterministic for a given thread count and instruction set. ``ValueError`` for an unknown framework.
    """
    if framework not in ("jax", "tensorflow", "torch"):
        raise ValueError(f"framework must be one of ('jax', 'tensorflow', 'torch'), got {framework!r}")
    if framework == "torch":
        torch = importlib.import_module("torch")
        torch.set_num_threads(THREADS)
        torch.use_deterministic_algorithms(True, warn_only=True)


def jax_backend_started() -> bool:
    """Whether JAX has already created its backends (after which ``XLA_FLAGS`` is no longer read)."""
    if "jax" not in sys.modules:
        return False
    bridge = importlib.import_module("jax._src.xla_bridge")
    return bool(bridge.backends_are_initialized())
