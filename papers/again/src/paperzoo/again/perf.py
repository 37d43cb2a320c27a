"""AGAIN's speed figures (``make perf-again``): classroom build on 2 processes against serial, toy episodes per
second of each teacher, and the share of an ALP-GMM run spent refitting GMMs."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from paperzoo.again.alp_gmm import ALPGMM
from paperzoo.again.classroom import Classroom, StudentSpec, train
from paperzoo.again.experiment import ARMS, ROTATIONS, make_teacher


def perf(device: str) -> dict[str, float]:
    """Wall-clock figures at the full scale's sizes (one classroom of 8 students, 10k episodes each)."""
    from paperzoo.again.bench import FULL  # bench declares perf: imported here, not at module level

    config = dataclasses.replace(FULL, episodes=9_000, classroom_per_type=2)
    students = [StudentSpec(config.n_cells, rotation=r, seed=10 * r + i) for r in ROTATIONS for i in range(2)]
    figures: dict[str, float] = {}
    for workers in (1, 2):
        start = time.perf_counter()
        classroom = Classroom.build(students, config.train_spec(), workers=workers)
        figures[f"classroom_build_s/workers_{workers}"] = time.perf_counter() - start
    figures["classroom_build/speedup_2_over_1"] = (
        figures["classroom_build_s/workers_1"] / figures["classroom_build_s/workers_2"]
    )
    for arm in ARMS:
        env = students[0].make_env()
        teacher = make_teacher(arm, config, classroom, env.student_param, 0)
        fit_time = 0.0
        if isinstance(teacher, ALPGMM):  # time the refits alone by wrapping this instance's fit
            fit = teacher.fit

            def timed_fit(fit=fit) -> None:
                nonlocal fit_time
                t0 = time.perf_counter()
                fit()
                fit_time += time.perf_counter() - t0

            teacher.fit = timed_fit
        start = time.perf_counter()
        train(env, teacher, config.episodes, config.epoch_len, config.score_every)
        elapsed = time.perf_counter() - start
        figures[f"{arm}/episodes_per_s"] = config.episodes / elapsed
        if isinstance(teacher, ALPGMM):
            figures["alp_gmm/refit_share"] = fit_time / elapsed
    figures["alp_gmm/refits_per_run"] = float(np.floor(config.episodes / config.fit_rate))
    return figures
