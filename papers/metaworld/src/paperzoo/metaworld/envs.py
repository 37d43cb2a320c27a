"""Seeded constructors of the Meta-World v3 benchmarks: MT1, MT-k task subsets (one-hot task id) and ML1.

Every environment is built by the package's own constructors (``metaworld.make_mt_envs`` /
``metaworld.make_ml_envs`` / the registered ``Meta-World/custom-ml-envs``), so the wrapper stack is exactly the
package's:

    SawyerXYZEnv -> TimeLimit(500) -> AutoTerminateOnSuccess -> [OneHot(task id, k)] -> RecordEpisodeStatistics
    -> RandomTaskSelect (MT: a random one of the task's 50 train variations at every reset)
       or PseudoRandomTaskSelect (ML: the next variation of a shuffled cycle when ``sample_tasks`` is called)

Seeding. Task ``i`` of an MT-k set gets seed ``seed + i``: it fixes the 50 variations (``MT1(name, seed)``
draws them from ``np.random.seed(seed)``), the variation sampled at each reset and the action-space sampler.
The package's registered ``Meta-World/custom-mt-envs`` does the same except that it turns ``seed=0`` into
"unseeded" (``None if not seed``); here seed 0 is a seed like any other.

MuJoCo stepping is deterministic on one thread; with a seed, two constructions give identical episodes.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Sequence
from typing import Literal

import gymnasium as gym
import numpy as np

import metaworld
from metaworld.env_dict import ALL_V3_ENVIRONMENTS
from metaworld.wrappers import OneHotWrapper
from paperzoo.shared.validate import check_one_of, check_positive_int

__all__ = [
    "OBS_DIM",
    "TASK_NAMES",
    "OneHotWrapper",
    "make_ml1_envs",
    "make_ml_envs",
    "make_mt_env_fns",
    "make_mt_envs",
    "task_names",
    "task_variations",
]

TASK_NAMES: tuple[str, ...] = tuple(ALL_V3_ENVIRONMENTS)
"""The 50 v3 task names (``reach-v3``, ...)."""

OBS_DIM = 39
"""Observation size of a v3 task without task id: hand (3) + gripper (1) + two objects (2 x 7), the same 18 of the
previous step, and the goal (3; zeros when the goal is hidden in ML)."""

_CLASS_TO_NAME = {cls.__name__: name for name, cls in ALL_V3_ENVIRONMENTS.items()}


def _check_task_names(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError("task_names must name at least one task, got an empty list")
    for name in names:
        check_one_of("task_names", name, TASK_NAMES)
    if len(set(names)) != len(names):
        raise ValueError(f"task_names must not repeat a task, got {list(names)}")
    return names


def _check_seed(seed: int) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return seed


def make_mt_env_fns(
    task_names: Sequence[str],
    seed: int,
    *,
    one_hot: bool | None = None,
    terminate_on_success: bool = False,
    max_episode_steps: int | None = None,
) -> list[Callable[[], gym.Env]]:
    """One environment constructor per task (for Gymnasium or Stable-Baselines3 vector envs).

    Task ``i`` is ``metaworld.make_mt_envs(name_i, seed=seed + i)``: the MT1 benchmark of that task (50 train
    variations, goal observable), with the one-hot task id e_i of length k = len(task_names) appended to the
    39-dim observation when ``one_hot`` (default: when k > 1, as in MT10/MT50).
    """
    names = _check_task_names(task_names)
    _check_seed(seed)
    if max_episode_steps is not None:
        check_positive_int("max_episode_steps", max_episode_steps)
    one_hot = len(names) > 1 if one_hot is None else bool(one_hot)
    return [
        functools.partial(
            metaworld.make_mt_envs,
            name,
            seed=seed + i,
            num_tasks=len(names),
            env_id=i,
            use_one_hot=one_hot,
            terminate_on_success=terminate_on_success,
            max_episode_steps=max_episode_steps,
        )
        for i, name in enumerate(names)
    ]


def make_mt_envs(
    task_names: Sequence[str],
    seed: int,
    *,
    one_hot: bool | None = None,
    terminate_on_success: bool = False,
    max_episode_steps: int | None = None,
    vector_strategy: Literal["sync", "async"] = "sync",
) -> gym.vector.VectorEnv:
    """The MT-k vector env, one sub-env per task (MT1: ``["reach-v3"]``; MT10's tasks: ``metaworld.MT10``).

    Same-step autoreset, as the package's vector envs (the evaluation reads ``infos["final_info"]``).
    """
    check_one_of("vector_strategy", vector_strategy, ("sync", "async"))
    fns = make_mt_env_fns(
        task_names,
        seed,
        one_hot=one_hot,
        terminate_on_success=terminate_on_success,
        max_episode_steps=max_episode_steps,
    )
    vector_cls = gym.vector.SyncVectorEnv if vector_strategy == "sync" else gym.vector.AsyncVectorEnv
    return vector_cls(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def make_ml1_envs(
    task_name: str,
    seed: int,
    *,
    split: Literal["train", "test"] = "train",
    meta_batch_size: int = 10,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """ML1 meta-train or meta-test envs of one task (goal hidden), from ``metaworld.make_ml_envs_{train,test}``.

    The 50 train and the 50 test variations are drawn with seeds ``seed`` and ``seed + 1`` (``metaworld.ML1``);
    each of the ``meta_batch_size`` sub-envs cycles through its own share of its split's variations (shuffled
    each cycle), so a train env never holds a test variation. Test envs terminate on success.
    """
    check_one_of("task_name", task_name, TASK_NAMES)
    check_one_of("split", split, ("train", "test"))
    check_positive_int("meta_batch_size", meta_batch_size)
    _check_seed(seed)
    if 50 % meta_batch_size:
        raise ValueError(f"meta_batch_size must divide the 50 variations, got {meta_batch_size}")
    maker = metaworld.make_ml_envs_train if split == "train" else metaworld.make_ml_envs_test
    kwargs = (
        {}
        if max_episode_steps is None
        else {"max_episode_steps": check_positive_int("max_episode_steps", max_episode_steps)}
    )
    return maker(task_name, seed=seed, meta_batch_size=meta_batch_size, **kwargs)


def make_ml_envs(
    train_tasks: Sequence[str],
    test_tasks: Sequence[str],
    seed: int,
    *,
    split: Literal["train", "test"] = "train",
    envs_per_task: int = 1,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """An ML10-style held-out-task split at any size: meta-train envs of ``train_tasks`` or meta-test envs of
    ``test_tasks`` (goal hidden), from the package's ``Meta-World/custom-ml-envs`` (``metaworld.CustomML``).

    ``split="train"`` builds only train-task sub-envs and ``split="test"`` only held-out-task sub-envs, so a test
    task can never be sampled in training (the two task lists must be disjoint). Each task has ``envs_per_task``
    sub-envs (dividing the task's 50 variations between them) that cycle through their variations (shuffled each
    cycle) on ``sample_tasks``; the settings are the package's ``make_ml_envs_train`` / ``make_ml_envs_test``
    (pseudo-random task selection; terminate-on-success off in train envs, on in test envs).
    """
    train = _check_task_names(train_tasks)
    test = _check_task_names(test_tasks)
    if set(train) & set(test):
        raise ValueError(f"test_tasks must be held out: {sorted(set(train) & set(test))} are also train_tasks")
    check_one_of("split", split, ("train", "test"))
    check_positive_int("envs_per_task", envs_per_task)
    if 50 % envs_per_task:
        raise ValueError(f"envs_per_task must divide the 50 variations of a task, got {envs_per_task}")
    _check_seed(seed)
    if max_episode_steps is not None:
        check_positive_int("max_episode_steps", max_episode_steps)
    return gym.make_vec(
        "Meta-World/custom-ml-envs",
        vector_strategy="sync",
        train_envs=list(train),
        test_envs=list(test),
        meta_batch_size=envs_per_task * len(train if split == "train" else test),
        seed=seed,
        split=split,
        terminate_on_success=split == "test",
        task_select="pseudorandom",
        max_episode_steps=max_episode_steps,
    )


def task_names(envs: gym.vector.VectorEnv) -> list[str]:
    """The task name (``reach-v3``) of every sub-env, in sub-env order."""
    return [_CLASS_TO_NAME[cls_name] for cls_name in envs.get_attr("task_name")]


def task_variations(envs: gym.vector.VectorEnv) -> list[np.ndarray]:
    """Per sub-env, the variations (rows: the ``rand_vec`` of object/goal positions) its task sampler holds."""
    return [np.stack([pickle.loads(task.data)["rand_vec"] for task in tasks]) for tasks in envs.get_attr("tasks")]
