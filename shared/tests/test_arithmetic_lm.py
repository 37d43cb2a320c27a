"""paperzoo.shared.testbeds.arithmetic_lm: traces, tokenizer, batches, greedy decoding, the base-model cache."""

import pytest
import torch

from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    ModelConfig,
    PretrainConfig,
    Problem,
    build_llama,
    exact_match,
    greedy_completions,
    lm_batch,
    make_problems,
    max_trace_tokens,
    pretrained_base,
    steps_to_target,
    subtraction_splits,
)
from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


@pytest.fixture
def tok():
    return CharTokenizer()


@pytest.fixture
def tiny_llama(tok):
    """A factory of 1-layer, d=16, d_ff=32 Llamas with the same random weights (seed 0)."""

    def make():
        torch.manual_seed(0)
        return build_llama(ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, max_positions=48), tok)

    return make


@pytest.mark.parametrize(
    ("problem", "trace"),
    [
        (Problem(47, 85, "+"), "7+5=2 c1|4+8+1=3 c1|=132"),
        (Problem(85, 47, "-"), "5-7=8 c1|8-4-1=3 c0|=38"),
        (Problem(100, 1, "-"), "0-1=9 c1|0-0-1=9 c1|1-0-1=0 c0|=99"),
        (Problem(7, 7, "-"), "7-7=0 c0|=0"),
    ],
)
def test_traces_by_hand(problem, trace):
    assert problem.trace == trace
    assert exact_match(problem, problem.trace)
    assert len(CharTokenizer().encode(problem.trace, eos=True)) <= max_trace_tokens(len(str(problem.a)))


def test_exact_match_reads_the_text_after_the_last_equals():
    p = Problem(85, 47, "-")
    assert not exact_match(p, "5-7=8 c1|=39")
    assert not exact_match(p, "no answer")
    assert exact_match(p, "garbage=38")


def test_problem_refuses_negative_results():
    with pytest.raises(ValueError, match="a >= b"):
        Problem(3, 5, "-")
    with pytest.raises(ValueError, match="op"):
        Problem(3, 5, "*")


def test_tokenizer_round_trip_and_refusal():
    tok = CharTokenizer()
    text = "85-47=5-7=8 c1|=38"
    ids = tok.encode(text, bos=True, eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode([*ids, 5, 6]) == text  # stops at <eos>
    with pytest.raises(ValueError, match="'x'"):
        tok.encode("1x2")


def test_problems_are_distinct_reproducible_and_respect_exclusions():
    train = make_problems(200, "-", (1, 2), 0)
    assert len(set(train)) == 200 and train == make_problems(200, "-", (1, 2), 0)
    test = make_problems(100, "-", (1, 2), 1, exclude=set(train))
    assert not set(test) & set(train)
    assert all(p.a >= p.b and p.a < 100 for p in train + test)


def test_lm_batch_labels_cover_exactly_the_trace():
    tok = CharTokenizer()
    problems = [Problem(5, 3, "-"), Problem(85, 47, "-")]
    b = lm_batch(tok, problems)
    for i, p in enumerate(problems):
        labelled = b["labels"][i][b["labels"][i] != -100].tolist()
        assert labelled == tok.encode(p.trace, eos=True)
        assert b["input_ids"][i, 0] == tok.bos_id  # right padding: every prompt starts at position 0
    assert b["attention_mask"].sum() == sum(len(p.prompt) + len(p.trace) + 2 for p in problems)


def test_steps_to_target():
    losses = [3.0, 2.0, 1.0, 0.5, 0.3, 0.1]
    assert steps_to_target(losses, 0.75, window=2) == 4  # mean(1.0, 0.5) = 0.75
    assert steps_to_target(losses, 0.2, window=1) == 6
    assert steps_to_target(losses, 0.01, window=2) == 7  # never: len + 1


def test_greedy_decoding_with_cache_equals_the_naive_loop(tiny_llama, tok):
    model = tiny_llama().eval()
    problems = [Problem(5, 3, "-"), Problem(85, 47, "-"), Problem(9, 4, "-")]
    fast = greedy_completions(model, tok, problems, batch=2)
    for p, text in zip(problems, fast, strict=True):
        ids = torch.tensor([tok.encode(p.prompt, bos=True)])
        with torch.no_grad():
            for _ in range(max_trace_tokens(2)):  # the longest operand has 2 digits
                nxt = model(input_ids=ids).logits[0, -1].argmax()
                ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
                if nxt == tok.eos_id:
                    break
        assert text == tok.decode(ids[0, len(p.prompt) + 1 :].tolist())


def test_base_cache_hit_returns_the_same_weights_and_is_safe_to_delete(tok, tmp_path):
    cfg = PretrainConfig(model=ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2), steps=3, batch_size=4, warmup=1)
    first, info1 = pretrained_base(cfg, tok, tmp_path)
    second, info2 = pretrained_base(cfg, tok, tmp_path)
    assert (info1["cache_hit"], info2["cache_hit"]) == (0.0, 1.0)
    assert all(torch.equal(first[k], second[k]) for k in first)
    for f in tmp_path.iterdir():
        f.unlink()
    rebuilt, info3 = pretrained_base(cfg, tok, tmp_path)
    assert info3["cache_hit"] == 0.0 and all(torch.equal(first[k], rebuilt[k]) for k in first)
    other = PretrainConfig(model=cfg.model, steps=4, batch_size=4, warmup=1)
    assert other.key() != cfg.key()


def test_subtraction_splits_are_disjoint_and_seeded():
    s = subtraction_splits(300, 50, 80, (1, 2), seed=3)
    assert (len(s.train), len(s.val), len(s.test)) == (300, 50, 80)
    assert not (set(s.train) & set(s.val) or set(s.train) & set(s.test) or set(s.val) & set(s.test))
    assert all(p.op == "-" for p in s.train + s.val + s.test)
    assert s == subtraction_splits(300, 50, 80, (1, 2), seed=3) and s != subtraction_splits(300, 50, 80, (1, 2), seed=4)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ModelConfig(d_model=30, n_head=4), "d_model"),
        (lambda: PretrainConfig(lr=0.0), "lr"),
        (lambda: PretrainConfig(steps=0), "steps"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_corrupt_base_cache_is_rebuilt_not_fatal(tok, tmp_path):
    cfg = PretrainConfig(model=ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2), steps=3, batch_size=4, warmup=1)
    first, _ = pretrained_base(cfg, tok, tmp_path)
    (cache,) = tmp_path.iterdir()
    cache.write_bytes(cache.read_bytes()[:100])  # a run killed while another wrote it, a full disk, ...
    rebuilt, info = pretrained_base(cfg, tok, tmp_path)
    assert info["cache_hit"] == 0.0 and all(torch.equal(first[k], rebuilt[k]) for k in first)
    assert pretrained_base(cfg, tok, tmp_path)[1]["cache_hit"] == 1.0  # the rebuilt file is whole again


def test_tokenizer_with_its_own_alphabet():
    tok = CharTokenizer("ab :")
    assert tok.vocab_size == 7 and tok.encode("ba :", eos=True) == [4, 3, 5, 6, 2]
    assert tok.decode(tok.encode("ab a")) == "ab a"
    with pytest.raises(ValueError, match="'1'"):
        tok.encode("a1")
    assert CharTokenizer().tokens[3:] == tuple("0123456789+-=| c")  # the default ids bone and eva rely on
    for bad in ("", "aa", ("ab",)):
        with pytest.raises(ValueError, match="chars"):
            CharTokenizer(bad)


def test_default_cache_key_is_unchanged_and_a_custom_stream_or_alphabet_changes_it():
    import hashlib
    import json
    from dataclasses import asdict

    cfg = PretrainConfig()
    fields = asdict(cfg)
    del fields["model"]["init"]  # the fields before the init option existed
    before = json.dumps({"format": 1, "arch": "LlamaForCausalLM", **fields}, sort_keys=True)
    assert cfg.key() == hashlib.sha256(before.encode()).hexdigest()[:16]  # bone's and eva's caches stay valid
    fan_in = PretrainConfig(model=ModelConfig(init="fan_in"))
    keys = {cfg.key(), cfg.key("copy"), cfg.key("copy", "ab"), cfg.key("", "ab"), fan_in.key(), fan_in.key("copy")}
    assert len(keys) == 6


def test_fan_in_init_draws_every_linear_weight_at_one_over_sqrt_fan_in(tok):
    cfg = ModelConfig(d_model=64, d_ff=256, n_head=4, n_layer=2)
    torch.manual_seed(0)
    hf = build_llama(cfg, tok)
    torch.manual_seed(0)
    lecun = build_llama(ModelConfig(d_model=64, d_ff=256, n_head=4, n_layer=2, init="fan_in"), tok)
    for (name, a), (_, b) in zip(hf.named_modules(), lecun.named_modules(), strict=True):
        if isinstance(b, torch.nn.Linear):
            assert a.weight.std().item() == pytest.approx(0.02, rel=0.1), name
            assert b.weight.std().item() == pytest.approx(b.in_features**-0.5, rel=0.1), name
    emb = lecun.get_input_embeddings().weight
    assert emb.data_ptr() == lecun.get_output_embeddings().weight.data_ptr()  # tied: drawn at 1/sqrt(d) too
    assert emb.std().item() == pytest.approx(64**-0.5, rel=0.1)
    norms = [m.weight for m in lecun.modules() if type(m).__name__ == "LlamaRMSNorm"]
    assert norms and all(bool((w == 1).all()) for w in norms)  # only linear weights are re-drawn
    with pytest.raises(ValueError, match="init"):
        ModelConfig(init="xavier")


def test_pretraining_on_a_custom_stream(tmp_path):
    tok = CharTokenizer("ab")
    cfg = PretrainConfig(model=ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2), steps=40, batch_size=4,
                         lr=3e-2, warmup=1)  # fmt: skip

    def stream(rng, n):  # "a" -> "b" always: learnable in a few steps
        ids = torch.tensor([[tok.bos_id, 3, 4, tok.eos_id]] * n)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.masked_fill(ids < 4, -100)}

    _, info = pretrained_base(cfg, tok, tmp_path, stream=stream, stream_name="a->b")
    assert info["final_loss"] < 0.1
    assert pretrained_base(cfg, tok, tmp_path, stream=stream, stream_name="a->b")[1]["cache_hit"] == 1.0
    assert pretrained_base(cfg, tok, tmp_path, stream=stream, stream_name="other")[1]["cache_hit"] == 0.0
    for kwargs in ({"stream": stream}, {"stream_name": "a->b"}):
        with pytest.raises(ValueError, match="stream"):
            pretrained_base(cfg, tok, tmp_path, **kwargs)
