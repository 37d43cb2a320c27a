"""GROOVE's speed figures (``make perf-groove``): compile time and throughput of meta-training and meta-test."""

from __future__ import annotations

import dataclasses
import time

import jax

from paperzoo.groove.experiment import ARMS, compiled_test, held_out, meta_train
from paperzoo.groove.gridworld import HELD_OUT_LIFETIME


def perf(device: str) -> dict[str, float]:
    """Compile time (``*/compile_s``) and run time (``*/run_s``) reported separately: the full-scale meta-training
    (20 meta-steps per arm, with meta-steps/s and environment steps/s), the meta-test inner loop (frozen LPG, no
    meta-gradient; environment steps/s) and the smoke program."""
    from paperzoo.groove.bench import FullConfig  # bench declares perf: imported here, not at module level

    full = FullConfig()
    figures: dict[str, float] = {}
    for arm, sampler in ARMS.items():
        train = dataclasses.replace(full.train, sampler=sampler, meta_steps=20, checkpoints=1)
        _, _, _, timings = meta_train(train, 0)
        figures |= {f"{arm}/{k}": v for k, v in timings.items()}
    names, _, _ = held_out()
    params = full.train.lpg.init_params(jax.random.key(0))
    start = time.perf_counter()
    fn = compiled_test(full, "lpg").lower(jax.random.key(1), params).compile()
    figures["meta_test/compile_s"] = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(fn(jax.random.key(2), params))
    run_s = time.perf_counter() - start
    figures["meta_test/run_s"] = run_s
    # The smoke program (3 GROOVE meta-steps), compiled as the smoke run compiles it (optimisation level 0, no
    # persistent cache here: this is the cold compile), and run.
    from paperzoo.groove.bench import SmokeConfig

    _, _, _, timings = meta_train(SmokeConfig().train, 0, fast_compile=True)
    figures["smoke/compile_s"], figures["smoke/run_s"] = timings["compile_s"], timings["run_s"]
    steps = len(names) * full.test_agents * full.test_workers * HELD_OUT_LIFETIME * full.train.meta.rollout_len
    figures["meta_test/env_steps_per_s"] = steps / run_s
    return figures
