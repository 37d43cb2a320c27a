"""SAC / MT-SAC on Stable-Baselines3: with one task it is SB3's SAC bit for bit; per-task temperatures with the
right sign; twin-Q min and bootstrapping in the target; Polyak targets with tau; truncation is not termination."""

import numpy as np
import pytest
import torch as th

from paperzoo.metaworld import MTSAC, SACConfig, make_sac
from paperzoo.metaworld.agents.sac import SAC, SB3Agent, soft_td_target
from paperzoo.metaworld.envs import make_mt_env_fns

TINY = SACConfig(net_arch=(16, 16), batch_size=16, learning_starts=40)


def _params(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def test_one_task_is_sb3_sac_bit_for_bit():
    from stable_baselines3.common.vec_env import DummyVecEnv

    kwargs = {
        "learning_starts": 40,
        "batch_size": 16,
        "policy_kwargs": {"net_arch": [16, 16]},
        "seed": 3,
        "device": "cpu",
    }
    models = []
    for cls in (MTSAC, SAC):  # built and trained one after the other: SB3 seeds the global RNGs at construction
        model = cls("MlpPolicy", DummyVecEnv(make_mt_env_fns(["reach-v3"], 0, max_episode_steps=30)), **kwargs)
        model.learn(100)
        models.append(model)
    ours, ref = models
    for a, b in zip(_params(ours), _params(ref), strict=True):
        assert th.equal(a, b)
    assert th.equal(ours.log_ent_coef, ref.log_ent_coef)
    assert ours._n_updates == ref._n_updates == 60


def test_soft_td_target_by_hand():
    rewards = th.tensor([[1.0], [0.5]])
    dones = th.tensor([[0.0], [1.0]])
    next_q = th.tensor([[3.0, 2.0], [7.0, -1.0]])  # twin critics: min is 2 and -1
    next_log_prob = th.tensor([-1.0, 0.5])
    alpha = th.tensor([[0.2], [0.4]])
    y = soft_td_target(rewards, dones, 0.9, next_q, alpha, next_log_prob)
    # y_0 = 1 + 0.9 * (2 - 0.2 * -1) = 2.98; y_1 = 0.5 (terminal: no bootstrap)
    assert th.allclose(y, th.tensor([[2.98], [0.5]]))


def test_truncation_bootstraps():
    model = make_sac(["reach-v3"], 200, 0, SACConfig(learning_starts=1000), max_episode_steps=20)
    model.learn(45)  # two truncated episodes of 20 steps, all random actions (before learning_starts)
    buf = model.replay_buffer
    assert buf.dones[19, 0] == 1 and buf.timeouts[19, 0] == 1  # the episode ended by the time limit...
    assert buf.dones[:19, 0].sum() == 0
    data = buf._get_samples(np.array([19, 18]), env=None)
    assert data.dones.flatten().tolist() == [0.0, 0.0]  # ...and the target bootstraps through it
    # next_obs of the last step is the true final observation, not the reset one.
    assert not np.array_equal(buf.next_observations[19, 0], buf.observations[20, 0])


def test_per_task_temperature_sign_and_isolation():
    model = make_sac(["reach-v3", "drawer-close-v3"], 200, 2, TINY, max_episode_steps=20)
    assert model.num_tasks == 2 and model.log_ent_coef.shape == (2,)
    model.learn(2 * TINY.learning_starts + 2)  # fills the buffer, a few updates
    before = model.log_ent_coef.detach().clone()
    # A near-deterministic policy (log σ = -20 -> entropy far below the target -4): L_α's gradient
    # -(log π + H̄) is negative, so descent raises α -- for the task in the batch only.
    with th.no_grad():
        for p in model.actor.log_std.parameters():
            p.zero_()
        model.actor.log_std.bias.fill_(-20.0)
    buf = model.replay_buffer
    buf.observations[:, 1] = buf.observations[:, 0]  # every sampled row is a task-0 transition
    buf.next_observations[:, 1] = buf.next_observations[:, 0]
    model.ent_coef_optimizer = th.optim.Adam([model.log_ent_coef], lr=3e-4)  # no momentum from earlier steps
    model.train(gradient_steps=1, batch_size=8)
    after = model.log_ent_coef.detach()
    assert after[0] > before[0]
    assert after[1] == before[1]


def test_polyak_target_update():
    model = make_sac(["reach-v3"], 200, 0, TINY, max_episode_steps=20)
    model.learn(TINY.learning_starts + 1)
    target_before = [p.detach().clone() for p in model.critic_target.parameters()]
    model.train(gradient_steps=1, batch_size=8)
    for new_q, old_t, new_t in zip(
        model.critic.parameters(), target_before, model.critic_target.parameters(), strict=True
    ):
        # Q̄ ← τ Q + (1 - τ) Q̄ with τ = 0.005
        assert th.allclose(new_t, 0.005 * new_q + 0.995 * old_t, atol=1e-7)


def test_training_is_deterministic_and_agent_acts_in_bounds():
    def run():
        model = make_sac(["reach-v3", "drawer-close-v3"], 200, 2, TINY, max_episode_steps=20)
        model.learn(2 * TINY.learning_starts + 10)
        return model

    a, b = run(), run()
    for x, y in zip(_params(a), _params(b), strict=True):
        assert th.equal(x, y)
    obs = np.random.default_rng(0).normal(size=(2, 41))
    actions = SB3Agent(a).eval_action(obs)
    assert actions.shape == (2, 4) and np.all(np.abs(actions) <= 1.0)
    np.testing.assert_array_equal(actions, SB3Agent(b).eval_action(obs))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"net_arch": ()}, "net_arch"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"gamma": 1.5}, "gamma"),
        ({"tau": 0.0}, "tau"),
        ({"learning_starts": 0}, "learning_starts"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SACConfig(**kwargs)


def test_multi_task_needs_a_learned_temperature():
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv(make_mt_env_fns(["reach-v3", "drawer-close-v3"], 2))
    with pytest.raises(ValueError, match="ent_coef"):
        MTSAC("MlpPolicy", env, num_tasks=2, ent_coef=0.1)
    with pytest.raises(ValueError, match="num_tasks"):
        MTSAC("MlpPolicy", env, num_tasks=0)
