"""The SB3 SAC subclass: M = 1 with MSE is SB3's SAC; per-head targets; the batched ensemble MLP; every loss trains."""

import copy

import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from torch import nn

from paperzoo.ggd_td.losses import LOSSES
from paperzoo.ggd_td.sac import EnsembleMLP, EnsembleSAC

SMALL = {"batch_size": 16, "learning_starts": 64, "device": "cpu", "seed": 0}
ARCH = {"net_arch": [16, 16], "activation_fn": nn.ReLU}


def _env():
    return make_vec_env("Pendulum-v1", n_envs=1, seed=0)


def _load_sb3_critic(ours: EnsembleSAC, ref: SAC) -> None:
    """Copy SB3's twin critics (and targets) into ours: critic c, layer l -> member c of layer l (transposed)."""
    for mine, theirs in ((ours.critic, ref.critic), (ours.critic_target, ref.critic_target)):
        linears = [[m for m in q if isinstance(m, nn.Linear)] for q in theirs.q_networks]
        with th.no_grad():
            for layer, (weight, bias) in enumerate(zip(mine.q_net.weights, mine.q_net.biases, strict=True)):
                for c, per_critic in enumerate(linears):
                    weight[c] = per_critic[layer].weight.T
                    bias[c, 0] = per_critic[layer].bias


def _train(model, steps: int = 3) -> None:
    th.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002  (SB3's replay buffer samples with numpy's global generator)
    model.train(gradient_steps=steps, batch_size=SMALL["batch_size"])


def test_one_head_mse_is_sb3_sac():
    ref = SAC("MlpPolicy", _env(), policy_kwargs=ARCH, **SMALL)
    ours = EnsembleSAC("MlpPolicy", _env(), loss="mse", ensemble_size=1, policy_kwargs=ARCH, **SMALL)
    ours.actor.load_state_dict(ref.actor.state_dict())
    _load_sb3_critic(ours, ref)
    ref.learn(SMALL["learning_starts"])  # fills the replay buffer with random actions, no update yet
    ours.replay_buffer = ref.replay_buffer
    ours.set_logger(configure(None, []))
    for model in (ref, ours):
        _train(model)
    for key in ("train/critic_loss", "train/actor_loss", "train/ent_coef_loss", "train/ent_coef"):
        assert ours.logger.name_to_value[key] == pytest.approx(ref.logger.name_to_value[key], rel=1e-5), key
    for (name, a), b in zip(ref.actor.state_dict().items(), ours.actor.state_dict().values(), strict=True):
        th.testing.assert_close(a, b, msg=name)
    for mine, theirs in ((ours.critic, ref.critic), (ours.critic_target, ref.critic_target)):  # same numbers, laid out
        flat = th.cat([p.detach().ravel() for p in mine.parameters()]).sort().values  # as [C, in, out] vs Linears
        th.testing.assert_close(flat, th.cat([p.detach().ravel() for p in theirs.parameters()]).sort().values)


def test_critic_loss_uses_per_head_twin_min_targets():
    model = EnsembleSAC("MlpPolicy", _env(), loss="mse", ensemble_size=3, policy_kwargs=ARCH, **SMALL)
    model.learn(SMALL["learning_starts"])
    before = copy.deepcopy(model)
    th.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002
    data = before.replay_buffer.sample(SMALL["batch_size"])
    with th.no_grad():
        before.actor.action_log_prob(data.observations)  # the update's first draw: the actor's own actions
        next_actions, next_log_prob = before.actor.action_log_prob(data.next_observations)
        q_next = before.critic_target(data.next_observations, next_actions)[..., 0]  # [C, B, M]
        assert q_next.shape == (2, SMALL["batch_size"], 3)
        alpha = before.log_ent_coef.exp()
        soft_next = q_next.min(dim=0).values - alpha * next_log_prob[:, None]  # [B, M]: twin min per head
        targets = data.rewards + (1 - data.dones) * before.gamma * soft_next
        values = before.critic(data.observations, data.actions)[..., 0]
        expected = 0.5 * ((values - targets) ** 2).mean(dim=1).sum()  # ½ Σ_c Σ_k mean_i δ²
    _train(model, steps=1)
    assert model.logger.name_to_value["train/critic_loss"] == pytest.approx(float(expected), rel=1e-5)


def test_ensemble_mlp_is_separate_mlps():
    mlp = EnsembleMLP(4, 3, 2, [8, 5], nn.Tanh)
    x = th.randn(7, 3)
    out = mlp(x)
    assert out.shape == (4, 7, 2)
    for n in range(4):
        h = x
        for layer, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
            h = h @ w[n] + b[n, 0]
            h = th.tanh(h) if layer < 2 else h
        th.testing.assert_close(out[n], h)
    bound = 1 / np.sqrt(8)
    assert mlp.weights[1].abs().max() <= bound and mlp.weights[1].std() > bound / 3  # nn.Linear's uniform init


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_updates_the_critic_finitely(loss):
    model = EnsembleSAC("MlpPolicy", _env(), loss=loss, policy_kwargs=ARCH, **SMALL)
    before = [p.detach().clone() for p in model.critic.parameters()]
    model.learn(SMALL["learning_starts"] + 4)
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    values = model.critic(*[th.zeros(2, 3), th.zeros(2, 1)])
    assert values.shape == (2, 2, 5, model.value_loss.value_dims)
    after = list(model.critic.parameters())
    assert all(th.isfinite(p).all() and not th.equal(p, q) for p, q in zip(after, before, strict=True))


def test_bad_sac_arguments():
    with pytest.raises(ValueError, match="ensemble_size"):
        EnsembleSAC("MlpPolicy", _env(), loss="iev_ggd", ensemble_size=3, **SMALL)
    with pytest.raises(ValueError, match="loss"):
        EnsembleSAC("MlpPolicy", _env(), loss="huber", **SMALL)
    with pytest.raises(ValueError, match="members"):
        EnsembleMLP(0, 3, 1, [4])
