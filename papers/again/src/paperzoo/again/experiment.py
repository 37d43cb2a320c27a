"""The scale runners of AGAIN: build a classroom of ALP-GMM students, then teach new test students with every arm.

One seed = one classroom (``classroom_per_type`` students of each of the 4 rotations, trained by ALP-GMM on 2
processes) and ``test_per_type`` new students of each tested rotation, each taught by every arm with the same
teacher seed (the toy student itself is deterministic), so the arms are paired within the seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paperzoo.again.again import AGAIN
from paperzoo.again.alp_gmm import ALPGMM
from paperzoo.again.classroom import Classroom, StudentSpec, TrainSpec, train
from paperzoo.again.parkour import ParkourConfig, run_parkour
from paperzoo.again.pool import run_longest_first
from paperzoo.again.random_teacher import RandomTeacher
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

ARMS = ("random", "alp_gmm", "again_r", "again_random_expert", "again_ground_truth")
AGAIN_SELECTION = {"again_r": "knn", "again_random_expert": "random", "again_ground_truth": "ground_truth"}
ROTATIONS = (0, 1, 2, 3)
# Expected cost of a test student per arm, for the order jobs start in (``make perf-again``: Random runs about
# 12x more episodes per second than the GMM teachers, which refit every fit_rate episodes).
ARM_COST = {"random": 0.1, "alp_gmm": 1.0, "again_r": 1.0, "again_random_expert": 1.0, "again_ground_truth": 1.0}


@dataclass(frozen=True)
class ToyConfig:
    """One scale of the toy-v1 experiment (defaults: the full CPU scale; README for each value's origin)."""

    n_cells: int = 10
    episodes: int = 30_000
    epoch_len: int = 3_000
    score_every: int = 500
    fit_rate: int = 250
    k_max: int = 6
    alpgmm_random_ratio: float = 0.1  # official toy runs: -rnd 10 (also AGAIN's pre-test ratio)
    again_random_ratio: float = 0.02  # official AGAIN toy command: -rnd 2
    classroom_per_type: int = 6
    test_per_type: int = 2
    test_types: tuple[int, ...] = ROTATIONS
    pretrain_epochs: int = 1
    k: int = 5
    r_list_len: int = 10
    tol_ratio: float = 1.0
    alp_threshold: float = 0.2
    arms: tuple[str, ...] = ARMS
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n_cells", "score_every", "classroom_per_type", "test_per_type", "k", "r_list_len", "workers"):
            check_positive_int(name, getattr(self, name))
        check_range("pretrain_epochs", self.pretrain_epochs, 1, self.episodes // self.epoch_len - 1)
        check_range("alp_threshold", self.alp_threshold, 0.0, 1.0)
        if self.epoch_len % self.score_every:
            raise ValueError(f"epoch_len ({self.epoch_len}) must be a multiple of score_every ({self.score_every})")
        if not self.test_types or any(t not in ROTATIONS for t in self.test_types):
            raise ValueError(f"test_types must be a non-empty subset of {ROTATIONS}, got {self.test_types}")
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {ARMS}, got {self.arms}")
        self.train_spec()  # validates episodes, epoch_len, fit_rate, k_max and the ratio

    def train_spec(self) -> TrainSpec:
        """How the classroom's ALP-GMM students are trained."""
        return TrainSpec(
            self.episodes, self.epoch_len, self.score_every, self.fit_rate, self.k_max, self.alpgmm_random_ratio
        )


def make_teacher(arm: str, config: ToyConfig, classroom: Classroom, student_param: int, seed: int) -> Any:
    """The teacher of one arm for one test student."""
    lower, upper = np.zeros(2), np.ones(2)
    if arm == "random":
        return RandomTeacher(lower, upper, seed)
    if arm == "alp_gmm":
        return ALPGMM(
            lower,
            upper,
            seed,
            fit_rate=config.fit_rate,
            k_max=config.k_max,
            random_task_ratio=config.alpgmm_random_ratio,
        )
    return AGAIN(
        lower,
        upper,
        classroom,
        student_param,
        seed,
        selection=AGAIN_SELECTION[arm],
        pretrain_epochs=config.pretrain_epochs,
        k=config.k,
        random_task_ratio=config.again_random_ratio,
        pretest_random_ratio=config.alpgmm_random_ratio,
        r_list_len=config.r_list_len,
        tol_ratio=config.tol_ratio,
        fit_rate=config.fit_rate,
        k_max=config.k_max,
    )


def teach(arm: str, config: ToyConfig, classroom: Classroom, student: StudentSpec) -> dict[str, Any]:
    """Train one test student with one arm: its score curve and, for AGAIN, what the teacher did."""
    env = student.make_env()
    teacher = make_teacher(arm, config, classroom, env.student_param, student.seed)
    scores, _ = train(env, teacher, config.episodes, config.epoch_len, config.score_every)
    out: dict[str, Any] = {"scores": scores}
    if isinstance(teacher, ALPGMM):
        out["refits"] = len(teacher.fit_episodes)
    if isinstance(teacher, AGAIN):
        out |= {
            "same_type_expert": float(classroom.params[teacher.expert] == env.student_param),
            "expert_steps": teacher.expert_index,
            "curriculum_done": float(teacher.stopped_at is not None),
        }
    return out


def run(config: ToyConfig, seed: int) -> Result:
    """Build the seed's classroom, teach its test students with every arm, and report per-arm means."""
    classroom_students = [
        StudentSpec(config.n_cells, rotation=r, seed=derive(seed, "classroom", r, i))
        for r in ROTATIONS
        for i in range(config.classroom_per_type)
    ]
    classroom = Classroom.build(classroom_students, config.train_spec(), config.workers, config.alp_threshold)
    tests = [
        StudentSpec(config.n_cells, rotation=r, seed=derive(seed, "test", r, i))
        for r in config.test_types
        for i in range(config.test_per_type)
    ]
    jobs = [(teach, (arm, config, classroom, s)) for arm in config.arms for s in tests]
    outs = run_longest_first(jobs, [ARM_COST[arm] for arm in config.arms for _ in tests], config.workers)
    metrics: dict[str, float] = {
        "classroom/size": float(len(classroom)),
        "classroom/final_mastery": float(np.mean(classroom.final_scores)) / 100.0,
    }
    series: dict[str, list[float]] = {}
    for a, arm in enumerate(config.arms):
        runs = outs[a * len(tests) : (a + 1) * len(tests)]
        curves = np.stack([o["scores"] for o in runs]) / 100.0
        mean_curve = curves.mean(axis=0)
        metrics[f"{arm}/auc"] = float(np.trapezoid(mean_curve) / (len(mean_curve) - 1))
        metrics[f"{arm}/final_mastery"] = float(mean_curve[-1])
        series[f"{arm}/mastery"] = mean_curve.tolist()
        for key in ("refits", "same_type_expert", "expert_steps", "curriculum_done"):
            if key in runs[0]:
                metrics[f"{arm}/{key}"] = float(np.mean([o[key] for o in runs]))
    return Result(metrics=metrics, series=series)


PAPER_SETTINGS = ("toy", "parkour")


@dataclass(frozen=True)
class PaperConfig:
    """The paper's own settings: the official 20x20 toy (runnable) and the parkour setting (configuration only);
    ``setting`` picks the one :func:`run_paper` runs."""

    toy: ToyConfig
    parkour: ParkourConfig = field(default_factory=ParkourConfig)
    setting: str = "toy"
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_one_of("setting", self.setting, PAPER_SETTINGS)


def run_paper(config: PaperConfig, seed: int) -> Result:
    """The toy setting as :func:`run` on the config's device; the parkour setting raises (:func:`run_parkour`)."""
    if config.setting == "parkour":
        run_parkour(config.parkour, seed)
    return run(dataclasses.replace(config.toy, device=config.device), seed)
