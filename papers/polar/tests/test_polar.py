"""Tests of POLAR: the template (ids and strings), truncation, the RM, the loss, the sampler, pre-training."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
import torch

from paperzoo.polar import (
    REWARD_TEXT,
    REWARD_TOKEN,
    PolarRM,
    PolarTokenizer,
    PolicyPool,
    RMConfig,
    TrainConfig,
    build_llama_rm,
    encode_polar,
    encode_reference_free,
    lr_factor,
    polar_text,
    ranking_loss,
    sample_triplets,
    train_rm,
)
from paperzoo.polar.policies import draw_prompts

TOK = PolarTokenizer()


def ids(text: str) -> list[int]:
    """Hand ids: one per character, special strings as one id each (no BOS)."""
    return TOK.encode(text, add_special_tokens=False)


def small_rm(seed: int = 0, layers: int = 1, d: int = 32) -> PolarRM:
    torch.manual_seed(seed)
    return PolarRM(
        build_llama_rm(RMConfig(n_layer=layers, d_model=d, d_ff=2 * d, n_head=2), len(TOK), TOK.pad_token_id)
    )


# ----------------------------------------------------------------------------------------------- the template
def test_string_form_both_wrappers() -> None:
    assert polar_text("1+2", "3", "so 3 .") == "1+2\n3<|reward|>1+2\nso 3 .[UNUSED_TOKEN_130]"
    assert polar_text("1+2", "3", "so 3 .", wrapper="pretrain") == "1+23<|reward|>1+2so 3 .[UNUSED_TOKEN_130]"
    # an empty response gets no "\n" (xtuner's rule; the official client's check never fires)
    assert polar_text("1+2", "", "4") == "1+2<|reward|>1+2\n4[UNUSED_TOKEN_130]"
    assert polar_text("1+2", "3", "") == "1+2\n3<|reward|>1+2[UNUSED_TOKEN_130]"


def test_ids_both_wrappers_by_hand() -> None:
    bos, rew, rtok = TOK.bos_token_id, TOK.index[REWARD_TEXT], TOK.index[REWARD_TOKEN]
    x, nl = [TOK.index["1"], TOK.index["+"], TOK.index["2"]], TOK.index["\n"]
    three, four = TOK.index["3"], TOK.index["4"]
    assert encode_polar("1+2", "3", "4", TOK) == [bos, *x, nl, three, rew, *x, nl, four, rtok]
    assert encode_polar("1+2", "3", "4", TOK, wrapper="pretrain") == [bos, *x, three, rew, *x, four, rtok]
    # the reward token is the official one, a single id, and the only place it occurs
    out = encode_polar("1+2", "3", "4", TOK)
    assert out.count(rtok) == 1 and out[-1] == rtok == TOK.reward_token_id
    # several candidates share one encoding of the reference half
    chosen, rejected = encode_polar("1+2", "3", ["4", "so 3 ."], TOK)
    assert chosen == out and TOK.decode(rejected) == "<s>" + polar_text("1+2", "3", "so 3 .")


def test_truncation_responses_right_prompt_left_reward_token_survives() -> None:
    # lengths count the BOS of each separately encoded piece: prompt 9, reference 3, candidate 2.
    # keep = (max_length - 4 - 3 - 2) // 2 = 4 prompt tokens: the last four characters.
    out = encode_polar("abcdefgh", "xy", "z", TOK, max_length=17)
    assert TOK.decode(out, skip_special_tokens=False) == "<s>efgh\nxy<|reward|>efgh\nz[UNUSED_TOKEN_130]"
    # responses keep their first max_response_length tokens (BOS included): "<s>" + "ab"
    out = encode_polar("q", "abcdef", "uvwxyz", TOK, max_response_length=3)
    assert TOK.decode(out) == "<s>q\nab<|reward|>q\nuv[UNUSED_TOKEN_130]"
    # a pair takes the minimum prompt budget over chosen and rejected
    c, r = encode_polar("abcdefgh", "xy", ["z", "zzz"], TOK, max_length=17)
    assert TOK.decode(c).startswith("<s>fgh\nxy") and TOK.decode(r).startswith("<s>fgh\nxy")
    # no room for the prompt: it is dropped, the reward token is still the last id
    out = encode_polar("abcdefgh", "xyz", "uvw", TOK, max_length=6)
    assert out[-1] == TOK.reward_token_id and TOK.decode(out) == "<s>\nxyz<|reward|>\nuvw[UNUSED_TOKEN_130]"


def test_any_hugging_face_tokenizer() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import PreTrainedTokenizerFast

    alphabet = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    model = tokenizers.models.BPE(vocab={ch: i for i, ch in enumerate(sorted(alphabet))}, merges=[])
    raw = tokenizers.Tokenizer(model)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = tokenizers.decoders.ByteLevel()
    hf = PreTrainedTokenizerFast(tokenizer_object=raw)
    hf.add_special_tokens({"additional_special_tokens": [REWARD_TEXT, REWARD_TOKEN]})
    out = encode_polar("What is 2+2?", "It is 4.", "Four.", hf)
    assert out[-1] == hf.convert_tokens_to_ids(REWARD_TOKEN)
    assert hf.decode(out) == polar_text("What is 2+2?", "It is 4.", "Four.")
    assert out.count(hf.convert_tokens_to_ids(REWARD_TEXT)) == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"wrapper": "chat"}, "wrapper"),
        ({"max_response_length": 0}, "max_response_length"),
        ({"max_length": 4}, "max_length"),
    ],
)
def test_bad_encoding_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        encode_polar("1+2", "3", "4", TOK, **kwargs)
    with pytest.raises(ValueError, match=name):
        encode_reference_free("1+2", "4", TOK, **kwargs)
    if "wrapper" in kwargs:
        with pytest.raises(ValueError, match="wrapper"):
            polar_text("1+2", "3", "4", **kwargs)


def test_reference_free_input() -> None:
    assert TOK.decode(encode_reference_free("1+2", "3", TOK)) == "<s>1+2\n3[UNUSED_TOKEN_130]"


# ----------------------------------------------------------------------------------------------- the RM
def test_left_padding_gives_the_unpadded_score() -> None:
    rm = small_rm().eval()
    seqs = [encode_polar("12+34", "46", c, TOK) for c in ("46", "so 46 . !!", "answer: 47")]
    padded = rm.score(seqs)
    alone = torch.cat([rm.score([s]) for s in seqs])
    assert padded.shape == (3,)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)
    # the score is read at the reward token: changing it changes the score, padding a row does not
    changed = rm.score([[*seqs[0][:-1], TOK.index["a"]]])
    assert not torch.allclose(changed, alone[:1])


def test_right_padding_is_refused() -> None:
    rm = small_rm()
    with pytest.raises(ValueError, match="left-padded"):
        rm(torch.tensor([[5, 6, 0]]), torch.tensor([[1, 1, 0]]))


def test_gpt2_backbone_gives_a_scalar_per_sequence() -> None:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    backbone = GPT2ForSequenceClassification(
        GPT2Config(vocab_size=len(TOK), n_embd=32, n_layer=1, n_head=2, n_positions=128, num_labels=1, pad_token_id=0)
    )
    rm = PolarRM(backbone).eval()
    seqs = [encode_polar("12+34", "46", c, TOK) for c in ("46", "so 46 . !!")]
    scores = rm.score(seqs)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    torch.testing.assert_close(scores[1:], rm.score(seqs[1:]), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="num_labels"):
        PolarRM(GPT2ForSequenceClassification(GPT2Config(n_embd=32, n_layer=1, n_head=2, num_labels=2)))


# ----------------------------------------------------------------------------------------------- the loss
def test_ranking_loss_is_softplus_and_swapping_flips_the_gradient() -> None:
    rc = torch.tensor([1.0, -0.5, 2.0], requires_grad=True)
    rr = torch.tensor([0.0, 0.5, 3.0], requires_grad=True)
    loss = ranking_loss(rc, rr)
    expected = sum(torch.log1p(torch.exp(torch.tensor(r - c))) for c, r in [(1.0, 0.0), (-0.5, 0.5), (2.0, 3.0)]) / 3
    torch.testing.assert_close(loss, expected)
    (g_c,) = torch.autograd.grad(loss, rc)
    assert (g_c < 0).all()  # raising the chosen score lowers the loss
    # swapped: the same scores now play the rejected role, and their gradient changes sign
    (g_swapped,) = torch.autograd.grad(ranking_loss(rr, rc), rc)
    assert torch.equal(torch.sign(g_swapped), -torch.sign(g_c))
    with pytest.raises(ValueError, match="shape"):
        ranking_loss(rc, rr[:2])


def test_schedule_warms_up_then_decays_to_a_tenth() -> None:
    f = [lr_factor(i, 100, 3, 0.1, 0.1) for i in range(101)]
    assert f[0] == pytest.approx(0.1) and f[3] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(f[:4]))
    assert all(a >= b for a, b in itertools.pairwise(f[3:])) and f[100] == pytest.approx(0.1)


# ----------------------------------------------------------------------------------------------- the sampler
def test_triplets_draw_different_policies_and_independent_samples() -> None:
    pool = PolicyPool(10, seed=0)
    prompts = draw_prompts(5, random.Random(0))
    trips = sample_triplets(pool, range(10), prompts, 3000, random.Random(1))
    assert all(t.policy_a != t.policy_b for t in trips)
    assert {t.policy_a for t in trips} == set(range(10))
    # y_A1 and y_A2 are two independent draws of A: identical only at the rate P(y)^2 sums to, never always
    same = sum(t.reference == t.chosen for t in trips) / len(trips)
    assert 0.05 < same < 0.8
    # ... and the reference and the positive have the same distribution (independent, identically drawn)
    ref, pos = Counter(t.reference for t in trips), Counter(t.chosen for t in trips)
    top = [y for y, _ in ref.most_common(20)]
    assert sum(abs(ref[y] - pos[y]) for y in top) < 0.25 * sum(ref[y] for y in top)


def test_fewer_than_two_policies_is_refused() -> None:
    with pytest.raises(ValueError, match="n"):
        PolicyPool(1)
    with pytest.raises(ValueError, match="policies"):
        sample_triplets(PolicyPool(4), [2, 2], draw_prompts(3, random.Random(0)), 10, random.Random(0))


# ----------------------------------------------------------------------------------------------- pre-training
@pytest.fixture(scope="module")
def pretrained() -> tuple[PolarRM, list]:
    """A 2-layer d=32 RM pre-trained on 1500 triplets of 4 policies (about 10 s on one core)."""
    pool = PolicyPool(4, seed=0)
    rng = random.Random(0)
    prompts = draw_prompts(400, rng)
    trips = sample_triplets(pool, range(4), prompts, 1500, rng)
    pairs = [tuple(encode_polar(t.prompt, t.reference, [t.chosen, t.rejected], TOK)) for t in trips]
    rm = small_rm(seed=1, layers=2)
    train_rm(rm, pairs, TrainConfig(lr=3e-3, batch_size=8, start_factor=0.0), seed=0)
    return rm, sample_triplets(pool, range(4), draw_prompts(100, rng), 300, rng)


def test_after_pretraining_identical_candidate_beats_other_policy(pretrained: tuple[PolarRM, list]) -> None:
    rm, held_out = pretrained
    same = rm.score([encode_polar(t.prompt, t.reference, t.reference, TOK) for t in held_out])
    other = rm.score([encode_polar(t.prompt, t.reference, t.rejected, TOK) for t in held_out])
    positive = rm.score([encode_polar(t.prompt, t.reference, t.chosen, TOK) for t in held_out])
    # chance is 0.5; this small pre-training reaches about 0.65 on both (a flipped loss goes below 0.5)
    assert float((same > other).float().mean()) > 0.6
    assert float((positive > other).float().mean()) > 0.58
    assert float(same.mean()) > float(other.mean())


def test_training_is_deterministic() -> None:
    pool = PolicyPool(4, seed=0)
    trips = sample_triplets(pool, range(4), draw_prompts(20, random.Random(0)), 64, random.Random(0))
    pairs = [tuple(encode_polar(t.prompt, t.reference, [t.chosen, t.rejected], TOK)) for t in trips]
    runs = []
    for _ in range(2):
        rm = small_rm(seed=3)
        losses = train_rm(rm, pairs, TrainConfig(lr=1e-3, batch_size=16), seed=5)
        runs.append((losses, rm.score([p[0] for p in pairs[:8]])))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
