"""Losses and rollouts: the mu limits, zero advantages, the PPO ratio, GAE, group baseline, sampling."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paperzoo.amft.model import PolicyWithValue
from paperzoo.amft.rl import RLLossConfig, collect_rollouts, group_advantages, rl_loss, sft_loss
from paperzoo.amft.task import ID_DIGITS, make_split, sft_batch
from paperzoo.shared.torch.lm import left_pad, sample, token_logprobs_and_entropy


def _grads(policy, loss):
    return [
        None if g is None else g.clone()
        for g in torch.autograd.grad(loss, list(policy.parameters()), allow_unused=True)
    ]


@pytest.mark.parametrize("kind", ["ppo", "group"])
def test_mu_one_is_sft_gradient_and_mu_zero_is_rl_gradient(tok, tiny_policy, kind):
    problems = make_split(4, ID_DIGITS, 0)
    batch = sft_batch(tok, problems)
    gen = torch.Generator().manual_seed(0)
    ro = collect_rollouts(tiny_policy, tok, problems, 2, 12, kind, generator=gen)
    cfg = RLLossConfig(kind=kind)
    for mu, reference in ((1.0, lambda: sft_loss(tiny_policy, batch)), (0.0, lambda: rl_loss(tiny_policy, ro, cfg)[0])):
        mixed = (1 - mu) * rl_loss(tiny_policy, ro, cfg)[0] + mu * sft_loss(tiny_policy, batch)
        for a, b in zip(_grads(tiny_policy, mixed), _grads(tiny_policy, reference()), strict=True):
            assert (
                (a is None and b is None)
                or (a is None and not b.any())
                or torch.equal(a, b if b is not None else torch.zeros_like(a))
            )


def test_zero_advantages_give_zero_policy_gradient(tok, tiny_policy):
    ro = collect_rollouts(
        tiny_policy, tok, make_split(3, ID_DIGITS, 1), 2, 10, "group", generator=torch.Generator().manual_seed(1)
    )
    ro = dataclasses.replace(ro, advantages=torch.zeros_like(ro.advantages))
    loss, _ = rl_loss(tiny_policy, ro, RLLossConfig(kind="group", ent_coef=0.0))
    grads = torch.autograd.grad(loss, [p for p in tiny_policy.lm.parameters()], allow_unused=True)
    assert all(g is None or not g.any() for g in grads)


def test_ppo_ratio_is_one_on_fresh_rollouts(tok, tiny_policy):
    ro = collect_rollouts(
        tiny_policy, tok, make_split(4, ID_DIGITS, 2), 3, 12, "ppo", generator=torch.Generator().manual_seed(2)
    )
    _, stats = rl_loss(tiny_policy, ro, RLLossConfig())
    logits, _ = tiny_policy(ro.input_ids, ro.attention_mask)
    logp, _ = token_logprobs_and_entropy(logits, ro.input_ids)
    assert torch.equal(logp * ro.action_mask, ro.old_logprobs * ro.action_mask)
    assert float(stats["ratio"]) == pytest.approx(1.0, abs=1e-6)
    assert ro.generated_tokens == int(ro.action_mask.sum())


def test_group_advantages():
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), 2)
    assert adv.tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0], abs=1e-5)


def test_kv_cache_sampling_matches_full_recompute(tok, tiny_policy):
    ids, mask = left_pad([tok.encode(p.prompt, bos=True) for p in make_split(5, ID_DIGITS, 3)], tok.pad_id)
    new = sample(tiny_policy.lm, ids, mask, 6, tok.eos_id, tok.pad_id, temperature=0.0)
    seq, m = ids, mask
    for t in range(new.shape[1]):  # greedy without a cache, one full forward per token
        logits, _ = tiny_policy(seq, m)
        nxt = logits[:, -1].argmax(-1)
        assert torch.equal(nxt[new[:, t] != tok.pad_id], new[:, t][new[:, t] != tok.pad_id])
        seq, m = torch.cat([seq, new[:, t : t + 1]], 1), torch.cat([m, torch.ones_like(m[:, :1])], 1)


def test_policy_needs_a_causal_lm_head(tok):
    from transformers import GPT2Config, GPT2Model

    bare = GPT2Model(GPT2Config(vocab_size=tok.vocab_size, n_embd=16, n_layer=1, n_head=2, n_positions=32))
    with pytest.raises(ValueError, match="lm must be a causal language model"):
        PolicyWithValue(bare)


def test_ppo_needs_a_value_head(tok, tiny_policy):
    policy = PolicyWithValue(tiny_policy.lm, value_head=False)
    with pytest.raises(ValueError, match="value head"):
        collect_rollouts(policy, tok, make_split(2, ID_DIGITS, 0), 2, 4, "ppo")
