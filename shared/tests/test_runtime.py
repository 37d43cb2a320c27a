"""The run environment: one thread and deterministic kernels, the same for tests, harness and paper CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from paperzoo.shared import runtime


def test_apply_run_environment_fills_only_what_is_unset():
    env = runtime.apply_run_environment({"OMP_NUM_THREADS": "4"})
    assert env["OMP_NUM_THREADS"] == "4"  # an explicit choice is kept
    assert env["MKL_NUM_THREADS"] == "1" and env["TF_DETERMINISTIC_OPS"] == "1"
    assert "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]


def test_emulate_isa_caps_every_framework_and_keeps_xla_thread_flags():
    env = runtime.emulate_isa(runtime.apply_run_environment({}), "avx2")
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "AVX2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["XLA_FLAGS"].split() == [
        "--xla_cpu_multi_thread_eigen=false",
        "intra_op_parallelism_threads=1",
        "--xla_cpu_max_isa=AVX2",
    ]
    with pytest.raises(ValueError, match="isa must be one of"):
        runtime.emulate_isa({}, "avx1024")


def test_configure_framework_sets_torch_threads_and_deterministic_algorithms():
    code = (
        "import torch; from paperzoo.shared.runtime import configure_framework; torch.set_num_threads(2);"
        "torch.use_deterministic_algorithms(False); configure_framework('torch');"
        "print(torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ))
    assert out.stdout.split() == ["1", "True"]
    with pytest.raises(ValueError, match="framework must be one of"):
        runtime.configure_framework("mxnet")


def test_paper_cli_fixes_the_environment_before_compute():
    """``python -m paperzoo.<paper>`` started without the thread limits gets them (what ``make paper-*`` runs)."""
    env = {k: v for k, v in os.environ.items() if k not in runtime.THREAD_LIMITS and k != "TF_DETERMINISTIC_OPS"}
    code = (
        "import os; from paperzoo.shared.cli import fix_run_environment; fix_run_environment('jax');"
        "print(os.environ['OMP_NUM_THREADS'], os.environ['TF_DETERMINISTIC_OPS'], os.environ['XLA_FLAGS'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split()[:2] == ["1", "1"] and "intra_op_parallelism_threads=1" in out.stdout
    late = "import jax; jax.numpy.zeros(1).block_until_ready();" + code  # JAX started before the settings
    failed = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True, env=env)
    assert failed.returncode != 0 and "JAX's backend started before the run environment was set" in failed.stderr


def test_apply_run_environment_caps_blas_pools_loaded_before_it():
    # numpy first (its OpenBLAS starts one thread per core), then the run environment: the pool must drop to 1
    code = (
        "import numpy, threadpoolctl\n"
        "from paperzoo.shared import runtime\n"
        "runtime.apply_run_environment()\n"
        "print(sorted({p['num_threads'] for p in threadpoolctl.threadpool_info()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in runtime.THREAD_LIMITS}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1]"
