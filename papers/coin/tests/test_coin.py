"""Tests of CoIN: the balance weight's branches, the EMA tracker, instruction grouping, the metrics, the tasks."""

import math

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from paperzoo.coin import (
    FALLBACK_ALPHA,
    ContinualConfig,
    EMATracker,
    InstructionGrouper,
    backward_transfer,
    balance_weight,
    forgetting,
    pair_similarity,
    run_arm,
    run_arms,
    similarity,
)
from paperzoo.coin.bench import FullConfig, SmokeConfig
from paperzoo.coin.experiment import arm_jobs, base_weights
from paperzoo.coin.tasks import TASKS, accuracy, example_batch, make_examples, tokenizer
from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, PretrainConfig, build_llama
from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


# ------------------------------------------------------------------------------------------- balance weight
def test_balance_weight_in_range_equals_the_formula():
    theta = torch.tensor([3.0, -1.0])
    ema = torch.tensor([1.0, 1.0])  # ||theta - ema||_1 = 4
    grad = torch.tensor([0.5, -0.5])  # ||g||_1 = 1
    prev = torch.tensor([-1.0, 1.0])  # ||g - g_prev||_1 = 3
    assert balance_weight(theta, ema, grad, prev) == pytest.approx(2 * (1 + 1) / (4 * 3))  # 1/3


@pytest.mark.parametrize(
    ("theta", "ema", "grad", "prev"),
    [
        ([1.0, 0.0], [0.0, 0.0], [0.5, 0.0], [0.0, 0.0]),  # 2 * 1.5 / (1 * 0.5) = 6 >= 1
        ([1.0, 1.0], [1.0, 1.0], [0.5, 0.1], [0.0, 0.0]),  # theta = theta*: zero denominator
        ([3.0, 1.0], [1.0, 1.0], [0.5, 0.1], [0.5, 0.1]),  # g = g_prev: zero denominator
        ([math.inf, 1.0], [1.0, 1.0], [0.5, 0.1], [0.0, 0.0]),  # non-finite
        ([1.0, 0.0], [0.0, 0.0], [0.0, 0.0], None),  # first step
    ],
)
def test_balance_weight_falls_back_to_001(theta, ema, grad, prev):
    t = [torch.tensor(v) if v is not None else None for v in (theta, ema, grad, prev)]
    assert balance_weight(*t) == FALLBACK_ALPHA


def _param(values):
    p = torch.nn.Parameter(torch.tensor(values))
    return p


def test_alpha_one_tracks_the_raw_weights_and_alpha_zero_freezes_the_ema():
    p1, p0 = _param([1.0, 2.0]), _param([1.0, 2.0])
    follow, frozen = EMATracker([p1], "fixed", alpha=1.0), EMATracker([p0], "fixed", alpha=0.0)
    for step in range(4):
        for p, tracker in ((p1, follow), (p0, frozen)):
            with torch.no_grad():
                p.add_(torch.tensor([0.3, -0.1]) * (step + 1))  # an "optimizer step"
            p.grad = torch.ones(2)
            tracker.update()
        assert torch.equal(follow.ema[0], p1.detach())
        assert torch.equal(frozen.ema[0], torch.tensor([1.3, 1.9]))  # theta after the first step, never moved


def test_update_order_on_a_scripted_run():
    """clip -> step -> EMA with the clipped gradient and the post-step weights; theta*_0 = theta after step 1."""
    p = _param([0.0, 0.0, 0.0, 0.0])
    opt = torch.optim.SGD([p], lr=1.0)
    tracker = EMATracker([p], "dynamic")
    raw_grads = [
        torch.tensor([3.0, 0.0, 4.0, 0.0]),
        torch.tensor([0.0, -6.0, 0.0, 8.0]),
        torch.tensor([0.6, 0.0, 0.0, 0.0]),
    ]
    expected_ema, prev = None, None
    for g in raw_grads:
        p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_([p], 1.0)
        clipped = g / max(1.0, float(g.norm()))
        opt.step()
        theta = p.detach().clone()
        if expected_ema is None:
            expected_ema, alpha = theta.clone(), FALLBACK_ALPHA
        else:
            a = float((theta - expected_ema).abs().sum())
            b, c = float(clipped.abs().sum()), float((clipped - prev).abs().sum())
            alpha = 2 * (1 + b) / (a * c)
            alpha = alpha if 0 < alpha < 1 else FALLBACK_ALPHA
            expected_ema = (1 - alpha) * expected_ema + alpha * theta
        prev = clipped
        (got,) = tracker.update().tolist()
        assert got == pytest.approx(alpha)
        torch.testing.assert_close(tracker.ema[0], expected_ema)
    assert 0 < tracker.alphas[-1][0] < 1 and tracker.alphas[-1][0] != FALLBACK_ALPHA  # the dynamic branch ran
    assert tracker.fallback_share == pytest.approx(2 / 3)


def test_fused_update_matches_balance_weight_per_tensor_exactly():
    """The batched update (one pass over all tensors) gives, per tensor, the scalar ``balance_weight`` and the
    EMA ``theta* + alpha (theta - theta*)`` bit for bit; the fallback count covers both branches."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen)) for shape in ((4, 3), (7,), (2, 5), (3,))]
    tracker = EMATracker(params, "dynamic")
    prev = None
    for step in range(5):
        grads = [torch.randn(p.shape, generator=gen) * (0.01 if step % 2 else 3.0) for p in params]
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(0.1 * g)
                p.grad = g
        ema_before = [e.clone() for e in tracker.ema]
        got = tracker.update()
        if prev is None:
            assert got.tolist() == [FALLBACK_ALPHA] * 4
        else:
            tensors = zip(params, ema_before, grads, prev, strict=True)
            want = [balance_weight(p.detach(), e, g, q) for p, e, g, q in tensors]
            assert got.tolist() == want
            for p, e, e_new, a in zip(params, ema_before, tracker.ema, want, strict=True):
                assert torch.equal(e_new, e + (p.detach() - e) * torch.tensor(a, dtype=torch.float32))
        prev = grads
    assert tracker.alphas.shape == (5, 4)
    share = float((tracker.alphas == FALLBACK_ALPHA).double().mean())
    assert 0 < share < 1 and tracker.fallback_share == pytest.approx(share)


def test_swap_restores_the_raw_weights_exactly_and_replace_installs_the_ema():
    p = _param([1.0, -2.0, 0.5])
    tracker = EMATracker([p], "fixed", alpha=0.25)
    p.grad = torch.ones(3)
    tracker.update()
    with torch.no_grad():
        p.add_(torch.tensor([0.1, 0.2, 0.3]))
    tracker.update()
    raw, ema = p.detach().clone(), tracker.ema[0].clone()
    assert not torch.equal(raw, ema)
    tracker.swap()
    assert torch.equal(p.detach(), ema)
    with pytest.raises(ValueError, match="swap"):
        tracker.update()
    tracker.swap()
    assert torch.equal(p.detach(), raw) and torch.equal(tracker.ema[0], ema)
    tracker.replace()
    assert torch.equal(p.detach(), ema)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha"), ({"mode": "adaptive"}, "mode")],
)
def test_bad_tracker_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EMATracker([_param([1.0])], **kwargs)


def test_update_without_gradients_raises():
    tracker = EMATracker([_param([1.0])])
    with pytest.raises(ValueError, match="grad"):
        tracker.update()


# ------------------------------------------------------------------------------------------- grouping
def test_pair_similarity_equals_a_direct_sklearn_call_and_handles_stop_words():
    a, b = "reverse the digits", "write the digits reversed"
    x = TfidfVectorizer(stop_words="english").fit_transform([a, b])
    assert pair_similarity(a, b) == pytest.approx(cosine_similarity(x[0], x[1])[0, 0])
    assert pair_similarity(a, a) == pytest.approx(1.0)
    assert pair_similarity("the of and", "reverse the digits") == 0.0  # empty vocabulary for one side is fine
    assert pair_similarity("the of and", "it is") == 0.0  # empty vocabulary: the vectorizer raises
    expected = np.mean([pair_similarity(c, h) for c in (a, b) for h in ("reverse digits", "sort ascending")])
    assert similarity([a, b, a], ["reverse digits", "sort ascending"]) == pytest.approx(expected)


def test_grouping_decisions_at_090_and_030():
    loose, strict = InstructionGrouper(0.30), InstructionGrouper(0.90)
    got_loose = [loose.assign(t.instructions)[0] for t in TASKS]
    got_strict = [strict.assign(t.instructions)[0] for t in TASKS]
    assert got_loose == [0, 1, 2, 3, 4, 0]  # the paraphrase of task 1 reuses its group (sim 0.58)
    assert got_strict == [0, 1, 2, 3, 4, 5]  # at 0.90 every task gets its own LoRA
    assert set(TASKS[5].instructions) <= set(loose.codebook[0])
    assert loose.route(TASKS[0].instructions) == 0 and loose.route(TASKS[3].instructions) == 3
    assert loose.route(["completely unrelated words"]) == 4  # below tau: the latest group
    single = InstructionGrouper(0.90)
    single.assign(["reverse the digits"])
    assert single.assign(["reverse the digits"]) == (0, False)  # a verbatim repeat: sim 1.0 >= 0.90
    assert single.assign(["write the digits reversed"]) == (1, True)  # only "digits" shared: 0.34 < 0.90


def test_ties_go_to_the_lowest_group():
    grouper = InstructionGrouper(0.5)
    grouper.codebook = [["sort ascending"], ["reverse digits"], ["sort ascending"]]
    assert grouper.route(["sort ascending"]) == 0
    assert grouper.assign(["sort ascending"]) == (0, False)


def test_bad_grouping_arguments():
    for tau in (-0.1, 1.1):
        with pytest.raises(ValueError, match="threshold"):
            InstructionGrouper(tau)
    with pytest.raises(ValueError, match="instructions"):
        InstructionGrouper(0.3).assign([])
    with pytest.raises(ValueError, match="current"):
        similarity([], ["a b"])


# ------------------------------------------------------------------------------------------- metrics, tasks
def test_forgetting_and_bwt_on_a_hand_made_matrix():
    a = np.array([[0.9, np.nan, np.nan], [0.5, 0.8, np.nan], [0.6, 0.2, 0.7]])
    assert forgetting(a) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.2)) / 2)
    assert backward_transfer(a) == pytest.approx(((0.6 - 0.9) + (0.2 - 0.8)) / 2)
    b = np.array([[0.2, np.nan], [0.6, 0.5]])  # improved later: negative forgetting
    assert forgetting(b) == pytest.approx(-0.4) and backward_transfer(b) == pytest.approx(0.4)


def test_tasks_by_hand_and_their_batches():
    fns = [t.fn("30719") for t in TASKS]
    assert fns == ["91703", "01379", "41820", "379", "5", "91703"]
    tok = tokenizer()
    ex = make_examples(2, 4, (3,), seed=1)
    assert ex == make_examples(2, 4, (3,), seed=1) and all(e.prompt.split(":")[0] in TASKS[2].instructions for e in ex)
    b = example_batch(tok, ex)
    labelled = b["labels"][0][b["labels"][0] != -100].tolist()
    assert labelled == tok.encode(ex[0].answer, eos=True)


def test_continual_run_is_deterministic_and_grouping_keeps_separate_adapters():
    tok = tokenizer()
    model_config = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2)
    torch.manual_seed(0)
    state = build_llama(model_config, tok).state_dict()
    config = ContinualConfig(n_tasks=2, steps=4, batch_size=4, n_test=5, n_val=5, lengths=(3,), r=2)
    one = run_arm("grouping", state, model_config, config, 0, tok)
    two = run_arm("grouping", state, model_config, config, 0, tok)
    assert np.array_equal(one.matrix, two.matrix, equal_nan=True) and one.train_loss == two.train_loss
    assert one.groups == [0, 1] and len(one.alpha_mean) == 8
    other = run_arm("grouping", state, model_config, config, 1, tok)
    assert other.train_loss != one.train_loss


def test_arms_sharing_the_first_task_equal_their_own_runs_bit_for_bit():
    tok = tokenizer()
    model_config = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, init="fan_in")
    torch.manual_seed(0)
    state = build_llama(model_config, tok).state_dict()
    config = ContinualConfig(n_tasks=2, steps=4, batch_size=4, n_test=4, n_val=3, lengths=(3,), r=2, lr=3e-2)
    together = run_arms(("grouping", "lora", "joint", "dynamic_ema", "fixed_ema"), state, model_config, config, 0, tok)
    assert together["grouping"].groups == [0, 1]
    for arm in ("lora", "fixed_ema", "grouping"):  # dynamic EMA is grouping's first task, joint its own function
        res, alone = together[arm], run_arm(arm, state, model_config, config, 0, tok)
        assert np.array_equal(res.matrix, alone.matrix, equal_nan=True), arm
        assert res.train_loss == alone.train_loss and res.alpha_mean == alone.alpha_mean, arm
        assert (res.val_accuracy, res.val_loss, res.groups) == (alone.val_accuracy, alone.val_loss, alone.groups)
        for name in ("fallback_share", "ema_raw_gap"):
            mine, own = getattr(res, name), getattr(alone, name)
            assert mine == own or (math.isnan(mine) and math.isnan(own)), (arm, name)
    # the arms part at the first task's end: LoRA keeps the raw weights, the EMAs their own averages
    first = config.steps
    assert together["lora"].train_loss[:first] == together["fixed_ema"].train_loss[:first]
    assert together["lora"].train_loss[first:] != together["fixed_ema"].train_loss[first:]
    assert together["dynamic_ema"].alpha_mean[:first] == together["grouping"].alpha_mean[:first]
    assert together["dynamic_ema"].alpha_mean[:first] != together["fixed_ema"].alpha_mean[:first]
    assert math.isnan(together["lora"].ema_raw_gap)  # no EMA
    with pytest.raises(ValueError, match="arms"):
        run_arms(("lora", "ewc"), state, model_config, config, 0, tok)


def test_an_evaluation_on_unchanged_adapter_weights_is_reused(monkeypatch):
    from paperzoo.coin import continual

    tok = tokenizer()
    model_config = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, init="fan_in")
    torch.manual_seed(0)
    state = build_llama(model_config, tok).state_dict()
    config = ContinualConfig(n_tasks=2, steps=3, batch_size=4, n_test=4, n_val=3, lengths=(3,), r=2, lr=3e-2)
    calls = []

    def counted(model, tok_, examples, batch=256):
        calls.append(examples[0].task)
        return accuracy(model, tok_, examples, batch)

    monkeypatch.setattr(continual, "accuracy", counted)
    grouping = run_arm("grouping", state, model_config, config, 0, tok)
    # two groups, each trained once: every test task is decoded once, then the validation sets
    assert grouping.groups == [0, 1] and calls == [0, 1, 0, 1]
    assert grouping.matrix[1, 0] == grouping.matrix[0, 0]
    calls.clear()
    run_arm("lora", state, model_config, config, 0, tok)  # one adapter, changed by every task: no reuse
    assert calls == [0, 0, 1, 0, 1]


def test_arm_jobs_group_the_continual_arms_per_learning_rate():
    arms = ("lora", "fixed_ema", "joint", "grouping")
    assert arm_jobs(arms, (1e-3, 1e-2), one_job=False) == [
        (("lora", "fixed_ema", "grouping"), 1e-3), (("lora", "fixed_ema", "grouping"), 1e-2),
        (("joint",), 1e-3), (("joint",), 1e-2),
    ]  # fmt: skip
    assert arm_jobs(arms, (3e-3,), one_job=True) == [(arms, 3e-3)]
    assert arm_jobs(("joint",), (3e-3,), one_job=False) == [(("joint",), 3e-3)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"threshold": 1.2}, "threshold"), ({"fixed_alpha": -1.0}, "fixed_alpha"), ({"arms": ("ewc",)}, "arms"),
     ({"n_tasks": 7}, "n_tasks")],
)  # fmt: skip
def test_bad_continual_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContinualConfig(**kwargs)


# ------------------------------------------------------------------------------------------- the base model
def test_both_scales_pretrain_from_the_fan_in_init_and_the_base_is_cached_deterministically(tmp_path):
    assert SmokeConfig().pretrain.model.init == "fan_in" and FullConfig().pretrain.model.init == "fan_in"
    config = PretrainConfig(model=ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, init="fan_in"), steps=3,
                            batch_size=4)  # fmt: skip
    fresh = base_weights(config, (3,), None)
    assert all(torch.equal(v, base_weights(config, (3,), None)[k]) for k, v in fresh.items())
    built, loaded = base_weights(config, (3,), str(tmp_path)), base_weights(config, (3,), str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1
    assert all(torch.equal(v, built[k]) and torch.equal(v, loaded[k]) for k, v in fresh.items())
    other = base_weights(config, (4,), str(tmp_path))  # another stream (digit lengths): another cache file
    assert len(list(tmp_path.iterdir())) == 2 and not torch.equal(other["lm_head.weight"], fresh["lm_head.weight"])


def test_base_pretrains_on_the_given_threads_and_restores_the_callers():
    config = PretrainConfig(model=ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, init="fan_in"), steps=3,
                            batch_size=4)  # fmt: skip
    previous = torch.get_num_threads()
    one, two = base_weights(config, (3,), None, threads=1), base_weights(config, (3,), None, threads=2)
    assert torch.get_num_threads() == previous
    for k, v in one.items():  # the thread count is not part of the cache key: the weights must agree
        torch.testing.assert_close(two[k], v)
    with pytest.raises(ValueError, match="threads"):
        base_weights(config, (3,), None, threads=0)
    assert torch.get_num_threads() == previous
