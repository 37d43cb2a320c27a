"""Tests of DynaICL: allocation invariants, k* labels on a monotone oracle, the two training stages on toys, the
black-box contract, demonstration determinism, token counts, bad arguments, and the smoke / paper runners."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from paperzoo.dynaicl import (
    ControllerConfig,
    DemoSampler,
    GeneralistLM,
    MetaController,
    allocate,
    label_k_star,
    min_budget,
    train_stage1,
    train_stage2,
)
from paperzoo.dynaicl.bench import BENCHMARK, SMOKE
from paperzoo.dynaicl.experiment import evaluate, make_items
from paperzoo.dynaicl.tasks import LABELS, SYMBOLS, Task, prompt_text, tokenizer


# ------------------------------------------------------------------------------------------- allocation
@pytest.mark.parametrize("seed", range(5))
def test_allocation_sums_exactly_stays_in_bounds_and_keeps_the_order(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n, K = int(rng.integers(1, 40)), int(rng.integers(1, 20))
        pred = rng.integers(0, K + 1, n) * rng.random()  # ties and zeros are common
        budget = float(rng.random() * K)
        ks = allocate(pred, budget, K)
        assert ks.sum() == round(budget * n)
        assert ks.min() >= 0 and ks.max() <= K
        larger = pred[:, None] > pred[None, :]
        assert not np.any(larger & (ks[:, None] < ks[None, :])), (pred, ks)


def test_allocation_by_hand():
    # scale 1,2,3,16,0 to 20 demos: c = 20/22 -> 0.91, 1.82, 2.73, 14.55 (<= 16), 0; floors 0,1,2,14 = 17;
    # the 3 left go to the largest fractional parts 0.91, 0.82, 0.73
    assert allocate([1, 2, 3, 16, 0], 4, 16).tolist() == [1, 2, 3, 14, 0]
    # clipping: 12 demos over [0, 0, 1] with K = 16 -> the positive one saturates, the zeros share the rest
    assert allocate([0, 0, 1], 12, 16).tolist() == [10, 10, 16]


@pytest.mark.parametrize("value", [0.0, 2.5, 7.0])
def test_constant_controller_is_uniform_allocation(value):
    for budget in range(9):
        assert allocate(np.full(11, value), budget, 8).tolist() == [budget] * 11


def test_min_budget():
    assert min_budget(0.7, [1, 2, 4, 8], [0.5, 0.71, 0.69, 0.9]) == 2
    assert np.isnan(min_budget(0.95, [1, 2], [0.5, 0.9]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"pred_k": [1, 2], "budget": 1, "K": 0}, "K"),
        ({"pred_k": [1, 2], "budget": 5, "K": 4}, "budget"),
        ({"pred_k": [1, 2], "budget": -0.5, "K": 4}, "budget"),
        ({"pred_k": [1, 5], "budget": 1, "K": 4}, "pred_k"),
        ({"pred_k": [-1, 2], "budget": 1, "K": 4}, "pred_k"),
    ],
)
def test_allocate_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        allocate(**kwargs)


# ------------------------------------------------------------------------------------------- k* labels
def test_k_star_recovers_the_threshold_of_a_monotone_oracle():
    t = np.array([0, 3, 7, 16, 5, 1])
    k_star, acc = label_k_star(lambda k, draw: k >= t, len(t), 16, 4, 1.0)
    assert k_star.tolist() == t.tolist()
    assert np.array_equal(acc, (np.arange(17)[None] >= t[:, None]).astype(float))
    # never reaching delta -> K
    k_star, _ = label_k_star(lambda k, draw: np.zeros(3, bool), 3, 8, 2, 0.5)
    assert k_star.tolist() == [8, 8, 8]


def test_k_star_uses_delta_over_the_draws():
    # draw 0 succeeds from k = 2, draw 1 from k = 5: acc = 0.5 from k = 2, 1.0 from k = 5
    k_star, _ = label_k_star(lambda k, draw: np.array([k >= (2 if draw == 0 else 5)]), 1, 8, 2, 0.5)
    assert k_star.tolist() == [2]
    k_star, _ = label_k_star(lambda k, draw: np.array([k >= (2 if draw == 0 else 5)]), 1, 8, 2, 1.0)
    assert k_star.tolist() == [5]


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"K": 0}, "K"), ({"m": 0}, "m"), ({"delta": 0.0}, "delta"), ({"delta": 1.5}, "delta")]
)
def test_label_bad_arguments(kwargs, name):
    args = {"correct": lambda k, d: np.ones(2, bool), "n": 2, "K": 4, "m": 2, "delta": 1.0} | kwargs
    with pytest.raises(ValueError, match=name):
        label_k_star(**args)


# ------------------------------------------------------------------------------------------- training stages
K_TOY = 8
THRESHOLDS = {s: 2 * (i % 4) + 1 for i, s in enumerate(SYMBOLS)}  # the toy's t(x): 1, 3, 5, 7


def _toy():
    tok = tokenizer()
    xs = [SYMBOLS[i % len(SYMBOLS)] for i in range(48)]
    ids = torch.tensor([tok.encode("B" + x) for x in xs])
    t = np.array([THRESHOLDS[x] for x in xs])
    return tok, ids, t


def test_stage1_learns_k_star_from_the_input():
    tok, ids, t = _toy()
    torch.manual_seed(0)
    c = MetaController(tok.vocab_size, K_TOY, ControllerConfig(d_model=32, n_layer=1))
    losses = train_stage1(c, ids, t, epochs=30, batch=48, lr=1e-2, seed=0)
    assert np.mean(losses[-3:]) < 0.3 * np.mean(losses[:3])
    assert (c(ids).argmax(-1).numpy() == t).mean() == 1.0


def _stage2(gamma, steps=60, seed=0):
    tok, ids, t = _toy()
    torch.manual_seed(seed)
    c = MetaController(tok.vocab_size, K_TOY, ControllerConfig(d_model=32, n_layer=1))
    out = train_stage2(c, ids, lambda rows, ks, step: ks >= t[rows], gamma, steps, 32, 1e-2, seed)
    return c, ids, t, out


def test_stage2_gamma_zero_is_pure_accuracy_and_gamma_lowers_k():
    c0, ids, t, out0 = _stage2(0.0)
    # gamma = 0: the reward is exactly G's correctness, and the policy learns to be correct
    hits = np.array(out0["reward"])
    assert np.all((hits * 32).round(9) % 1 == 0)  # a fraction of 32 correct answers, no penalty term
    assert hits[0] < 0.8 and np.mean(hits[-20:]) > 0.95
    c1, *_ = _stage2(1.0)
    k0, k1 = c0.expected_k(ids), c1.expected_k(ids)
    assert k1.mean() < k0.mean() - 1.0
    # with the penalty the policy moves towards the smallest sufficient k: its mean tracks t(x)
    assert np.corrcoef(k1, t)[0, 1] > 0.5


def test_stage2_bad_arguments():
    tok, ids, _ = _toy()
    c = MetaController(tok.vocab_size, K_TOY)
    with pytest.raises(ValueError, match="gamma"):
        train_stage2(c, ids, lambda r, k, s: k >= 0, -0.1, 1, 4, 1e-3, 0)
    with pytest.raises(ValueError, match="beta"):
        train_stage2(c, ids, lambda r, k, s: k >= 0, 0.1, 1, 4, 1e-3, 0, beta=1.0)


def test_t5_controller_path():
    tok, ids, t = _toy()
    torch.manual_seed(0)
    c = MetaController(tok.vocab_size, K_TOY, ControllerConfig(backbone="t5", d_model=32, n_layer=1))
    with pytest.raises(ValueError, match="backbone"):  # a given T5 needs the t5 backbone
        MetaController(tok.vocab_size, K_TOY, ControllerConfig(), t5=c.t5)
    assert c(ids[:5]).shape == (5, K_TOY + 1)
    losses = train_stage1(c, ids, t, epochs=5, batch=48, lr=3e-3, seed=0)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


# ------------------------------------------------------------------------------------------- black box, demos, tokens
class RecordingGeneralist:
    """A stand-in G with the black-box surface only: it answers the class of the input's symbol if a
    demonstration shows it, else "0", and records every prompt."""

    def __init__(self):
        self.prompts = []

    def predict(self, prompts):
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            *demos, query = p.split(";")
            shown = dict(d.split("=") for d in demos)
            out.append(shown.get(query[:-1], "0"))
        return out


def test_generalist_exposes_only_predict():
    public = {n for n in dir(GeneralistLM) if not n.startswith("_")}
    assert public == {"predict"}


def test_pipeline_runs_on_a_black_box_and_counts_tokens_by_hand():
    items = make_items("test", "last2", 2, 10, 16, seed=0)
    g = RecordingGeneralist()
    ks = np.array([0, 1, 2, 3, 4] * 4)
    ev = evaluate(g, items, ks, DemoSampler(7), draw=0)
    assert g.prompts == ev.prompts
    # <bos> + 4 tokens per demonstration ("a=1;") + the query "b="
    assert ev.tokens.tolist() == [1 + 4 * int(k) + 2 for k in ks]
    # the stand-in answers correctly exactly when the demonstrations show the query's symbol (or the class is 0)
    for p, ok, t, x in zip(ev.prompts, ev.correct, items.task_of, items.xs, strict=True):
        shown = x + "=" in p[:-2]
        assert ok == (shown or items.tasks[t].label(x) == "0")


def _random_generalist_model():
    from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, build_llama

    torch.manual_seed(0)
    return build_llama(ModelConfig(n_layer=2, d_model=32, d_ff=64, n_head=4, max_positions=80), tokenizer())


def _labelling_prompts():
    """The k* labelling prompts of 6 inputs (one draw, k = 0..8: nested demonstrations), a repeated prompt and
    a prompt that is a prefix of another one."""
    items = make_items("t", "last2", 2, 3, 16, seed=1)
    sampler = DemoSampler(5)
    prompts = [
        prompt_text(items.tasks[t], sampler.demos(items.pools[t], key, k, 0), x)
        for k in range(9)
        for t, x, key in zip(items.task_of, items.xs, items.keys, strict=True)
    ]
    return [*prompts, prompts[7], prompts[3][:-2]]


def test_prefix_tree_batching_gives_each_prompt_its_own_causal_forward():
    from paperzoo.dynaicl.generalist import char_generalist

    tok, model = tokenizer(), _random_generalist_model()
    prompts = _labelling_prompts()
    with torch.no_grad():  # an independent reference: the full HF forward of each prompt alone, all logits
        alone = [model(input_ids=torch.tensor([tok.encode(p, bos=True)])) for p in prompts]
    reference = [LABELS[int(o.logits[0, -1, [tok.index[c] for c in LABELS]].argmax())] for o in alone]
    shared = char_generalist(model, tok, batch=3)
    hidden = shared._hidden_by_prefix_tree([tok.encode(p, bos=True) for p in prompts])
    with torch.no_grad():
        last = torch.stack([model.model(input_ids=torch.tensor([tok.encode(p, bos=True)])).last_hidden_state[0, -1]
                            for p in prompts])  # fmt: skip
    torch.testing.assert_close(hidden, last, atol=1e-5, rtol=1e-5)
    for batch, share in ((3, True), (512, True), (512, False), (1, False)):
        assert char_generalist(model, tok, batch, share).predict(prompts) == reference, (batch, share)
    tiny_rows = GeneralistLM(model, lambda p: tok.encode(p, bos=True), {c: tok.index[c] for c in LABELS},
                             row_tokens=1)  # fmt: skip
    assert tiny_rows.predict(prompts) == reference
    assert shared.predict([]) == []
    encode = lambda p: tok.encode(p, bos=True)  # noqa: E731
    for kwargs, name in (({"row_tokens": 0}, "row_tokens"), ({"batch": 0}, "batch")):
        with pytest.raises(ValueError, match=name):
            GeneralistLM(model, encode, {"0": 3}, **kwargs)
    with pytest.raises(ValueError, match="labels"):
        GeneralistLM(model, encode, {})


def test_prefix_tree_packing_by_hand():
    from paperzoo.dynaicl.generalist import pack_prefix_trees

    # "abc", "abd", "ab" (a prefix), "xy": one trie a-b-{c,d} and x-y; depth-first order a b c d x y
    (row,) = pack_prefix_trees([[1, 2, 3], [1, 2, 4], [1, 2], [7, 8]], row_tokens=10)
    assert row.tokens == [1, 2, 3, 4, 7, 8] and row.depths == [0, 1, 2, 2, 0, 1]
    assert sorted(row.ends) == [(0, 2), (1, 3), (2, 1), (3, 5)]
    assert row.subtree_ends() == [4, 4, 3, 4, 6, 6]
    # a cap of 4 nodes: the trie of the first three prompts fits, "xy" starts a new row
    rows = pack_prefix_trees([[1, 2, 3], [1, 2, 4], [1, 2], [7, 8]], row_tokens=4)
    assert [r.tokens for r in rows] == [[1, 2, 3, 4], [7, 8]]
    # the labelling prompts: the trie's size is the number of distinct prefixes, each row within its cap
    encoded = [tokenizer().encode(p, bos=True) for p in _labelling_prompts()]
    prefixes = {tuple(e[:i]) for e in encoded for i in range(1, len(e) + 1)}
    assert sum(len(r.tokens) for r in pack_prefix_trees(encoded, 10_000)) == len(prefixes)
    assert all(len(r.tokens) <= 40 for r in pack_prefix_trees(encoded, 40))
    with pytest.raises(ValueError, match="row_tokens"):
        pack_prefix_trees(encoded, 0)


def test_demo_sampler_is_deterministic_and_nested():
    pool = [c for c in SYMBOLS]
    a, b = DemoSampler(3), DemoSampler(3)
    assert a.demos(pool, "x/1", 5, 0) == b.demos(pool, "x/1", 5, 0)
    assert a.demos(pool, "x/1", 5, 0) == a.demos(pool, "x/1", 8, 0)[:5]
    assert a.demos(pool, "x/1", 8, 0) != a.demos(pool, "x/1", 8, 1)
    assert a.demos(pool, "x/1", 8, 0) != DemoSampler(4).demos(pool, "x/1", 8, 0)
    with pytest.raises(ValueError, match="k"):
        a.demos(pool, "x/1", 13, 0)


def test_known_symbols_keep_their_class_and_held_out_maps_stay_out():
    from paperzoo.dynaicl.tasks import KNOWN, draw_task

    rng = random.Random(0)
    for family, n in (("last2", 2), ("last3", 3)):
        for held_out in (True, False):
            tasks = [draw_task(family, rng, held_out) for _ in range(20)]
            assert all(t.classes[:KNOWN] == tuple(i % n for i in range(KNOWN)) for t in tasks)
            assert all(t.held_out == held_out for t in tasks)
            assert len({t.classes for t in tasks}) > 10  # the other symbols vary per task


def test_task_rule_and_bad_task():
    task = Task("last2", tuple(i % 2 for i in range(len(SYMBOLS))))
    assert task.label("ab") == "1" and task.label("ba") == "0"
    with pytest.raises(ValueError, match="classes"):
        Task("last2", (2,) * len(SYMBOLS))
    with pytest.raises(ValueError, match="family"):
        Task("nope", (0,) * len(SYMBOLS))


# ------------------------------------------------------------------------------------------- runners
def test_smoke_claims_hold_and_same_seed_same_numbers(tmp_path):
    config = dataclasses.replace(SMOKE, cache_dir=str(tmp_path))
    first = BENCHMARK.run["smoke"](config, 0)
    summary = BENCHMARK.summarize("smoke", [first.metrics], config)
    assert all(c["verdict"] == "reproduced" for c in summary["claims"]), summary["claims"]
    again = BENCHMARK.run["smoke"](config, 0)
    assert first.metrics == again.metrics


def test_bad_config_raises():
    with pytest.raises(ValueError, match="delta"):
        dataclasses.replace(SMOKE, delta=0.0)
    with pytest.raises(ValueError, match="budgets"):
        dataclasses.replace(SMOKE, budgets=(5.0,))
    with pytest.raises(ValueError, match="gamma"):
        dataclasses.replace(SMOKE, gamma=-1.0)
