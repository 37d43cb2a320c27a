"""First-order MAML-VPG: advantages and the policy gradient by hand, the inner step θ' = θ + β g, the
first-order meta-step's direction, the no-adaptation limit, determinism, and a tiny meta-training run."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch as th

from paperzoo.metaworld import MAMLConfig, MAMLVPGAgent, Timestep, make_ml1_envs, train_maml
from paperzoo.metaworld.agents.maml_vpg import advantages, vpg_gradient


def test_advantages_by_hand():
    # Reward-to-go with γ = 0.5: episode 0 [1, 0] -> [1, 0]; episode 1 [0, 1] -> [0.5, 1]; mean 0.625
    adv = advantages(np.array([[1.0, 0.0], [0.0, 1.0]]), gamma=0.5)
    raw = np.array([[0.375, -0.625], [-0.125, 0.375]])
    np.testing.assert_allclose(adv, raw / np.sqrt(np.mean(raw**2)), rtol=1e-6)
    # One episode: the whitened return-to-go is not zero (a per-step baseline would zero it).
    assert np.abs(advantages(np.array([[1.0, 2.0, 0.0]]), gamma=0.9)).sum() > 0


def test_vpg_gradient_of_log_std_by_hand():
    agent = MAMLVPGAgent(1, obs_dim=3, action_dim=2, seed=0)
    params = {k: v.detach().requires_grad_(True) for k, v in agent.policy.named_parameters()}
    gen = th.Generator().manual_seed(0)
    obs, actions, adv = th.randn(5, 3, generator=gen), th.randn(5, 2, generator=gen), th.randn(5, generator=gen)
    grad = vpg_gradient(agent.policy, params, obs, actions, adv)
    mean, log_std = agent.policy(obs)
    sigma2 = (2 * log_std).exp()
    # ∂/∂log σ_j log N(a; μ, σ²) = (a_j - μ_j)² / σ_j² - 1
    expected = (((actions - mean) ** 2 / sigma2 - 1) * adv[:, None]).mean(0)
    assert th.allclose(grad["log_std"], expected.detach(), atol=1e-6)


def _tiny_envs(seed=0):
    return make_ml1_envs("reach-v3", seed, split="train", meta_batch_size=2, max_episode_steps=10)


def _collect(agent, envs, episodes=1):
    obs, _ = envs.reset()
    for _ in range(10 * episodes):
        actions, aux = agent.adapt_action(obs)
        nxt, rewards, term, trunc, _ = envs.step(actions)
        agent.step(Timestep(obs, actions, rewards, term, trunc, aux))
        obs = nxt


def test_inner_step_is_theta_plus_beta_g():
    envs = _tiny_envs()
    envs.call("sample_tasks")
    agent = MAMLVPGAgent(2, config=MAMLConfig(inner_lr=0.1), seed=1)
    _collect(agent, envs)
    expected = []
    for i in range(2):
        obs, act, adv = agent._episodes(i)
        theta = {k: v.detach().requires_grad_(True) for k, v in agent.policy.named_parameters()}
        g = vpg_gradient(agent.policy, theta, obs, act, adv)
        expected.append({k: theta[k].detach() + 0.1 * g[k] for k in theta})
    agent.adapt()
    for got, want in zip(agent.adapted, expected, strict=True):
        for k in want:
            assert th.allclose(got[k], want[k], atol=1e-7)
    assert not th.equal(agent.adapted[0]["log_std"], agent.adapted[1]["log_std"])  # per-task adaptation
    agent.init()
    for k, v in agent.policy.named_parameters():
        assert th.equal(agent.adapted[0][k], v.detach())


def test_no_adaptation_limit():
    envs = _tiny_envs()
    envs.call("sample_tasks")
    agent = MAMLVPGAgent(2, seed=1)
    agent.adapt_enabled = False
    _collect(agent, envs)
    agent.adapt()
    obs = np.random.default_rng(0).normal(size=(2, 39))
    with th.no_grad():
        mean, _ = agent.policy(th.as_tensor(obs, dtype=th.float32))
    np.testing.assert_allclose(agent.eval_action(obs), mean.numpy(), rtol=1e-4, atol=1e-6)


def test_first_order_meta_step_ascends_the_post_adaptation_gradient():
    envs = _tiny_envs()
    envs.call("sample_tasks")
    agent = MAMLVPGAgent(2, config=MAMLConfig(meta_lr=1e-3), seed=2)
    _collect(agent, envs)
    agent.adapt()
    _collect(agent, envs)
    grads = agent._gradients()
    mean_g = th.stack([g["log_std"] for g in grads]).mean(0)
    before = agent.policy.log_std.detach().clone()
    agent.meta_update()
    step = agent.policy.log_std.detach() - before
    # Adam's first step is lr * sign(g) (ascent on the mean post-adaptation gradient at θ'_i).
    assert th.allclose(step, 1e-3 * th.sign(mean_g), atol=1e-6)


def test_meta_training_is_deterministic():
    def run():
        agent = MAMLVPGAgent(2, seed=3)
        curve = train_maml(agent, _tiny_envs(), iterations=2)
        return curve, [p.detach().clone() for p in agent.policy.parameters()]

    (curve_a, params_a), (curve_b, params_b) = run(), run()
    assert len(curve_a) == 2 and curve_a == curve_b
    assert all(th.equal(a, b) for a, b in zip(params_a, params_b, strict=True))
    fresh = MAMLVPGAgent(2, seed=3)
    assert not all(th.equal(a, b.detach()) for a, b in zip(params_a, fresh.policy.parameters(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": ()}, "hidden"),
        ({"inner_lr": 0.0}, "inner_lr"),
        ({"meta_lr": -1.0}, "meta_lr"),
        ({"gamma": 2.0}, "gamma"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MAMLConfig(**kwargs)


def test_bad_training_arguments():
    two_envs = SimpleNamespace(num_envs=2)
    with pytest.raises(ValueError, match="train_envs"):
        train_maml(MAMLVPGAgent(3), two_envs, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        train_maml(MAMLVPGAgent(2), two_envs, iterations=0)
    with pytest.raises(ValueError, match="num_envs"):
        MAMLVPGAgent(0)
