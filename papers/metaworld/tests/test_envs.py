"""Constructors: one-hot task id (size = number of tasks, index = the sub-env's task), ML1 train/test variations
disjoint, seeding, bad arguments; the scripted and random reference agents."""

import metaworld
import numpy as np
import pytest

from paperzoo.metaworld import (
    RandomAgent,
    ScriptedAgent,
    make_ml1_envs,
    make_ml_envs,
    make_mt_env_fns,
    make_mt_envs,
    random_policy_success,
    task_names,
    task_variations,
)
from paperzoo.metaworld.envs import OBS_DIM


def test_one_hot_task_id():
    tasks = ["reach-v3", "reach-wall-v3", "window-close-v3"]
    envs = make_mt_envs(tasks, 0, max_episode_steps=5)
    assert task_names(envs) == tasks
    assert envs.single_observation_space.shape == (OBS_DIM + 3,)
    obs, _ = envs.reset()
    np.testing.assert_array_equal(obs[:, OBS_DIM:], np.eye(3))
    for _ in range(6):  # across an auto-reset
        obs, *_ = envs.step(np.zeros((3, 4)))
        np.testing.assert_array_equal(obs[:, OBS_DIM:], np.eye(3))


def test_single_task_has_no_task_id_unless_asked():
    assert make_mt_envs(["reach-v3"], 0).single_observation_space.shape == (OBS_DIM,)
    envs = make_mt_envs(["reach-v3"], 0, one_hot=True)
    obs, _ = envs.reset()
    np.testing.assert_array_equal(obs[:, OBS_DIM:], [[1.0]])


def test_task_variations_depend_on_the_seed_only(monkeypatch):
    a, c = (task_variations(make_mt_envs(["reach-v3"], s))[0] for s in (2, 0))
    monkeypatch.setattr(metaworld, "MT1", metaworld.MT1.__wrapped__)  # a fresh draw, not the memoised one of seed 2
    b = task_variations(make_mt_envs(["reach-v3"], 2))[0]
    assert a.shape == (50, 6)  # 50 train variations of (hand/object init, goal)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ml1_train_and_test_variations_are_disjoint():
    train = task_variations(make_ml1_envs("reach-v3", 0, split="train", meta_batch_size=2))
    test = task_variations(make_ml1_envs("reach-v3", 0, split="test", meta_batch_size=2))
    train_rows = {tuple(r) for v in train for r in v}
    test_rows = {tuple(r) for v in test for r in v}
    assert len(train_rows) == len(test_rows) == 50  # every variation held by exactly one sub-env
    assert sum(len(v) for v in train) == 50
    assert not train_rows & test_rows
    # Goal hidden in ML: the last 3 observation entries are zeros.
    envs = make_ml1_envs("reach-v3", 0, split="test", meta_batch_size=2)
    envs.call("sample_tasks")
    obs, _ = envs.reset()
    np.testing.assert_array_equal(obs[:, -3:], 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_names": []}, "task_names"),
        ({"task_names": ["reach-v2"]}, "task_names"),
        ({"task_names": ["reach-v3", "reach-v3"]}, "repeat"),
        ({"task_names": ["reach-v3"], "seed": -1}, "seed"),
        ({"task_names": ["reach-v3"], "max_episode_steps": 0}, "max_episode_steps"),
        ({"task_names": ["reach-v3"], "vector_strategy": "threads"}, "vector_strategy"),
    ],
)
def test_bad_mt_arguments(kwargs, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_mt_envs(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"split": "val"}, "split"), ({"meta_batch_size": 3}, "meta_batch_size"), ({"task_name": "nope"}, "task_name")],
)
def test_bad_ml_arguments(kwargs, match):
    kwargs = {"task_name": "reach-v3", "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_ml1_envs(**kwargs)


def test_scripted_agent_ignores_the_task_id_and_checks_shapes():
    agent = ScriptedAgent(["reach-v3", "drawer-close-v3"])
    envs = make_mt_envs(["reach-v3", "drawer-close-v3"], 2)
    obs, _ = envs.reset()
    np.testing.assert_array_equal(agent.eval_action(obs), agent.eval_action(np.pad(obs[:, :OBS_DIM], ((0, 0), (0, 5)))))
    with pytest.raises(ValueError, match="observations"):
        agent.eval_action(obs[:1])
    with pytest.raises(ValueError, match="task_names"):
        ScriptedAgent(["reach-v1"])


def test_random_agent_is_seeded_and_bounded():
    a, b = RandomAgent(4, seed=1), RandomAgent(4, seed=1)
    x = a.eval_action(None)
    np.testing.assert_array_equal(x, b.eval_action(None))
    assert x.shape == (4, 4) and np.all(np.abs(x) <= 1.0)
    with pytest.raises(ValueError, match="num_envs"):
        RandomAgent(0)


SPLIT = (["reach-v3", "reach-wall-v3"], ["window-close-v3"])


def _variation_tasks(envs):
    return {task.env_name for tasks in envs.get_attr("tasks") for task in tasks}


def test_held_out_split_never_leaks_test_tasks():
    train = make_ml_envs(*SPLIT, 0, split="train", envs_per_task=2, max_episode_steps=5)
    test = make_ml_envs(*SPLIT, 0, split="test", envs_per_task=2, max_episode_steps=5)
    assert task_names(train) == ["reach-v3", "reach-v3", "reach-wall-v3", "reach-wall-v3"]
    assert task_names(test) == ["window-close-v3", "window-close-v3"]
    # Every variation a train sub-env can ever sample belongs to a train task, and vice versa.
    assert _variation_tasks(train) == set(SPLIT[0]) and _variation_tasks(test) == set(SPLIT[1])
    assert sum(len(v) for v in task_variations(train)) == 100 and sum(len(v) for v in task_variations(test)) == 50
    # Across new variations and auto-resets, the train envs stay train tasks, goal hidden.
    for _ in range(3):
        train.call("sample_tasks")
        obs, _ = train.reset()
        np.testing.assert_array_equal(obs[:, -3:], 0.0)
        for _ in range(6):
            train.step(np.zeros((4, 4)))
        assert task_names(train) == task_names(make_ml_envs(*SPLIT, 0, split="train", envs_per_task=2))
    # The package's settings: train envs run to the time limit, test envs terminate on success.
    assert not any(train.get_attr("terminate_on_success")) and all(test.get_attr("terminate_on_success"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_tasks": ["reach-v3"]}, "held out"),
        ({"envs_per_task": 3}, "envs_per_task"),
        ({"split": "val"}, "split"),
        ({"train_tasks": []}, "task_names"),
    ],
)
def test_bad_split_arguments(kwargs, match):
    kwargs = {"train_tasks": SPLIT[0], "test_tasks": SPLIT[1], "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_ml_envs(**kwargs)


def test_random_policy_success_counts_each_episode_once():
    """An independent count on a plain (non-vector) env with the same seeds and action stream: an episode counts
    once if ``info["success"]`` held at any step (it ends there: terminate-on-success), N episodes per task."""
    task, episodes = "drawer-close-v3", 3
    measured = random_policy_success([task], 3, episodes)
    assert list(measured) == [task]
    env = make_mt_env_fns([task], 3)[0]()
    env.get_wrapper_attr("toggle_terminate_on_success")(True)
    rng = np.random.default_rng(3)
    successes = 0
    for _ in range(episodes):
        env.reset()
        hit, over = False, False
        while not over:
            _, _, terminated, truncated, info = env.step(rng.uniform(-1.0, 1.0, size=(1, 4))[0])
            hit |= bool(info["success"])
            over = terminated or truncated
        successes += hit
    assert measured[task] == successes / episodes
    assert 0 < successes < episodes  # chance sometimes closes the drawer: the comparison is not 0 == 0
