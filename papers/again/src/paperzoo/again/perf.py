"""AGAIN's speed figures (``make perf-again``): classroom build on 2 processes against 1, toy episodes per second
of each teacher, and the share of an ALP-GMM run spent refitting GMMs.

The classroom is the full scale's (24 students, 6 per rotation, k = 2..6) at 12k instead of 30k episodes per
student, to keep the run short: the 2-process build then pays its one-off start (a worker process importing
scikit-learn, about 4 s of CPU) against a build of about a minute of CPU, a larger share than at the full scale.
The 1-process build runs first, so the 2-process figure includes starting the worker.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from paperzoo.again.alp_gmm import ALPGMM
from paperzoo.again.classroom import Classroom, StudentSpec, train
from paperzoo.again.experiment import ARMS, ROTATIONS, make_teacher
from paperzoo.again.pool import worker_pool

PERF_EPISODES = 12_000


def perf(device: str) -> dict[str, float]:
    """Wall-clock and CPU figures of the classroom build (1 and 2 processes) and of each teacher."""
    from paperzoo.again.bench import FULL  # bench declares perf: imported here, not at module level

    config = dataclasses.replace(FULL, episodes=PERF_EPISODES)
    per_type = config.classroom_per_type
    students = [
        StudentSpec(config.n_cells, rotation=r, seed=per_type * r + i) for r in ROTATIONS for i in range(per_type)
    ]
    figures: dict[str, float] = {}
    for workers in (1, 2):
        start, cpu = time.perf_counter(), time.process_time()
        classroom = Classroom.build(students, config.train_spec(), workers=workers)
        figures[f"classroom_build_s/workers_{workers}"] = time.perf_counter() - start
        figures[f"classroom_build_cpu_s/workers_{workers}/this_process"] = time.process_time() - cpu
    # The worker was forked for the 2-process build: its CPU time since then is its share of the jobs.
    figures["classroom_build_cpu_s/workers_2/worker"] = worker_pool(1).submit(time.process_time).result()
    figures["classroom_build/speedup_2_over_1"] = (
        figures["classroom_build_s/workers_1"] / figures["classroom_build_s/workers_2"]
    )
    # Idle-machine estimate: the 1-process CPU time over the busier process of the 2-process build.
    figures["classroom_build/speedup_2_over_1_cpu_estimate"] = figures[
        "classroom_build_cpu_s/workers_1/this_process"
    ] / max(figures["classroom_build_cpu_s/workers_2/this_process"], figures["classroom_build_cpu_s/workers_2/worker"])
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
