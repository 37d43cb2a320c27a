"""The paperzoo benchmark of Meta-World: a declaration (configs, claims, metric specs, ``BENCHMARK``).

- smoke (seconds): the MT protocol on MT1 reach-v3, 10 episodes: the package's scripted expert succeeds (>= 0.9),
  the uniform random policy does not (<= 0.1), and the per-task keys are the env's task names.
- full (up to 25 min, 2 CPU cores): on 3 tasks that chance does not solve, single-task SAC (N steps each) vs one
  MT-SAC on all 3 (3N steps, the same per-task samples and updates), MT protocol, 50 episodes per task; first-order
  MAML-VPG meta-trained on those 3 tasks and meta-tested on them and on 2 held-out tasks (ML10-style), and on ML1
  reach (adapting vs not); the scripted experts and the random policy on every task as guards.
- paper: the paper's setting as a validated config (MT10 with the official MT-SAC sizes, ML10's split, the
  package's meta-test defaults), for a user with time and cores; run by the full scale's runner.

The runners live in ``experiment.py``, the figures in ``plots.py``, the speed figures in ``perf.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from paperzoo.metaworld import experiment, perf, plots
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, Within
from paperzoo.shared.validate import check_non_negative, check_positive_int

MT10_TASKS = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)
ML10_TRAIN = (*MT10_TASKS[:2], "pick-place-v3", "door-open-v3", "drawer-close-v3", "button-press-topdown-v3")
ML10_TRAIN += ("peg-insert-side-v3", "window-open-v3", "sweep-v3", "basketball-v3")
ML10_TEST = ("drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3")


# ---------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class SmokeConfig:
    """Scripted expert vs random policy on MT1 ``task`` under the MT protocol."""

    task: str = "reach-v3"
    episodes: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import TASK_NAMES

        if self.task not in TASK_NAMES:
            raise ValueError(f"task must be a v3 task name, got {self.task!r}")
        check_positive_int("episodes", self.episodes)


@dataclass(frozen=True)
class MetaConfig:
    """First-order MAML-VPG meta-trained on ``train_tasks`` and meta-tested (``iterations=0``: skipped).

    No ``test_tasks``: ML1, the held-out variations of the one train task. With ``test_tasks``: an ML10-style
    held-out-task split (meta-test on the train tasks and on the held-out tasks). ``envs_per_task`` sub-envs per
    task share its 50 variations (ML1: the meta-batch size).
    """

    train_tasks: tuple[str, ...] = ("reach-v3",)
    test_tasks: tuple[str, ...] = ()
    iterations: int = 0
    envs_per_task: int = 10
    episodes_per_task: int = 1
    max_episode_steps: int = 150
    num_evals: int = 2
    adaptation_episodes: int = 2
    evaluation_episodes: int = 3
    hidden: tuple[int, ...] = (64, 64)

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import _check_task_names

        _check_task_names(self.train_tasks)
        if self.test_tasks:
            _check_task_names(self.test_tasks)
            if shared := sorted(set(self.train_tasks) & set(self.test_tasks)):
                raise ValueError(f"test_tasks must be held out, got {shared} among the train_tasks")
        elif len(self.train_tasks) != 1:
            raise ValueError(f"ML1 (no test_tasks) takes exactly one train task, got {list(self.train_tasks)}")
        check_non_negative("iterations", self.iterations)
        for name in (
            "envs_per_task",
            "episodes_per_task",
            "max_episode_steps",
            "num_evals",
            "adaptation_episodes",
            "evaluation_episodes",
        ):
            check_positive_int(name, getattr(self, name))


def _default_sac():
    from paperzoo.metaworld.agents.sac import SACConfig

    # 2 x 64 hidden units, batch 128, one update per environment step: what 3 seeds x 6 runs afford on 2 cores.
    return SACConfig(net_arch=(64, 64), batch_size=128, learning_starts=1000)


# Chosen (README: the measurements) because the uniform random policy solves each in < 10 % of its episodes and
# single-task SAC starts to solve each within 20k steps; held out, as in ML10, one sibling of a train task
# (door-unlock: door-lock's lock turned the other way) and one task of another kind, both also chance-free.
MT_TASKS = ("reach-v3", "reach-wall-v3", "door-lock-v3")
HELD_OUT_TASKS = ("door-unlock-v3", "window-close-v3")


@dataclass(frozen=True)
class FullConfig:
    """Single-task SAC per task vs one MT-SAC on all tasks at equal per-task samples and updates; MAML-VPG on a
    held-out-task split and on ML1."""

    tasks: tuple[str, ...] = MT_TASKS
    steps_per_task: int = 20_000
    train_horizon: int | None = None  # training episode length; None: the package's 500 (evaluation: always 500)
    sac: Any = field(default_factory=_default_sac)
    eval_episodes: int = 50
    workers: int = 2
    ml: MetaConfig = field(
        default_factory=lambda: MetaConfig(
            train_tasks=MT_TASKS, test_tasks=HELD_OUT_TASKS, iterations=40, envs_per_task=2, num_evals=5
        )
    )
    ml1: MetaConfig = field(default_factory=lambda: MetaConfig(iterations=20, num_evals=5))
    device: str = "cpu"

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import _check_task_names

        _check_task_names(self.tasks)
        if len(self.tasks) < 2:
            raise ValueError(f"tasks must name at least 2 tasks (single vs multi-task), got {list(self.tasks)}")
        check_positive_int("steps_per_task", self.steps_per_task)
        if self.train_horizon is not None:
            check_positive_int("train_horizon", self.train_horizon)
        check_positive_int("eval_episodes", self.eval_episodes)
        check_positive_int("workers", self.workers)


def paper_config() -> FullConfig:
    """The paper's setting: MT10 with MT-SAC at the official sizes (3 x 400 networks, batch 1280, 400 warm-up
    steps per task, 2M steps per task: official ``mtsac_mt10.py``, 20M in all, 500-step episodes); 50 evaluation
    episodes per task; ML10's train/held-out split and ML1 with the package's meta-test defaults (10 repeats,
    10 adaptation episodes, 3 evaluation episodes, 500-step episodes)."""
    from paperzoo.metaworld.agents.sac import SACConfig

    meta = {
        "iterations": 1000,
        "episodes_per_task": 10,
        "max_episode_steps": 500,
        "num_evals": 10,
        "adaptation_episodes": 10,
        "evaluation_episodes": 3,
        "hidden": (256, 256),
    }
    return FullConfig(
        tasks=MT10_TASKS,
        steps_per_task=2_000_000,
        sac=SACConfig(net_arch=(400, 400, 400), batch_size=1280, learning_starts=400),
        eval_episodes=50,
        workers=max(1, min(len(MT10_TASKS) + 1, os.cpu_count() or 1)),
        ml=MetaConfig(train_tasks=ML10_TRAIN, test_tasks=ML10_TEST, envs_per_task=2, **meta),
        ml1=MetaConfig(envs_per_task=10, **meta),
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The protocol's sanity on MT1 ``config.task``: expert >= 0.9, random <= 0.1, keys and episode counts right."""
    counted = tuple(Within(f"{arm}/episodes_counted", config.episodes, 0.0) for arm in ("scripted", "random"))
    return (
        Claim(f"The scripted expert solves MT1 {config.task} (success >= 0.9)", Compare("scripted/success", ">=", 0.9)),
        Claim("A uniform random policy does not (success <= 0.1)", Compare("random/success", "<=", 0.1)),
        Claim(
            "The protocol reports one success rate per env task name, over exactly N episodes",
            Compare("scripted/keys_match_tasks", ">=", 1.0),
            guards=(Compare("random/keys_match_tasks", ">=", 1.0), *counted),
        ),
    )


ABOVE_FLOOR = 0.1  # a learned policy must beat the random policy by 10 points of success
CHANCE = 0.1  # the tasks are ones the random policy solves in < 10 % of its episodes
PLATEAU = 0.1  # single-task training success may still rise by at most 10 points over the last fifth of training
HELD_OUT_GAP = 0.1  # "well below": held-out-task success at least 10 points under train-task success


def mt_resolution(config: FullConfig) -> float:
    """The grain of a mean success over the config's tasks: one evaluation episode of one task."""
    return 1.0 / (config.eval_episodes * len(config.tasks))


def meta_resolution(meta: MetaConfig) -> float:
    """The grain of a meta-test success, a mean over tasks of per-task means over ``num_evals`` repeats of
    ``evaluation_episodes`` episodes: one episode of one repeat of one task (of the split with the most tasks)."""
    n_tasks = max(len(meta.train_tasks), len(meta.test_tasks))
    return 1.0 / (meta.evaluation_episodes * meta.num_evals * n_tasks)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Success falls with more tasks (single-task SAC > MT-SAC), held-out tasks fall well below train tasks, and
    on ML1 adapting beats not adapting; each guarded so that a protocol that cannot answer says inconclusive.

    Paired by seed: in every arm, task j is trained and evaluated on the envs seeded ``seed + j`` (the same 50
    train variations); SAC, MT-SAC and MAML are seeded with the run's seed; the meta-test arms of a split run on
    the same envs. Guards: the tasks are not solved by chance (random < 10 % on every task), the scripted experts
    solve them (protocol sanity), the learners learned (> random + 10 points), the single-task runs plateaued.
    """
    chance = Compare("random/max_success", "<", CHANCE)
    claims = [
        Claim(
            f"Success falls as more tasks are trained together: single-task SAC (1 task per policy) is above one "
            f"MT-SAC policy on {len(config.tasks)} tasks at equal per-task samples (mean success over the tasks)",
            Better("single/mean_success", "mt_sac/mean_success", resolution=mt_resolution(config)),
            guards=(
                chance,
                Compare("scripted/mean_success", ">=", 0.9),
                Compare("single/mean_success", ">", "random/mean_success", margin=ABOVE_FLOOR),
                Compare("single/late_gain", "<=", PLATEAU),
            ),
        )
    ]
    ml = config.ml
    if ml.iterations:
        claims.append(
            Claim(
                f"Meta-RL generalises poorly to held-out tasks: the meta-learned policy's meta-test success on "
                f"{len(ml.test_tasks)} held-out tasks is well below (> {HELD_OUT_GAP:g}) its success on its "
                f"{len(ml.train_tasks)} train tasks",
                Better(
                    "ml_maml/train_tasks_success",
                    "ml_maml/test_tasks_success",
                    margin=HELD_OUT_GAP,
                    resolution=meta_resolution(ml),
                ),
                guards=(
                    chance,
                    Compare("scripted/held_out_success", ">=", 0.9),
                    Compare("ml_maml/train_tasks_success", ">", "ml_random/train_tasks_success", margin=ABOVE_FLOOR),
                ),
            )
        )
    if config.ml1.iterations:
        claims.append(
            Claim(
                "ML1 meta-test: adapting the meta-learned policy (one first-order MAML-VPG inner step) beats not "
                "adapting it",
                Better("ml1_adapted/success", "ml1_unadapted/success", resolution=meta_resolution(config.ml1)),
                guards=(Compare(Max("ml1_*/success"), ">", 0.0),),
            )
        )
    return tuple(claims)


_SMOKE, _FULL = SmokeConfig(), FullConfig()

BENCHMARK = Benchmark(
    slug="metaworld",
    title="Meta-World: A Benchmark and Evaluation for Multi-Task and Meta Reinforcement Learning (CoRL 2019)",
    framework="torch",
    scales={"smoke": _SMOKE, "full": _FULL, "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("*/keys_match_tasks", better="higher", tolerance=0.0),
        MetricSpec("*/episodes_counted", better="higher", tolerance=0.0),
        # Success rates resolve to one evaluation episode (the claims take theirs from the config that was run).
        MetricSpec("scripted/success", better="higher", tolerance=0.1, resolution=1 / _SMOKE.episodes),
        MetricSpec("random/success", better="lower", tolerance=0.1, resolution=1 / _SMOKE.episodes),
        MetricSpec("*/mean_success", better="higher", tolerance=0.15, resolution=mt_resolution(_FULL)),
        MetricSpec("ml_*_tasks_success", better="higher", tolerance=0.2, resolution=meta_resolution(_FULL.ml)),
        MetricSpec("ml1_*/success", better="higher", tolerance=0.2, resolution=meta_resolution(_FULL.ml1)),
        MetricSpec("*_success", better="higher", tolerance=0.2, resolution=1 / _FULL.eval_episodes),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="many CPU cores or a GPU and days (MT10: 2M steps per task, 3 x 400 networks, batch 1280; ML10)",
)
