"""Value gradients of SB3's SAC, the gradient cache, the batched ensemble and its training round."""

import contextlib
import io

import pytest
import torch

from paperzoo.vagram import (
    GradientCache,
    ModelEnsemble,
    ModelTrainConfig,
    SACConfig,
    make_env,
    make_sac,
    sac_values,
    small_model,
    state_gradients,
    train_model,
    vagram_loss,
    value_grad,
)

with contextlib.redirect_stderr(io.StringIO()):
    import stable_baselines3  # noqa: F401


@pytest.fixture(scope="module")
def sac():
    return make_sac(make_env("Pendulum-v1", 2, 0), SACConfig(net_arch=(32, 32)), seed=0)


def _data(n=200, d=5, seed=0):
    """Learnable transitions: s' = s + tanh(s A + a), r = sin(s_0)."""
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, d, generator=gen)
    actions = torch.rand(n, 1, generator=gen) * 2 - 1
    a = torch.randn(d, d, generator=gen)
    return {"obs": obs, "actions": actions, "rewards": obs[:, 0].sin(), "next_obs": obs + torch.tanh(obs @ a + actions)}


def test_state_gradients_match_central_differences_float64():
    torch.manual_seed(0)
    q = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    mu = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Tanh()).double()

    def values(s):  # V_k(s) = Q_k(s, mu(s)) with mu(s) detached
        return q(torch.cat([s, mu(s).detach()], 1)).T

    s = torch.randn(5, 3, dtype=torch.float64)
    g = state_gradients(values, s)
    a = mu(s).detach()
    h = 1e-6
    for j in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[j] = h
        fd = (q(torch.cat([s + step, a], 1)) - q(torch.cat([s - step, a], 1))).T / (2 * h)
        assert torch.allclose(g[..., j], fd, atol=1e-4)


def test_value_grad_of_sb3_sac(sac):
    s = torch.randn(6, 5)
    g = value_grad(sac, s)
    assert g.shape == (4, 6, 5)
    a = sac.actor(s, deterministic=True).detach()
    nets = [(sac.critic, 0), (sac.critic, 1), (sac.critic_target, 0), (sac.critic_target, 1)]
    for k, (net, j) in enumerate(nets):  # Q1, Q2, Q1_target, Q2_target at (s', mu(s')), mu(s') held fixed
        leaf = s.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(net(leaf, a)[j].sum(), leaf)
        assert torch.allclose(g[k], expected, atol=1e-6)
    leaf = s.clone().requires_grad_(True)
    (through_actor,) = torch.autograd.grad(sac.critic(leaf, sac.actor(leaf, deterministic=True))[0].sum(), leaf)
    assert not torch.allclose(g[0], through_actor, atol=1e-6)  # the action is detached
    assert all(p.grad is None for p in (*sac.critic.parameters(), *sac.actor.parameters()))


def test_value_grad_backpropagates_each_critic_once(sac):
    # the four value functions come back as separate tensors: each backward pass runs through its own critic only
    # (a stacked (4, B) output sends zero cotangents through all four critics in each of the four passes)
    calls = []
    nets = [*sac.critic.q_networks, *sac.critic_target.q_networks]
    handles = [net.register_full_backward_hook(lambda *_, k=k: calls.append(k)) for k, net in enumerate(nets)]
    try:
        s = torch.randn(6, 5)
        fast = value_grad(sac, s)
        assert sorted(calls) == [0, 1, 2, 3]
        calls.clear()
        stacked = state_gradients(lambda x: torch.stack(sac_values(sac)(x)), s)
        assert len(calls) == 16
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(fast, stacked)  # the same numbers, bit for bit


def test_gradient_cache_computes_each_index_once_per_round(sac):
    data = _data()
    cache = GradientCache(300, 5, chunk=64)
    values = sac_values(sac)
    idx = torch.tensor([[3, 7, 3], [150, 7, 199]])
    out = cache.lookup(values, data["next_obs"], idx)
    assert out.shape == (4, 2, 3, 5) and cache.computed == 4
    assert torch.allclose(out, value_grad(sac, data["next_obs"][idx.reshape(-1)]).reshape(4, 2, 3, 5), atol=1e-6)
    cache.lookup(values, data["next_obs"], torch.arange(200))
    assert cache.computed == 200
    cache.reset()
    cache.lookup(values, data["next_obs"], torch.tensor([3]))
    assert cache.computed == 201
    with pytest.raises(ValueError, match="next_obs"):
        cache.lookup(values, data["next_obs"][:, :3], idx)


def test_ensemble_is_a_batched_set_of_independent_mlps():
    torch.manual_seed(0)
    model = ModelEnsemble(3, 1, hidden=(8, 8), members=4, elites=2)
    obs, act = torch.randn(10, 3), torch.randn(10, 1)
    model.fit_normalizer(obs, act)
    out = model(obs, act)
    assert out.shape == (4, 10, 4)
    x = (torch.cat([obs, act], 1) - model.input_mean) / model.input_std
    for e in range(4):
        h = x
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            h = h @ w[e] + b[e]
            h = torch.nn.functional.silu(h) if i < 2 else h
        assert torch.allclose(out[e], h, atol=1e-6)
    next_obs, reward = model.sample(obs, act, torch.Generator().manual_seed(0))
    elite_out = out[model.elites]
    picked = [
        next(k for k in range(2) if torch.allclose(next_obs[i], elite_out[k, i, :-1] + obs[i])) for i in range(10)
    ]  # every sample comes from one elite, its reward from the same member
    assert all(torch.isclose(reward[i], elite_out[k, i, -1]) for i, k in enumerate(picked))


def test_bad_ensemble_arguments():
    with pytest.raises(ValueError, match="elites"):
        ModelEnsemble(3, 1, members=3, elites=5)
    with pytest.raises(ValueError, match="hidden"):
        ModelEnsemble(3, 1, hidden=())
    with pytest.raises(ValueError, match="loss"):
        ModelTrainConfig(loss="mle")
    with pytest.raises(ValueError, match="clip_quantile"):
        ModelTrainConfig(clip_quantile=1.2)
    with pytest.raises(ValueError, match="norm_momentum"):
        ModelTrainConfig(norm_momentum=1.0)


def test_training_round_leaves_the_critic_untouched_and_lowers_the_loss(sac):
    data = _data()
    before = [p.detach().clone() for p in sac.critic.parameters()]
    model = small_model(5, 1, width=16)
    cache = GradientCache(200, 5)
    # batches of 64: 2 full minibatches per epoch (weighted at the epoch's start) and a partial one
    config = ModelTrainConfig(loss="vagram", epochs=30, patience=30, lr=3e-3, batch_size=64)
    stats = train_model(model, data, config, torch.Generator().manual_seed(0), sac_values(sac), cache)
    assert all(p.grad is None for p in sac.critic.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, sac.critic.parameters(), strict=True))
    assert stats.grads_computed == 200 and stats.epochs == 30
    fresh = small_model(5, 1, width=16)
    fresh.fit_normalizer(data["obs"], data["actions"])
    target = torch.cat([data["next_obs"] - data["obs"], data["rewards"][:, None]], 1)
    grads = cache.lookup(sac_values(sac), data["next_obs"], torch.arange(200))
    from paperzoo.vagram import vagram_loss

    with torch.no_grad():
        trained = vagram_loss(model(data["obs"], data["actions"]), target, grads)
        untrained = vagram_loss(fresh(data["obs"], data["actions"]), target, grads)
    assert float(trained) < 0.75 * float(untrained)
    with pytest.raises(ValueError, match="values"):
        train_model(model, data, config, torch.Generator())


def test_training_is_deterministic(sac):
    def round_(seed):
        torch.manual_seed(0)
        model = small_model(5, 1, width=16)
        config = ModelTrainConfig(loss="vagram", epochs=3, patience=3)
        train_model(model, _data(), config, torch.Generator().manual_seed(seed), sac_values(sac), GradientCache(200, 5))
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    assert torch.equal(round_(0), round_(0))
    assert not torch.equal(round_(0), round_(1))


def test_vagram_round_fits_the_value_weighted_state_error():
    # linear value functions V_k(s) = c_k . s: constant gradients c_k, dimensions 1 and 3 carry no value
    c = torch.tensor([[3.0, 0.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 0.0, 3.0]])

    def values(s):
        return c @ s.T

    data = _data()
    data["rewards"] = torch.zeros(200)
    target = torch.cat([data["next_obs"] - data["obs"], data["rewards"][:, None]], 1)
    grads = c[:, None].expand(2, 200, 5)

    def state_loss(model):
        with torch.no_grad():
            return float(vagram_loss(model(data["obs"], data["actions"]), target, grads))

    torch.manual_seed(0)
    model = small_model(5, 1, width=16)
    model.fit_normalizer(data["obs"], data["actions"])
    before = state_loss(model)
    # batches of 64: 2 full minibatches per epoch (weighted at the epoch's start) and a partial one
    config = ModelTrainConfig(loss="vagram", epochs=30, patience=30, lr=3e-3, batch_size=64)
    train_model(model, data, config, torch.Generator().manual_seed(0), values, GradientCache(200, 5, n_values=2))
    assert state_loss(model) < 0.7 * before
