"""The MT and meta-test protocols: identical to ``metaworld.evaluation`` on the same envs, seeds and agents;
success counted once per episode over exactly N episodes per task, tasks weighted equally; errors; determinism."""

import json
from typing import ClassVar

import gymnasium as gym
import metaworld
import numpy as np
import pytest
from metaworld import evaluation as mw_eval

from paperzoo.metaworld import RandomAgent, evaluate_meta, evaluate_mt, make_ml1_envs, make_mt_envs, task_names

TASKS = ("reach-v3", "drawer-close-v3", "button-press-topdown-v3")


def assert_mt_equal(ours, theirs):
    mean_success, mean_return, per_task, returns = theirs
    assert ours.mean_success == mean_success
    assert ours.mean_return == mean_return
    assert ours.success_per_task == per_task
    assert ours.returns_per_task == returns


def test_evaluate_mt_equals_the_package(noisy_agent):
    kwargs = {"max_episode_steps": 60}
    envs_a, envs_b = make_mt_envs(TASKS, 2, **kwargs), make_mt_envs(TASKS, 2, **kwargs)
    names = task_names(envs_a)
    ours = evaluate_mt(noisy_agent(names, 0.8, seed=3), envs_a, num_episodes=5)
    theirs = mw_eval.evaluation(noisy_agent(names, 0.8, seed=3), envs_b, num_episodes=5)
    assert_mt_equal(ours, theirs)
    # Not a trivial agreement: some episodes succeed, some fail.
    assert 0.0 < ours.mean_success < 1.0, ours.success_per_task
    # The terminate-on-success setting is restored (training envs keep it off).
    assert not any(envs_a.get_attr("terminate_on_success"))


def test_our_constructor_is_the_packages_custom_mt_envs(noisy_agent):
    ours = make_mt_envs(TASKS[:2], 2, max_episode_steps=40)
    theirs = gym.make_vec(
        "Meta-World/custom-mt-envs",
        vector_strategy="sync",
        envs_list=list(TASKS[:2]),
        seed=2,
        use_one_hot=True,
        max_episode_steps=40,
    )
    obs_a, _ = ours.reset()
    obs_b, _ = theirs.reset()
    np.testing.assert_array_equal(obs_a, obs_b)
    names = task_names(ours)
    a = evaluate_mt(noisy_agent(names, 0.5, seed=1), ours, 3)
    b = evaluate_mt(noisy_agent(names, 0.5, seed=1), theirs, 3)
    assert a.to_dict() == b.to_dict()


def test_evaluate_meta_equals_the_package(noisy_agent):
    def envs():
        return make_ml1_envs("drawer-close-v3", 2, split="test", meta_batch_size=2, max_episode_steps=70)

    envs_a, envs_b = envs(), envs()
    names = task_names(envs_a)
    agent_a, agent_b = noisy_agent(names, 1.0, seed=4), noisy_agent(names, 1.0, seed=4)
    kw = {"num_evals": 2, "adaptation_steps": 2, "adaptation_episodes": 1, "evaluation_episodes": 2}
    ours = evaluate_meta(agent_a, envs_a, **kw)
    mean_success, mean_return, per_task = mw_eval.metalearning_evaluation(agent_b, envs_b, **kw)
    assert ours.mean_success == mean_success
    assert ours.mean_return == mean_return
    assert ours.success_per_task == per_task
    assert agent_a.calls == agent_b.calls
    assert agent_a.calls["init"] == 2 and agent_a.calls["adapt"] == 2 * 2
    assert 0.0 < ours.mean_success < 1.0


class FakeVecEnv(gym.vector.VectorEnv):
    """Sub-env i runs episodes of ``lengths[i]`` steps; episode e of sub-env i ends in success
    ``outcomes[i][e % len]``; every intermediate step reports success 1 (which must never be counted); each step's
    reward is e + 1, so episode e's return is lengths[i] * (e + 1)."""

    metadata: ClassVar[dict] = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, classes, lengths, outcomes):
        self.num_envs = len(classes)
        self.classes, self.lengths, self.outcomes = list(classes), np.array(lengths), outcomes
        self.terminate_on_success = False
        self.reset()

    def get_attr(self, name):
        return {"task_name": tuple(self.classes), "terminate_on_success": (self.terminate_on_success,) * self.num_envs}[
            name
        ]

    def call(self, name, *args):
        assert name == "toggle_terminate_on_success"
        self.terminate_on_success = args[0]
        return (None,) * self.num_envs

    def reset(self, *, seed=None, options=None):
        self.t = np.zeros(self.num_envs, dtype=int)
        self.ep = np.zeros(self.num_envs, dtype=int)
        return np.zeros((self.num_envs, 39)), {}

    def step(self, actions):
        self.t += 1
        done = self.t >= self.lengths
        rewards = (self.ep + 1).astype(float)
        final_success = np.array([o[e % len(o)] for o, e in zip(self.outcomes, self.ep, strict=True)], dtype=float)
        infos = {"success": np.ones(self.num_envs), "_success": np.ones(self.num_envs, dtype=bool)}
        if done.any():
            returns = self.lengths * (self.ep + 1.0)
            infos["final_info"] = {
                "success": np.where(done, final_success, 0.0),
                "_success": done,
                "episode": {"r": np.where(done, returns, 0.0), "_r": done},
            }
        self.ep[done] += 1
        self.t[done] = 0
        return np.zeros((self.num_envs, 39)), rewards, done & (final_success == 1), done & (final_success == 0), infos


def _fake():
    reach, drawer = "SawyerReachEnvV3", "SawyerDrawerCloseEnvV3"
    return FakeVecEnv([reach, reach, drawer], lengths=[1, 2, 3], outcomes=[[1, 0], [1], [0, 1]])


def test_success_counted_once_per_episode_over_exactly_n_episodes_equal_task_weights():
    # Hand count, N = 3. Reach (sub-envs 0 and 1) finishes episodes at steps 1 (s0: success), 2 (s0: fail, then
    # s1: success): its first three are [1, 0, 1] -> 2/3, returns [1, 2, 2]; it keeps finishing more while
    # drawer-close (sub-env 2) finishes at steps 3 (fail), 6 (success), 9 (fail) -> 1/3, returns [3, 6, 9].
    # Intermediate steps report success 1 and are not counted. Tasks weigh equally although reach ran ~12
    # episodes: mean (2/3 + 1/3) / 2 = 0.5.
    result = evaluate_mt(RandomAgent(3), _fake(), num_episodes=3)
    assert result.success_per_task == {"reach-v3": 2 / 3, "drawer-close-v3": 1 / 3}
    assert result.returns_per_task == {"reach-v3": [1.0, 2.0, 2.0], "drawer-close-v3": [3.0, 6.0, 9.0]}
    assert result.mean_success == pytest.approx(0.5, abs=1e-15)
    assert result.mean_return == pytest.approx(23 / 6)
    assert_mt_equal(result, mw_eval.evaluation(RandomAgent(3), _fake(), num_episodes=3))


def test_result_record_is_json():
    result = evaluate_mt(RandomAgent(3), _fake(), num_episodes=2, seed=11)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["schema"].endswith("/mt") and record["seed"] == 11 and record["num_episodes"] == 2
    assert set(record["success_per_task"]) == {"reach-v3", "drawer-close-v3"}


def test_same_seed_same_numbers_different_seed_different():
    def run(env_seed):
        envs = make_mt_envs(["reach-v3"], env_seed, max_episode_steps=30)
        return evaluate_mt(RandomAgent(1, seed=0), envs, 3).returns_per_task

    assert run(2) == run(2)
    assert run(2) != run(0)


@pytest.mark.parametrize("num_episodes", [0, -1, 2.5])
def test_bad_num_episodes(num_episodes):
    with pytest.raises(ValueError, match="num_episodes"):
        evaluate_mt(RandomAgent(3), _fake(), num_episodes=num_episodes)


def test_bad_envs():
    with pytest.raises(ValueError, match="envs"):
        evaluate_mt(RandomAgent(1), metaworld.make_mt_envs("reach-v3", seed=0), 1)
    fake = _fake()
    fake.metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}
    with pytest.raises(ValueError, match="SAME_STEP"):
        evaluate_mt(RandomAgent(3), fake, 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [("num_evals", 0), ("adaptation_episodes", 0), ("adaptation_steps", -1), ("evaluation_episodes", 0)],
)
def test_bad_meta_arguments(name, value):
    with pytest.raises(ValueError, match=name):
        evaluate_meta(None, _fake(), **{name: value})
