"""paperzoo.shared.torch.lm: left padding, KV-cache sampling, token log-probs and GAE."""

import pytest
import torch
from torch.nn import functional as F

from paperzoo.shared.torch.lm import (
    gae,
    left_pad,
    masked_mean,
    outcome_token_rewards,
    position_ids,
    sample,
    token_logprobs_and_entropy,
)

VOCAB, PAD, EOS = 11, 0, 2


def tiny_lm(arch: str) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=64, pad_token_id=PAD, eos_token_id=EOS,
        )  # fmt: skip
        return LlamaForCausalLM(config).eval()
    config = GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=64, eos_token_id=EOS)
    return GPT2LMHeadModel(config).eval()


def test_left_pad_and_positions():
    ids, mask = left_pad([[5, 6], [7], []], PAD)
    assert ids.tolist() == [[5, 6], [PAD, 7], [PAD, PAD]] and mask.tolist() == [[1, 1], [0, 1], [0, 0]]
    assert position_ids(mask).tolist() == [[0, 1], [0, 0], [0, 0]]
    with pytest.raises(ValueError, match="seqs"):
        left_pad([], PAD)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_greedy_sampling_of_a_padded_batch_equals_each_prompt_alone_and_a_full_recompute(arch):
    lm = tiny_lm(arch)
    prompts = [[1, 5, 6, 7], [1, 8], [1, 9, 4]]
    ids, mask = left_pad(prompts, PAD)
    new = sample(lm, ids, mask, 6, EOS, PAD, temperature=0.0)
    for row, prompt in enumerate(prompts):
        alone = sample(lm, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), 6, EOS, PAD, 0.0)
        assert torch.equal(new[row, : alone.shape[1]], alone[0])
    seq, m = ids, mask
    for t in range(new.shape[1]):  # greedy without a cache: one full forward per token
        logits = lm(input_ids=seq, attention_mask=m, position_ids=position_ids(m)).logits
        live = new[:, t] != PAD
        assert torch.equal(logits[:, -1].argmax(-1)[live], new[live, t])
        seq, m = torch.cat([seq, new[:, t : t + 1]], 1), torch.cat([m, torch.ones_like(m[:, :1])], 1)


def test_sampling_is_seeded_and_pads_after_eos():
    lm = tiny_lm("llama")
    ids, mask = left_pad([[1, 5], [1, 6, 7]] * 4, PAD)
    a = sample(lm, ids, mask, 12, EOS, PAD, temperature=1.5, generator=torch.Generator().manual_seed(3))
    b = sample(lm, ids, mask, 12, EOS, PAD, temperature=1.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    for row in a.tolist():
        if EOS in row:
            assert all(tok == PAD for tok in row[row.index(EOS) + 1 :])
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample(lm, ids, mask, 0, EOS, PAD)
    with pytest.raises(ValueError, match="temperature"):
        sample(lm, ids, mask, 3, EOS, PAD, temperature=-1.0)


def test_token_logprobs_and_entropy_against_a_direct_computation():
    logits = torch.randn(2, 5, VOCAB, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    ids = torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))
    taken, entropy = token_logprobs_and_entropy(logits, ids)
    p = F.softmax(logits.float(), -1)
    assert taken.dtype == torch.float32
    for b in range(2):
        for t in range(4):
            assert float(taken[b, t]) == pytest.approx(float(p[b, t, ids[b, t + 1]].log()), abs=1e-5)
            assert float(entropy[b, t]) == pytest.approx(float(-(p[b, t] * p[b, t].log()).sum()), abs=1e-5)
    assert float(masked_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([1, 0, 1]))) == 3.0
    assert float(masked_mean(torch.tensor([1.0]), torch.tensor([0]))) == 0.0


def test_gae_against_a_hand_computation():
    values = torch.tensor([[0.0, 0.5, 0.2, 0.9]])
    mask = torch.tensor([[0, 1, 1, 0]])
    rewards = outcome_token_rewards(torch.tensor([1.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 1.0, 0.0]]
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # last action t=2: delta = 1 - 0.2 = 0.8; t=1: delta = 0 + 0.2 - 0.5 = -0.3, A = -0.3 + 0.5 * 0.8 = 0.1
    assert adv.tolist()[0] == pytest.approx([0.0, 0.1, 0.8, 0.0])
    assert ret.tolist()[0][1:3] == pytest.approx([0.6, 1.0])


def test_gae_of_stacked_streams_equals_each_stream_alone_and_skips_masked_gaps():
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 0, 1, 1]])  # row 1: a gap (e.g. an observation token)
    rewards, values = torch.randn(3, 2, 5, generator=gen), torch.randn(3, 2, 5, generator=gen)
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    for k in range(3):
        a, r = gae(rewards[k], values[k], mask, gamma=0.9, lam=0.8)
        assert torch.equal(adv[k], a) and torch.equal(ret[k], r)
    # row 1 by hand over its actions t = 0, 1, 3, 4 (the gap at t = 2 is skipped, V after the last action is 0)
    r, v, g, lam = rewards[0, 1], values[0, 1], 0.9, 0.8
    a4 = r[4] - v[4]
    a3 = r[3] + g * v[4] - v[3] + g * lam * a4
    a1 = r[1] + g * v[3] - v[1] + g * lam * a3
    a0 = r[0] + g * v[1] - v[0] + g * lam * a1
    assert adv[0, 1].tolist() == pytest.approx([float(a0), float(a1), 0.0, float(a3), float(a4)], abs=1e-6)
    with pytest.raises(ValueError, match="gamma"):
        gae(rewards, values, mask, gamma=1.5)
    with pytest.raises(ValueError, match="token_rewards"):
        gae(rewards[:, :, :4], values, mask)
    with pytest.raises(ValueError, match="rewards must have shape"):
        outcome_token_rewards(torch.ones(3), mask)
