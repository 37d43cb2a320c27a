"""Tests of meta-accel: fidelity gates on random decoders, selector maths and CV hygiene on the committed fixture
matrix, the disk cache, bad input. No speedup is asserted (timing is noisy)."""

import dataclasses

import numpy as np
import pytest
import torch

from paperzoo.meta_accel import meta
from paperzoo.meta_accel.accel import BY_NAME, Method, Output, fidelity, gate, get_methods
from paperzoo.meta_accel.bench import BENCHMARK
from paperzoo.meta_accel.experiment import ExperimentConfig, load_fixture, run
from paperzoo.meta_accel.models import ModelSpec, build_model
from paperzoo.meta_accel.timing import measure, measure_matrix
from paperzoo.meta_accel.workloads import TaskSpec, generate_tasks, make_inputs


@pytest.fixture(scope="module")
def fixture():
    return load_fixture()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_kv_cache_and_batching_are_token_exact_on_a_random_decoder(family):
    task = TaskSpec(ModelSpec(family, 64), 3, batch=3, prompt_len=8, gen_len=6)
    model, ids = build_model(task.model, 3), make_inputs(task, 0)
    eager = BY_NAME["eager"].apply(model)(ids, 6)
    for name in ("kv_cache", "batching", "batch_kv", "inference_mode"):
        out = BY_NAME[name].apply(model)(ids, 6)
        assert torch.equal(out.tokens, eager.tokens), name
        torch.testing.assert_close(out.logits, eager.logits, atol=1e-5, rtol=0)
        assert fidelity(BY_NAME[name], model, ids, 6)["passed"] == 1.0
    # The KV cache really is used: continuing from a cache of the prompt alone gives the next token directly.
    cached = model(input_ids=ids, use_cache=True)
    nxt = model(input_ids=eager.tokens[:, :1], cache=cached.past_key_values, use_cache=True).logits[:, -1]
    assert torch.equal(nxt.argmax(-1), eager.tokens[:, 1])


def test_int8_bf16_torchscript_gates_on_any_model():
    for spec in (ModelSpec("llama", 64), ModelSpec("mlp", 128), ModelSpec("cnn", 8, input_size=8)):
        task = TaskSpec(spec, 0, 4, *((8, 3) if spec.is_decoder else (0, 0)))
        model, x = build_model(spec, 0), make_inputs(task, 0)
        for name in ("int8", "bf16", "torchscript", "int8_batch_kv"):
            report = fidelity(BY_NAME[name], model, x, task.gen_len)
            assert report["passed"] == 1.0, (spec.family, name, report)
            assert (report["logit_error"] > 0) == (name != "torchscript" and not BY_NAME[name].exact) or (
                name == "torchscript" and report["logit_error"] < 1e-5
            )
    # int8 really quantizes the Linear layers (the logits move), and the model passed in is left untouched.
    model = build_model(ModelSpec("mlp", 128), 0)
    before = model.net[1].weight.clone()
    assert fidelity(BY_NAME["int8"], model, torch.randn(4, 64), 0)["logit_error"] > 1e-4
    assert torch.equal(model.net[1].weight, before)


def test_gate_rejects_changed_tokens_and_large_errors():
    ref = Output(torch.tensor([[1, 2]]), torch.tensor([[0.0, 1.0, 2.0]]))
    wrong_token = Output(torch.tensor([[1, 3]]), ref.logits)
    assert gate(BY_NAME["kv_cache"], wrong_token, ref)["passed"] == 0.0
    assert gate(BY_NAME["kv_cache"], ref, ref)["passed"] == 1.0
    far = Output(ref.tokens, ref.logits + torch.tensor([[0.0, 0.0, 1.0]]))  # error / std = 1.0 / 0.816 > 0.5
    assert gate(BY_NAME["int8"], far, ref)["passed"] == 0.0
    near = Output(torch.tensor([[9, 9]]), ref.logits + 0.1)  # approximate methods may change tokens
    assert gate(BY_NAME["int8"], near, ref)["passed"] == 1.0


def test_perfect_predictor_and_oracle_have_zero_regret(fixture):
    s = fixture.speedup
    choice, _ = meta.choices("oracle", fixture, fixture, 0)
    out = meta.selection_metrics(choice, s)
    assert np.all(out["regret"] == 0) and np.all(out["accuracy"] == 1)
    assert np.allclose(out["speedup"], s.max(1))
    worst = meta.one_hot(s.argmin(1), s.shape[1])
    assert np.allclose(meta.selection_metrics(worst, s)["regret"], 1 - s.min(1) / s.max(1))


def test_random_selector_expected_regret_is_the_row_mean(fixture):
    s = fixture.speedup
    choice, _ = meta.choices("random", fixture, fixture, 0)
    assert np.allclose(meta.selection_metrics(choice, s)["regret"], (1 - s / s.max(1, keepdims=True)).mean(1))


def test_isac_with_one_cluster_is_global_best(fixture):
    target = meta.log_speedup(fixture.speedup)
    x = meta.feature_matrix(fixture.tasks)
    scores = meta.isac_scores(x, target, x[:5], n_clusters=1, seed=0)
    global_best, _ = meta.choices("global_best", fixture, fixture.subset(np.arange(5)), 0)
    assert np.array_equal(meta.one_hot(scores.argmax(1), target.shape[1]), global_best)
    assert np.allclose(scores, target.mean(0))


def test_alors_full_rank_reconstructs_and_low_rank_does_not(fixture):
    target = meta.log_speedup(fixture.speedup)
    x = meta.feature_matrix(fixture.tasks)
    _, full = meta.alors_scores(x, target, x, rank=target.shape[1], seed=0)
    np.testing.assert_allclose(full, target, atol=1e-10)
    _, low = meta.alors_scores(x, target, x, rank=1, seed=0)
    assert np.abs(low - target).max() > 1e-3


def test_metainf_learns_the_training_matrix(fixture):
    target = meta.log_speedup(fixture.speedup)
    x = meta.feature_matrix(fixture.tasks)
    model = meta.MetaInf(seed=0).fit(x, fixture.methods, target, np.log(fixture.time_s))
    scores, log_time = model.predict(x)
    choice = meta.one_hot(scores.argmax(1), target.shape[1])
    assert meta.selection_metrics(choice, fixture.speedup)["accuracy"].mean() == 1.0
    assert np.abs(scores - target).mean() < 0.1 * np.abs(target - target.mean()).mean() + 0.02
    assert np.abs(log_time - np.log(fixture.time_s)).mean() < 0.2
    ranked = meta.MetaInf(seed=0, rank_weight=1.0, steps=200).fit(x, fixture.methods, target, np.log(fixture.time_s))
    r_scores, _ = ranked.predict(x)
    assert (r_scores.argmax(1) == target.argmax(1)).mean() >= 0.9


def test_budgeted_selection_never_exceeds_the_budget():
    rng = np.random.default_rng(0)
    scores, cost = rng.normal(size=(200, 6)), rng.uniform(0.1, 2.0, size=(200, 6))
    for budget in (0.2, 0.5, 1.0):
        pick = meta.select(scores, cost, budget, fallback=0)
        fits = (cost <= budget).any(1)
        rows = np.arange(200)
        assert np.all(cost[rows[fits], pick[fits]] <= budget)
        assert np.all(pick[~fits] == 0)
        best_fitting = np.where(cost <= budget, scores, -np.inf).max(1)
        assert np.allclose(scores[rows[fits], pick[fits]], best_fitting[fits])
    with pytest.raises(ValueError, match="budget"):
        meta.select(scores, cost, 0.0, fallback=0)


def test_grouped_folds_keep_groups_together_and_partition(fixture):
    groups = np.asarray([t.model.name for t in fixture.tasks])
    for repeat in meta.grouped_folds(groups, 3, 2, split_seed=7):
        rows = np.concatenate(repeat)
        assert sorted(rows) == list(range(len(groups)))
        sets = [set(groups[f]) for f in repeat]
        assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    a, b = meta.grouped_folds(groups, 3, 2, split_seed=7)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # repeats reshuffle
    with pytest.raises(ValueError, match="n_folds"):
        meta.grouped_folds(groups, len(set(groups)) + 1, 1, 0)


def test_no_test_task_is_in_a_training_fold(fixture, monkeypatch):
    seen = []
    original = meta.choices

    def spy(selector, train, test, seed, **kw):
        seen.append(
            ({t.name for t in train.tasks}, {t.name for t in test.tasks}, {t.model.family for t in train.tasks})
        )
        return original(selector, train, test, seed, **kw)

    monkeypatch.setattr(meta, "choices", spy)
    families = np.asarray([t.model.family for t in fixture.tasks])
    meta.evaluate_selectors(fixture, families, 0, len(set(families)), selectors=("global_best",), budget_quantiles=())
    assert len(seen) == len(set(families))
    for train, test, train_families in seen:
        assert not (train & test)
        assert not ({t.model.family for t in fixture.tasks if t.name in test} & train_families)


def test_evaluate_selectors_is_deterministic_and_orders_oracle_first(fixture):
    groups = np.asarray([t.model.name for t in fixture.tasks])
    kw = dict(selectors=("random", "global_best", "isac", "metainf", "oracle"), budget_quantiles=(0.5,))
    a = meta.evaluate_selectors(fixture, groups, 3, 2, 1, seed=1, **kw)
    assert a == meta.evaluate_selectors(fixture, groups, 3, 2, 1, seed=1, **kw)
    assert a["oracle/regret"] == 0.0
    assert all(a[f"{s}/regret"] >= 0 for s in kw["selectors"])
    assert a["oracle/budget_q0.5/satisfied"] >= a["metainf/budget_q0.5/satisfied"] - 0.5


def test_expert_rule():
    big = TaskSpec(ModelSpec("llama", 256, n_layer=4, vocab=2048), 0, 4, 8, 8)
    small_one = TaskSpec(ModelSpec("gpt2", 64), 0, 1, 8, 2)
    mlp = TaskSpec(ModelSpec("mlp", 64), 0, 32)
    names = tuple(BY_NAME)
    assert names[meta.expert_choice(big, names)] == "int8_batch_kv"
    assert names[meta.expert_choice(small_one, names)] == "eager"
    assert names[meta.expert_choice(mlp, names)] == "batching"


def test_matrix_cache_round_trip_and_machine_key(tmp_path, monkeypatch):
    tasks = [TaskSpec(ModelSpec("mlp", 32, input_size=16), 0, 2)]
    methods = get_methods(("eager", "batching"))
    first, info = measure_matrix(tasks, methods, repeats=1, warmup=0, cache_dir=str(tmp_path), clock="process")
    again, info2 = measure_matrix(tasks, methods, repeats=1, warmup=0, cache_dir=str(tmp_path), clock="process")
    assert info["cache_hit"] == 0.0 and info2["cache_hit"] == 1.0
    assert np.array_equal(first.time_s, again.time_s) and again.tasks == tasks
    monkeypatch.setattr("paperzoo.meta_accel.timing.machine_fingerprint", lambda: {"cpu": "another"})
    _, info3 = measure_matrix(tasks, methods, repeats=1, warmup=0, cache_dir=str(tmp_path), clock="process")
    assert info3["cache_hit"] == 0.0


def test_bad_input_raises():
    task = TaskSpec(ModelSpec("mlp", 32, input_size=16), 0, 2)
    methods = get_methods(("eager",))
    with pytest.raises(ValueError, match="repeats"):
        measure(task, methods, repeats=0)
    with pytest.raises(ValueError, match="threads"):
        measure(task, methods, threads=0)
    with pytest.raises(ValueError, match="methods"):
        get_methods(("eager", "warp_drive"))
    with pytest.raises(ValueError, match="methods"):
        ExperimentConfig(methods=("eager", "warp_drive"))
    with pytest.raises(ValueError, match="int8"):
        Method("x", int8=True, bf16=True)
    with pytest.raises(ValueError, match="n_tasks"):
        generate_tasks(0, 0)
    with pytest.raises(ValueError, match="family"):
        ModelSpec("rnn", 32)


def test_paper_scale_starts_on_local_stand_in_decoders(tmp_path):
    paths = []
    for family in ("gpt2", "llama"):
        path = tmp_path / family
        build_model(ModelSpec(family, 32, vocab=128), 0).save_pretrained(path)
        paths.append(str(path))
    config = dataclasses.replace(
        BENCHMARK.scales["paper"],
        hub_models=tuple(paths),
        n_tasks=8,
        nodes=("small",),
        methods=("eager", "batching", "kv_cache"),
        repeats=1,
        warmup=0,
        n_folds=2,
        n_repeats=1,
        selectors=("random", "global_best", "metainf", "oracle"),
        metainf_steps=5,
        perf_tasks=0,
        cache_dir=None,
        clock="process",
        device="cpu",
    )
    result = run(config, 0)
    assert result.metrics["matrix/gate_pass_rate"] == 1.0
    assert result.metrics["cv/oracle/regret"] == 0.0
    assert len(result.series["matrix/eager/speedup"]) == result.metrics["matrix/n_tasks"]


def test_non_degeneracy_counts_only_clear_winners():
    from paperzoo.meta_accel.experiment import n_methods_best

    s = np.asarray([[1.0, 2.0, 2.01, 1.0], [1.0, 1.0, 1.0, 3.0], [1.0, 2.02, 2.0, 1.0], [1.5, 1.0, 1.0, 1.0]])
    assert n_methods_best(s) == 2  # the twins (columns 1, 2) never win by > 3 %
    assert n_methods_best(s, tie=0.0) == 4
