"""The paper's parkour setting (the Box2D Walker-Climber environment), as configuration only.

The values are those of the official code (flowersteam/meta-acl: ``run.py``'s defaults and its README command
``run.py --teacher ALP-GMM -rnd 10 --nb_test_episodes 225 -rndls``, the teachers' defaults, and
``parkour_env_classroom_maker.ipynb``). Running it needs what this package does not ship: the Box2D
environment ``wc-env-v0`` of ``teachDRL.gym_flowers`` (old gym API, Box2D bodies) and a SAC student; so
:func:`run_parkour` validates the setting and raises ``NotImplementedError`` saying so.

Task space: ``(gap_pos, obstacle_spacing)`` in ``[2.5, 7.5] x [0, 6]``. A student is a body type (walker
``old_classic_bipedal`` or climber ``climbing_chest_profile_chimpanzee``, drawn with probability 1/2 each;
the environment also has the swimmer ``fish``, which ``run.py`` never draws), a leg size uniform in
``[0.5, 1.0]`` rounded to 0.01, and a ``[400, 300]`` SAC network. Each of its 20 epochs (500k of its 10M
steps) ends with 225 test episodes on a 15 x 15 grid of the task space; the test returns, mapped from
``[-150, 350]`` to ``[0, 1]``, are its KC vector (rewards given to the teachers are mapped the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.again.alp_gmm import check_bounds
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

# Body types of the Walker-Climber environment (teachDRL.gym_flowers BodiesEnum names) and their family.
BODIES = {"old_classic_bipedal": "walker", "climbing_chest_profile_chimpanzee": "climber", "fish": "swimmer"}


@dataclass(frozen=True)
class ParkourConfig:
    """The official Walker-Climber setting: environment, student distribution, SAC, ALP-GMM and AGAIN values."""

    # environment and task space
    env_id: str = "wc-env-v0"
    task_lower: tuple[float, ...] = (2.5, 0.0)  # gap_pos, obstacle_spacing
    task_upper: tuple[float, ...] = (7.5, 6.0)
    climbing_surface_size: float = 0.5
    water_level: float = 0.0
    reward_range: tuple[float, float] = (-150.0, 350.0)  # mapped to [0, 1] for the teachers and KC vectors
    mastered_return: float = 230.0  # a test task counts as mastered above this return (teachDeepRL's threshold)
    # students
    bodies: tuple[str, ...] = ("old_classic_bipedal", "climbing_chest_profile_chimpanzee")
    leg_size: tuple[float, float] = (0.5, 1.0)  # -rndls: uniform, rounded to 0.01
    hidden_sizes: tuple[int, ...] = (400, 300)
    # SAC (run.py defaults)
    env_steps: int = 10_000_000
    steps_per_epoch: int = 500_000
    max_episode_len: int = 2_000
    test_episodes: int = 225
    gamma: float = 0.99
    ent_coef: float = 0.005
    lr: float = 1e-3
    batch_size: int = 1_000
    train_freq: int = 10
    buffer_size: int = 2_000_000
    start_steps: int = 10_000
    # ALP-GMM (alp_gmm.py defaults, -rnd 10)
    fit_rate: int = 250
    k_max: int = 10
    alpgmm_random_ratio: float = 0.1
    # AGAIN (run.py defaults: k 3, pre-test 1 epoch; AGAIN's own post-pre-test uniform ratio 0.02) and classroom
    k: int = 3
    pretrain_epochs: int = 1
    r_list_len: int = 10
    tol_ratio: float = 1.0
    again_random_ratio: float = 0.02
    alp_threshold: float = 0.2
    classroom_size: int = 128  # not fixed by the official code: as the toy paper setting
    test_students: int = 64  # the project page: 64 new students

    def __post_init__(self) -> None:
        check_bounds(self.task_lower, self.task_upper)
        if len(self.task_lower) != 2:
            raise ValueError(f"task_lower must be (gap_pos, obstacle_spacing), got {self.task_lower}")
        check_range("gap_pos lower bound", self.task_lower[0], 2.5, 10.0)  # the environment asserts 2.5..10
        check_range("gap_pos upper bound", self.task_upper[0], 2.5, 10.0)
        check_range("obstacle_spacing lower bound", self.task_lower[1], 0.0, self.task_upper[1])
        if self.reward_range[0] >= self.reward_range[1]:
            raise ValueError(f"reward_range must be (low, high) with low < high, got {self.reward_range}")
        check_range("mastered_return", self.mastered_return, *self.reward_range)
        if not self.bodies or any(b not in BODIES for b in self.bodies):
            raise ValueError(f"bodies must be a non-empty subset of {tuple(BODIES)}, got {self.bodies}")
        check_range("leg_size lower bound", self.leg_size[0], 0.0, self.leg_size[1], low_inclusive=False)
        for name in (
            "env_steps",
            "steps_per_epoch",
            "max_episode_len",
            "batch_size",
            "train_freq",
            "buffer_size",
            "fit_rate",
            "k",
            "r_list_len",
            "classroom_size",
            "test_students",
        ):
            check_positive_int(name, getattr(self, name))
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive layer widths, got {self.hidden_sizes}")
        if self.env_steps % self.steps_per_epoch or self.steps_per_epoch < self.max_episode_len:
            raise ValueError("env_steps must be a multiple of steps_per_epoch, which must be >= max_episode_len")
        side = round(self.test_episodes**0.5)
        if side < 2 or side * side != self.test_episodes:
            raise ValueError(
                f"test_episodes must be a square >= 4 (a grid of the task space), got {self.test_episodes}"
            )
        check_range("pretrain_epochs", self.pretrain_epochs, 1, self.epochs - 1)
        check_range("k_max", self.k_max, 2, self.fit_rate)
        check_range("start_steps", self.start_steps, 0, self.env_steps)
        for name in ("gamma", "alpgmm_random_ratio", "again_random_ratio", "alp_threshold"):
            check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("ent_coef", "lr", "tol_ratio"):
            check_positive(name, getattr(self, name))

    @property
    def epochs(self) -> int:
        """Test points of a student (one per ``steps_per_epoch``): 20 officially."""
        return self.env_steps // self.steps_per_epoch


def run_parkour(config: ParkourConfig, seed: int) -> None:
    """Refuses: the parkour setting needs the Box2D Walker-Climber environment and a SAC student (module doc)."""
    raise NotImplementedError(
        f"the parkour setting (seed {seed}) is configured but not runnable here: it needs the Box2D "
        f"Walker-Climber environment {config.env_id!r} of flowersteam/meta-acl (teachDRL.gym_flowers, with gym<0.26 "
        f"and box2d-py) and a SAC student ({config.hidden_sizes} network, {config.env_steps:,} steps per student, "
        f"{config.classroom_size} classroom + {config.test_students} test students); neither is shipped with "
        "paperzoo-again. The toy setting of the paper scale runs (PaperConfig(setting='toy'))."
    )
