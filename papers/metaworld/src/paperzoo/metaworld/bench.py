"""The paperzoo benchmark of Meta-World: a declaration (configs, claims, metric specs, ``BENCHMARK``).

- smoke (seconds): the MT protocol on MT1 reach-v3, 10 episodes: the package's scripted expert succeeds (>= 0.9),
  the uniform random policy does not (<= 0.1), and the per-task keys are the env's task names.
- full (minutes, 2 CPU cores): single-task SAC on reach-v3 and on drawer-close-v3 (N env steps each) against one
  MT-SAC (one-hot task id, shared networks, one temperature per task) on both with 2N steps in all, the same
  per-task samples and updates; MT protocol, 50 episodes per task; the scripted experts and the random policy as
  ceiling and floor; optionally ML1 meta-test of first-order MAML-VPG against its no-adaptation baseline.
- paper: the paper's setting as a validated config (MT10 tasks, 3 x 400 networks, batch 1280, 2M steps per task;
  ML10-style meta-test protocol defaults), for a user with time and cores; run by the full scale's runner.

The runners live in ``experiment.py``, the figures in ``plots.py``, the speed figures in ``perf.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from paperzoo.metaworld import experiment, perf, plots
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse, Within
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
    """ML1 meta-training of first-order MAML-VPG and its meta-test (``iterations=0``: skipped)."""

    task: str = "reach-v3"
    iterations: int = 0
    meta_batch_size: int = 10
    episodes_per_task: int = 1
    max_episode_steps: int = 150
    num_evals: int = 2
    adaptation_episodes: int = 2
    evaluation_episodes: int = 3
    hidden: tuple[int, ...] = (64, 64)

    def __post_init__(self) -> None:
        check_non_negative("iterations", self.iterations)
        for name in (
            "meta_batch_size",
            "episodes_per_task",
            "max_episode_steps",
            "num_evals",
            "adaptation_episodes",
            "evaluation_episodes",
        ):
            check_positive_int(name, getattr(self, name))


def _default_sac():
    from paperzoo.metaworld.agents.sac import SACConfig

    # 2 x 64 hidden units, batch 128, one update per environment step: what 3 seeds x 4 runs afford on 2 cores.
    return SACConfig(net_arch=(64, 64), batch_size=128, learning_starts=1000)


@dataclass(frozen=True)
class FullConfig:
    """Single-task SAC per task vs one MT-SAC on all tasks at equal per-task samples and updates."""

    tasks: tuple[str, ...] = ("reach-v3", "drawer-close-v3")
    steps_per_task: int = 20_000
    sac: Any = field(default_factory=_default_sac)
    eval_episodes: int = 50
    workers: int = 2
    meta: MetaConfig = field(default_factory=lambda: MetaConfig(iterations=20))
    device: str = "cpu"

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import _check_task_names

        _check_task_names(self.tasks)
        if len(self.tasks) < 2:
            raise ValueError(f"tasks must name at least 2 tasks (single vs multi-task), got {list(self.tasks)}")
        check_positive_int("steps_per_task", self.steps_per_task)
        check_positive_int("eval_episodes", self.eval_episodes)
        check_positive_int("workers", self.workers)


def paper_config() -> FullConfig:
    """The paper's MT10 setting: 10 tasks, MT-SAC with 3 x 400 networks, batch 1280 (128 per task), 4000
    warm-up steps (400 per task), 2M steps per task (official ``mtsac_mt10.py``: 20M in all); 50 evaluation
    episodes per task; ML1 meta-test with the package's protocol defaults (10 repeats, 10 adaptation episodes,
    3 evaluation episodes, 500-step episodes)."""
    from paperzoo.metaworld.agents.sac import SACConfig

    return FullConfig(
        tasks=MT10_TASKS,
        steps_per_task=2_000_000,
        sac=SACConfig(net_arch=(400, 400, 400), batch_size=1280, learning_starts=400),
        eval_episodes=50,
        workers=max(1, min(len(MT10_TASKS) + 1, os.cpu_count() or 1)),
        meta=MetaConfig(
            iterations=1000,
            meta_batch_size=10,
            episodes_per_task=10,
            max_episode_steps=500,
            num_evals=10,
            adaptation_episodes=10,
            evaluation_episodes=3,
            hidden=(256, 256),
        ),
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


ABOVE_FLOOR = 0.1  # the single-task policies must beat the random policy by 10 points of success


def mt_resolution(config: FullConfig) -> float:
    """The grain of a mean success over the config's tasks: one evaluation episode of one task."""
    return 1.0 / (config.eval_episodes * len(config.tasks))


def meta_resolution(meta: MetaConfig) -> float:
    """The grain of the ML1 meta-test success (one task): one evaluation episode of one of the repeats."""
    return 1.0 / (meta.evaluation_episodes * meta.num_evals)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """MT-SAC <= single-task SAC (guarded by learnability), the experts' sanity, and the ML1 claim when it ran.

    Paired by seed: in every arm, task j is trained and evaluated on the envs seeded ``seed + j`` (the same 50
    train variations), SAC and MT-SAC are seeded with the run's seed, and the random policy and the scripted
    experts are evaluated on the same envs; the ML1 arms are the same meta-learned policy on the same test envs.
    A mean success over tasks resolves to one evaluation episode of one task, ``1/(episodes x tasks)``; the ML1
    success to ``1/(evaluation_episodes x num_evals)``.
    """
    res = mt_resolution(config)
    learnable = Compare("single/mean_success", ">", "random/mean_success", margin=ABOVE_FLOOR)
    claims = (
        Claim(
            "A shared multi-task policy (MT-SAC, one-hot task id) is no better than single-task policies at equal "
            "per-task samples (mean success over tasks)",
            NoWorse("single/mean_success", "mt_sac/mean_success", resolution=res),
            guards=(learnable,),
        ),
        Claim(
            "Single tasks are learnable: single-task SAC is well above the random policy",
            Better("single/mean_success", "random/mean_success", margin=ABOVE_FLOOR, resolution=res),
        ),
        Claim(
            "The scripted experts solve the tasks (sanity of the protocol, success >= 0.9)",
            NoWorse("scripted/mean_success", 0.9, resolution=res),
        ),
    )
    if config.meta.iterations == 0:  # the ML1 arm is skipped: no claim about it
        return claims
    return (
        *claims,
        Claim(
            "ML1 meta-test: adapting (first-order MAML-VPG) is at least as good as not adapting the meta-learned "
            "policy",
            NoWorse(
                "maml/meta_test_success", "maml_noadapt/meta_test_success", resolution=meta_resolution(config.meta)
            ),
            guards=(Compare(Max("maml*/meta_test_success"), ">", 0.0),),
        ),
    )


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
        MetricSpec("*/meta_test_success", better="higher", tolerance=0.2, resolution=meta_resolution(_FULL.meta)),
        MetricSpec("*_success", better="higher", tolerance=0.2, resolution=1 / _FULL.eval_episodes),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="many CPU cores or a GPU and days (MT10: 2M steps per task, 3 x 400 networks, batch 1280)",
)
