"""Tests of constrained RLHF: the multipliers against plain SGD, the mixing formulas, PPO pieces, PPO-SAT, the
Nelder-Mead driver, the synthetic evaluation score, determinism, bad arguments (the paper scale: test_paper.py)."""

import dataclasses

import numpy as np
import pytest
import torch

from paperzoo.constrained_rlhf.bench import BENCHMARK, FullConfig, SmokeConfig
from paperzoo.constrained_rlhf.dialogue import (
    Dialogue,
    WordTokenizer,
    meteor_like,
    repetition,
)
from paperzoo.constrained_rlhf.experiment import ArmRun, proxy_points
from paperzoo.constrained_rlhf.lagrange import LagrangeMultipliers, mixed_advantage, normalise
from paperzoo.constrained_rlhf.nelder_mead import nelder_mead
from paperzoo.constrained_rlhf.ppo import Mixing, PPOConfig, RewardModels, clipped_surrogate, stream_rewards
from paperzoo.shared.torch.lm import gae


# ------------------------------------------------------------------------------------------ multipliers
@pytest.mark.parametrize("kind", ["lower", "upper", "equality"])
def test_multiplier_trajectory_equals_plain_sgd(kind):
    thresholds = [0.3, 0.6]
    stream = torch.Generator().manual_seed(0)
    returns = [torch.rand(2, generator=stream) for _ in range(12)]
    mult = LagrangeMultipliers(thresholds, kind, lr=0.1, momentum=0.1, max_grad_norm=0.5)
    raw = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([raw], lr=0.1, momentum=0.1)
    squash = torch.tanh if kind == "equality" else torch.sigmoid
    sign = -1.0 if kind == "upper" else 1.0
    for g in returns:
        mult.step(g)
        opt.zero_grad()
        (squash(raw) * sign * (g - torch.tensor(thresholds))).sum().backward()
        torch.nn.utils.clip_grad_norm_([raw], 0.5)
        opt.step()
        torch.testing.assert_close(mult.value, squash(raw.detach()), rtol=0, atol=1e-7)


@pytest.mark.parametrize(("kind", "above_moves"), [("equality", -1), ("lower", -1), ("upper", 1)])
def test_multiplier_moves_the_documented_way(kind, above_moves):
    for offset in (0.2, -0.2):
        mult = LagrangeMultipliers([0.5], kind)
        start = float(mult.value[0])
        for _ in range(3):
            mult.step(torch.tensor([0.5 + offset]))
        assert np.sign(float(mult.value[0]) - start) == above_moves * np.sign(offset)


def test_equality_multiplier_can_go_negative_and_inequality_cannot():
    eq, low = LagrangeMultipliers([0.5], "equality"), LagrangeMultipliers([0.5], "lower")
    for _ in range(50):
        eq.step(torch.tensor([0.9]))
        low.step(torch.tensor([0.9]))
    assert float(eq.value[0]) < -0.3
    assert 0.0 < float(low.value[0]) < 0.5


# ------------------------------------------------------------------------------------------ mixing
def _streams(n=3, shape=(4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g)


def test_task_mixing_limits():
    adv = _streams(2)
    torch.testing.assert_close(mixed_advantage(adv, torch.tensor([0.0]), "task"), adv[0])
    torch.testing.assert_close(mixed_advantage(adv, torch.tensor([1.0]), "task"), adv[1])
    torch.testing.assert_close(mixed_advantage(adv, torch.tensor([0.3]), "task"), 0.7 * adv[0] + 0.3 * adv[1])


def test_kl_and_all_mixing_formulas():
    comps, kl, lam = _streams(2), _streams(1, seed=1)[0], torch.tensor([0.2, -0.5])
    expected_kl = (2 - lam.sum()) * kl + lam[0] * comps[0] + lam[1] * comps[1]
    torch.testing.assert_close(mixed_advantage(comps, lam, "kl", kl=kl), expected_kl)
    lam = torch.tensor([0.2, 0.7])
    expected_all = (2 - lam.sum()) * (comps[0] + comps[1]) - lam[0] * comps[0] - lam[1] * comps[1]
    torch.testing.assert_close(mixed_advantage(comps, lam, "all"), expected_all)


def test_mixing_is_detached_from_the_multipliers():
    lam = torch.tensor([0.2, 0.4], requires_grad=True)
    out = mixed_advantage(_streams(2), lam, "all")
    assert not out.requires_grad


def test_normalise_per_stream_over_the_mask():
    adv = _streams(3) * torch.tensor([1.0, 5.0, 0.1])[:, None, None] + 2.0
    mask = torch.ones(4, 5)
    mask[:, :2] = 0
    out = normalise(adv, mask)
    kept = out[:, mask.bool()]
    torch.testing.assert_close(kept.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(kept.std(1), torch.ones(3), atol=1e-4, rtol=0)
    assert float(out[:, ~mask.bool()].abs().max()) == 0.0


# ------------------------------------------------------------------------------------------ PPO pieces
def test_gae_hand_computed_three_step_episode():
    rewards = torch.tensor([[[0.0, 0.0, 1.0]], [[-0.1, -0.2, -0.3]]])
    values = torch.tensor([[[0.5, 0.6, 0.7]], [[0.0, -0.1, -0.2]]])
    adv, ret = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=0.9)
    for k in range(2):
        r, v = rewards[k, 0], values[k, 0]
        d2 = r[2] - v[2]
        d1 = r[1] + v[2] - v[1]
        d0 = r[0] + v[1] - v[0]
        a2, a1 = d2, d1 + 0.9 * d2
        expected = torch.stack([d0 + 0.9 * a1, a1, a2])
        torch.testing.assert_close(adv[k, 0], expected)
        torch.testing.assert_close(ret[k, 0], expected + v)


def test_clipped_surrogate():
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5])
    out = clipped_surrogate(ratio, adv, 0.2)
    torch.testing.assert_close(out, torch.tensor([1.2, 0.5, -1.5, -0.8]))


def test_sat_clips_exactly_at_theta_and_all_adds_kl():
    comps = torch.tensor([[0.2, 0.9], [0.8, 0.1]])
    action = torch.tensor([[0, 1, 1], [0, 1, 0]])
    kl = torch.full((2, 3), -0.01) * action
    sat = stream_rewards(comps, action, kl, Mixing("sat", thresholds=(0.5, 0.5)))
    assert torch.equal(sat[:2].sum(-1), torch.tensor([[0.2, 0.5], [0.5, 0.1]]))
    fixed = stream_rewards(comps, action, kl, Mixing("fixed"))
    assert torch.equal(fixed[:2].sum(-1), comps)
    every = stream_rewards(comps, action, kl, Mixing("all", thresholds=(0.5, 0.5)))
    torch.testing.assert_close(every[:2], fixed[:2] + kl)
    torch.testing.assert_close(every[2], kl)


@pytest.fixture(scope="module")
def tiny_run():
    config = dataclasses.replace(SmokeConfig(), cache_dir=None, iterations=2, eval_every=1, eval_dialogues=8)
    return config


def test_ratio_is_one_before_the_first_update_and_runs_are_deterministic(tiny_run):
    curves = []
    for _ in range(2):
        run = ArmRun(tiny_run, 0, Mixing("kl", thresholds=(0.3, 0.5)), "equality")
        batch, _ = run.learner.rollout(run.test)
        logits, _ = run.learner.policy(batch.ids, batch.mask)
        logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch.ids[:, 1:, None]).squeeze(-1)
        ratio = torch.exp(logp - batch.old_logprobs)[batch.action_mask.bool()]
        torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
        run.train()
        curves.append(run.record())
    assert curves[0] == curves[1]
    assert curves[0]["lambda_meteor"][-1] != 0.0


@pytest.mark.parametrize(("theta", "sign"), [(5.0, 1.0), (0.0, -1.0)])
def test_learner_steps_equality_multipliers_towards_theta_and_mixes_with_them(tiny_run, theta, sign):
    run = ArmRun(tiny_run, 0, Mixing("kl", thresholds=(theta, theta)), "equality")
    run.step()  # every G_i (in (0, 1]) is below theta = 5 (above 0): each lambda rises (falls) from 0
    lam = run.learner.multipliers.value
    assert torch.all(torch.sign(lam) == sign)
    adv = _streams(3, shape=(4, 5), seed=2)
    mask = torch.ones(4, 5)
    mask[:, :2] = 0
    norm = normalise(adv, mask)
    expected = (2 - lam.sum()) * norm[2] + lam[0] * norm[0] + lam[1] * norm[1]
    torch.testing.assert_close(run.learner.advantage(adv, mask), expected)


# ------------------------------------------------------------------------------------------ NM, E, theta
def test_nelder_mead_finds_a_quadratic_minimum():
    def f(x):
        return float((x[0] - 0.3) ** 2 + 2 * (x[1] + 0.2) ** 2)

    simplex = np.array([[1.0, 1.0], [1.5, 0.8], [0.9, 1.6]])
    best = nelder_mead(f, simplex, tol=1e-10, max_iters=500)[0]
    np.testing.assert_allclose(best, [0.3, -0.2], atol=1e-2)  # the cache merges points within 5e-3


def test_evaluation_score_is_non_monotone_in_the_meteor_proxy():
    rm = RewardModels(WordTokenizer(), classifier=None, base_lm=None)
    d = Dialogue("a : what about the pizza ? b :", "pizza", 0, "the pizza was really good")
    replies = [
        "do you like the soup ?".split(),  # wrong act, wrong noun
        "i think the pizza is good".split(),  # right act, another template
        "i think the pizza is good the pizza was really good".split(),  # rambling: two templates
    ]
    meteor = [meteor_like(r, d.reference.split()) for r in replies]
    e = rm.evaluation(replies, [d] * 3, torch.zeros(3)).tolist()  # same fluency: E's overlap and repetition
    assert meteor[0] < meteor[1] < meteor[2]
    assert e[0] < e[1] and e[2] < e[1]
    assert repetition("a b a".split()) == pytest.approx(1 / 3)


def test_proxy_points_pick_the_smoothed_peak():
    up = {"E": [0.1, 0.2, 0.5, 0.52, 0.3, 0.2], "V_meteor": [0, 1, 2, 3, 4, 5], "V_intent": [0, 0, 1, 1, 2, 2]}
    flat = {"E": [0.1] * 6, "V_meteor": [9] * 6, "V_intent": [9] * 6}
    theta, run, idx = proxy_points([flat, up])
    assert (run, idx) == (1, 3)
    np.testing.assert_allclose(theta, [3.0, 4 / 3])


# ------------------------------------------------------------------------------------------ errors, scales
def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="kind"):
        LagrangeMultipliers([0.5], "bogus")
    with pytest.raises(ValueError, match="lr"):
        LagrangeMultipliers([0.5], lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        LagrangeMultipliers([0.5], momentum=1.0)
    with pytest.raises(ValueError, match="thresholds"):
        LagrangeMultipliers([])
    with pytest.raises(ValueError, match="thresholds"):
        LagrangeMultipliers([0.5, 0.5]).set_thresholds([0.1])
    with pytest.raises(ValueError, match="thresholds"):
        Mixing("kl", thresholds=(0.5,))
    with pytest.raises(ValueError, match="objective"):
        mixed_advantage(_streams(2), torch.zeros(2), "bogus")
    with pytest.raises(ValueError, match="mode"):
        Mixing("bogus")
    with pytest.raises(ValueError, match="lr"):
        PPOConfig(lr=-1.0)
    with pytest.raises(ValueError, match="iterations"):
        FullConfig(iterations=15, eval_every=10)


def test_declared_scales_validate():
    assert set(BENCHMARK.scales) == {"smoke", "full", "paper"}
    assert len(BENCHMARK.seeds["full"]) >= 3
