"""The adaptive weight controller: update rule, meta-gradient, target entropy, bad arguments."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch.nn import functional as F

from paperzoo.amft.controller import (
    AdaptiveWeightController,
    functional_objective,
    meta_gradient,
    target_entropy,
    token_entropy,
)
from paperzoo.amft.rl import sft_loss
from paperzoo.amft.task import make_split, sft_batch
from paperzoo.shared.torch.lm import left_pad


def test_official_sign_reproduces_the_update_formula_on_a_scripted_sequence():
    c = AdaptiveWeightController(
        mu0=0.8, meta_objective="val_ce", meta_sign="official", meta_update_freq=1, target_entropy=1.3
    )
    entropies = [0.2, 3.0, 1.3, 0.0, 9.0, 0.5, 2.0, 0.1]
    metas = [250.0, -40.0, 0.0, 900.0, 3.0, -1000.0, 0.0, 5.0]
    mu = 0.8
    for h, m in zip(entropies, metas, strict=True):
        # mu_{t+1} = clip(mu_t + 1e-4 m_t + 5e-4 (H* - H_t), 0.05, 0.95)
        mu = min(max(mu + 1e-4 * m + 5e-4 * (1.3 - h), 0.05), 0.95)
        assert c.update(h, m) == pytest.approx(mu, abs=1e-15)
    assert c.history["meta_term"][0] == pytest.approx(1e-4 * 250.0)
    assert c.history["entropy_term"][0] == pytest.approx(5e-4 * (1.3 - 0.2))


@pytest.mark.parametrize(
    ("objective", "sign", "direction"),
    [("val_ce", "official", 1.0), ("val_ce", "descent", -1.0), ("val_reward", "descent", 1.0)],
)
def test_meta_direction(objective, sign, direction):
    c = AdaptiveWeightController(meta_objective=objective, meta_sign=sign, use_entropy=False)
    assert c.meta_direction == direction
    c.update(0.0, 100.0)
    assert c.mu == pytest.approx(0.5 + direction * 1e-2)


def test_entropy_moves_mu_and_ablations_switch_terms():
    low = AdaptiveWeightController(target_entropy=1.0, use_meta=False)
    high = AdaptiveWeightController(target_entropy=1.0, use_meta=False)
    for _ in range(10):
        low.update(0.5, meta_grad=1e6)
        high.update(1.5, meta_grad=1e6)
    assert low.mu > 0.5 > high.mu and low.history["meta_term"] == [0.0] * 10
    no_entropy = AdaptiveWeightController(use_entropy=False)  # no target needed
    no_entropy.update(5.0, 10.0)
    assert no_entropy.history["entropy_term"] == [0.0] and no_entropy.mu == pytest.approx(0.501)
    assert [AdaptiveWeightController(meta_update_freq=20).is_meta_step(t) for t in (0, 1, 19, 20)] == [
        True,
        False,
        False,
        True,
    ]
    with pytest.raises(ValueError, match="target_entropy"):
        AdaptiveWeightController().update(1.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mu_min": -0.1}, "mu_min"),
        ({"mu_max": 1.5}, "mu_max"),
        ({"mu_min": 0.6, "mu_max": 0.4, "mu0": 0.5}, "mu_min"),
        ({"mu0": 0.99}, "mu0"),
        ({"eta_meta": -1e-4}, "eta_meta"),
        ({"eta_entropy": -1.0}, "eta_entropy"),
        ({"meta_update_freq": 0}, "meta_update_freq"),
        ({"meta_objective": "val_acc"}, "meta_objective"),
        ({"meta_sign": "ascent"}, "meta_sign"),
    ],
)
def test_bad_controller_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaptiveWeightController(**kwargs)


def test_uniform_entropy_is_log_vocab_and_target_entropy_ignores_pads():
    v = 19
    assert token_entropy(torch.zeros(3, v)).tolist() == pytest.approx([math.log(v)] * 3)

    class Fixed(torch.nn.Module):
        """Uniform logits at real tokens, a peaked distribution (low entropy) at pad positions."""

        def forward(self, ids, mask):
            logits = torch.zeros(*ids.shape, v)
            logits[..., 0] = torch.where(mask == 0, 50.0, 0.0)
            return logits, None

    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    batch = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": mask}
    assert target_entropy(Fixed(), [batch]) == pytest.approx(math.log(v))


def test_target_entropy_uses_at_most_max_batches():
    class Count(torch.nn.Module):
        calls = 0

        def forward(self, ids, mask):
            Count.calls += 1
            return torch.zeros(*ids.shape, 5), None

    batch = {"input_ids": torch.zeros(1, 2, dtype=torch.long), "attention_mask": torch.ones(1, 2)}
    target_entropy(Count(), [batch] * 30, max_batches=20)
    assert Count.calls == 20


@pytest.mark.parametrize("mu", [0.1, 0.6])
def test_meta_gradient_matches_central_finite_difference(tok, tiny_policy, mu):
    policy = tiny_policy.double()
    train, other, val = (sft_batch(tok, make_split(3, (1, 2), s)) for s in (1, 2, 3))

    def ce(forward):
        logits, _ = forward(val["input_ids"], val["attention_mask"])
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), val["labels"][:, 1:].flatten(), ignore_index=-100)

    u = functional_objective(policy, ce)
    lr = 0.3
    loss_s, loss_r = sft_loss(policy, train), sft_loss(policy, other)
    m = meta_gradient(policy, loss_s, loss_r, u, mu, lr)
    assert all(p.grad is None for p in policy.parameters()), "g_s, g_r must not leak into .grad"
    params = {n: p for n, p in policy.named_parameters() if p.requires_grad}
    gs = torch.autograd.grad(loss_s, list(params.values()), retain_graph=True, allow_unused=True)
    gr = torch.autograd.grad(loss_r, list(params.values()), allow_unused=True)

    def at(x):
        with torch.no_grad():
            return float(
                u(
                    {
                        n: p - lr * ((1 - x) * (b if b is not None else 0) + x * (a if a is not None else 0))
                        for (n, p), a, b in zip(params.items(), gs, gr, strict=True)
                    }
                )
            )

    h = 1e-5
    fd = (at(mu + h) - at(mu - h)) / (2 * h)
    assert abs(fd) > 1e-6
    assert abs(m - fd) / abs(fd) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_val_reward_meta_gradient_matches_finite_difference_in_float64(seed):
    """The trainer's U_val (REINFORCE surrogate on real validation rollouts), float64 end to end."""
    from paperzoo.amft.experiment import meta_gradient_check

    check = meta_gradient_check(seed)
    assert check["amft/meta_grad_abs"] > 1e-3
    assert check["amft/meta_grad_rel_err"] < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_val_reward_objective_ascends_the_exact_expected_reward(tok, tiny_policy, seed):
    """grad U_val (the trainer's REINFORCE surrogate) points uphill on the exact expected validation reward.

    The reward of :class:`LowFirstDigit` depends on the first generated token only, so J = mean_prompt
    P(first token in 0-4 | prompt) is exact; a surrogate of the wrong sign gives a negative inner product.
    """
    from paperzoo.amft.experiment import LowFirstDigit
    from paperzoo.amft.train import TrainConfig, validation_objective

    policy = tiny_policy.double()
    problems = [LowFirstDigit(p.a, p.b) for p in make_split(64, (1, 2), seed)]
    config = TrainConfig(val_batch=64, max_new_tokens=4)
    gen = torch.Generator().manual_seed(seed)
    u = validation_objective(policy, AdaptiveWeightController(), tok, problems, random.Random(seed), config, gen)
    params = dict(policy.named_parameters())
    grad_u = torch.autograd.grad(u(params), list(params.values()), allow_unused=True)
    ids, mask = left_pad([tok.encode(p.prompt, bos=True) for p in problems], tok.pad_id)
    logits, _ = policy(ids, mask)
    low = [tok.index[d] for d in "01234"]
    exact = torch.softmax(logits[:, -1], -1)[:, low].sum(-1).mean()
    grad_j = torch.autograd.grad(exact, list(params.values()), allow_unused=True)
    dot = sum(float((a * b).sum()) for a, b in zip(grad_u, grad_j, strict=True) if a is not None and b is not None)
    assert dot > 0


def test_target_entropy_over_response_positions():
    """``positions="response"`` averages only where the next token is a labelled (demonstration) token."""
    v = 7

    class Fixed(torch.nn.Module):
        """Uniform logits (entropy log v) at position 1 only, peaked (entropy ~0) elsewhere."""

        def forward(self, ids, mask):
            logits = torch.zeros(*ids.shape, v)
            logits[..., 0] = 60.0
            logits[:, 1, 0] = 0.0
            return logits, None

    batch = {
        "input_ids": torch.zeros(1, 4, dtype=torch.long),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
        "labels": torch.tensor([[-100, -100, 5, 6]]),  # positions 1 and 2 predict the response
    }
    assert target_entropy(Fixed(), [batch], positions="response") == pytest.approx(math.log(v) / 2)
    assert target_entropy(Fixed(), [batch], positions="all") == pytest.approx(math.log(v) / 4)
    with pytest.raises(ValueError, match="positions"):
        target_entropy(Fixed(), [batch], positions="prompt")
