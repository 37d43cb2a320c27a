"""The benchmark's learning-rate choice, claims, rank summaries and configs, the full pipeline on a micro config, and
the paper scale on a tiny stand-in model."""

import dataclasses
import json
import math

import pytest

from paperzoo.eva.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, full_claims, paper_claims
from paperzoo.eva.eva import EvaState
from paperzoo.eva.experiment import select_learning_rates
from paperzoo.eva.train import FinetuneConfig, eva_batches, loss_metrics, rank_metrics

LRS = (3e-3, 1e-2, 3e-2)
ARMS = ("lora", "pissa", "eva_rho1", "eva_rho2", "lora_alpha_r", "eva_rho2_alpha_r")
GRID = tuple((arm, LRS) for arm in ARMS)


def seed_metrics(early: dict, val: dict, test: dict | None = None, rank_std: float = 1.3) -> dict:
    m = {"eva_rho2/rank_std": rank_std, "eva_rho2/eva_converged": 1.0, "eva_rho2/budget_error": 0.0}
    for arm in early:
        for i, lr in enumerate(LRS):
            key = f"{arm}@{lr:g}"
            m |= {f"{key}/val_accuracy": val[arm][i], f"{key}/val_loss": 1 - val[arm][i],
                  f"{key}/test_accuracy": (test or val)[arm][i], f"{key}/early_train_loss": early[arm][i],
                  f"{key}/steps_to_target": 100.0, f"{key}/mean_train_loss": 0.5, f"{key}/final_train_loss": 0.2,
                  f"{key}/trainable_params": 10.0, f"{key}/step_ms": 1.0}  # fmt: skip
    return m


def test_aggregate_picks_each_lr_by_validation_and_the_claims_read_it():
    early = {"lora": (2.0, 1.6, 1.0), "pissa": (1.5, 1.4, 1.3), "eva_rho1": (1.8, 1.3, 1.2),
             "eva_rho2": (1.9, 1.4, 0.9), "lora_alpha_r": (2.0, 1.6, 1.0),
             "eva_rho2_alpha_r": (1.9, 1.7, 0.9)}  # fmt: skip
    val = {"lora": (0.05, 0.10, 0.02), "pissa": (0.08, 0.06, 0.0), "eva_rho1": (0.06, 0.12, 0.03),
           "eva_rho2": (0.05, 0.09, 0.04), "lora_alpha_r": (0.05, 0.10, 0.02),
           "eva_rho2_alpha_r": (0.05, 0.11, 0.04)}  # fmt: skip
    out = select_learning_rates([seed_metrics(early, val)] * 2, 0.0)[0]
    assert out["lora/lr"] == 1e-2 and out["lora/early_train_loss"] == 1.6  # by validation, not by early loss
    assert out["pissa/lr"] == 3e-3 and out["pissa/lr_at_edge"] == 1.0
    assert out["eva_rho2_alpha_r/val_loss"] == pytest.approx(0.89)  # the chosen run's validation loss is reported
    # the early-loss comparison reads EVA's run at LoRA's chosen rate, whatever EVA's own choice
    shifted = select_learning_rates([seed_metrics(early, {**val, "lora": (0.2, 0.1, 0.0)})], 0.0)[0]
    assert shifted["lora/lr"] == 3e-3 and shifted["eva_rho2/lr"] == 1e-2
    assert shifted["eva_rho2/early_train_loss_at_lora_lr"] == 1.9 and shifted["eva_rho2/early_train_loss"] == 1.4
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [seed_metrics(early, val)])["claims"]]
    # official rho=2: early 1.4 < 1.6 reproduced; test 0.09 >= 0.10 not; rho=1: 1.3 < 1.6, 0.12 >= 0.10;
    # alpha = r rho=2: early 1.7 < 1.6 not; test 0.11 >= 0.10 reproduced; ranks non-uniform
    assert verdicts == ["reproduced", "not reproduced", "reproduced", "reproduced", "not reproduced", "reproduced",
                        "reproduced"]  # fmt: skip


def test_claims_are_inconclusive_below_the_accuracy_guard_and_uniform_ranks_fail():
    early = {m: (2.0, 1.5, 1.0) for m in ARMS}
    val = {m: (0.01, 0.03, 0.02) for m in early}
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [seed_metrics(early, val, rank_std=0.0)])["claims"]]
    assert verdicts[:6] == ["inconclusive"] * 6
    assert verdicts[6] == "not reproduced"
    assert len(full_claims(FullConfig())) == 7
    # a grid without the alpha = r arms has only the headline's claims
    assert len(full_claims(FullConfig(lr_grid=GRID[:4]))) == 5


def test_loss_and_rank_metrics_hand_computed():
    config = FinetuneConfig(steps=6, early_steps=2, loss_window=2, target_loss=0.5)
    m = loss_metrics([2.0, 1.0, 0.6, 0.5, 0.4, 0.3], config)
    assert m == {"early_train_loss": 1.5, "mean_train_loss": 4.8 / 6, "final_train_loss": 0.35,
                 "steps_to_target": 5.0}  # fmt: skip
    state = EvaState(components={}, ranks={"a": 0, "b": 6, "c": 3}, base_ranks={"a": 3, "b": 3, "c": 3},
                     max_components={"a": 6, "b": 6, "c": 6}, groups={}, explained_variance_ratio={}, batches=4,
                     converged=True)  # fmt: skip
    r = rank_metrics(state)
    summary = (r["rank_min"], r["rank_max"], r["layers_changed"], r["layers_removed"], r["budget_error"])
    assert summary == (0, 6, 2, 1, 0)


def test_eva_batches_are_seeded_full_batches(tok):
    from paperzoo.shared.testbeds.arithmetic_lm import make_problems

    problems = make_problems(50, "-", (1, 2), 0)
    a, b, c = eva_batches(tok, problems, 16, 0), eva_batches(tok, problems, 16, 0), eva_batches(tok, problems, 16, 1)
    assert len(a) == 3 and all(x["input_ids"].shape[0] == 16 for x in a)
    assert all((x["input_ids"] == y["input_ids"]).all() for x, y in zip(a, b, strict=True))
    assert not (a[0]["input_ids"].shape == c[0]["input_ids"].shape and (a[0]["input_ids"] == c[0]["input_ids"]).all())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FullConfig(lr_grid=(("dora", LRS),)), "arm"),
        (lambda: FullConfig(lr_grid=(("lora_alpha_2", LRS),)), "arm"),
        (lambda: FullConfig(lr_grid=()), "lr_grid"),
        (lambda: FullConfig(lr_grid=(("lora", ()),)), "lr_grid"),
        (lambda: FullConfig(lr_grid=(("lora", (1e-3, -1.0)),)), "lr_grid"),
        (lambda: FullConfig(lr_grid=(("lora", (1e-2, 1e-3)),)), "lr_grid"),
        (lambda: FullConfig(lr_grid=(("lora", LRS), ("lora", LRS))), "twice"),
        (lambda: FullConfig(workers=0), "workers"),
        (lambda: SmokeConfig(lr=0.0), "lr"),
        (lambda: FinetuneConfig(early_steps=500), "early_steps"),
        (lambda: FinetuneConfig(r=0), "r"),
        (lambda: PaperConfig(tau=1.5), "tau"),
        (lambda: PaperConfig(methods=()), "methods"),
        (lambda: PaperConfig(max_steps=0), "max_steps"),
        (lambda: PaperConfig(dtype="int8"), "dtype"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_full_claims_are_built_from_the_config():
    """The early-loss window named by the claims is the config's."""
    short = FullConfig(finetune=FinetuneConfig(steps=50, early_steps=10))
    assert "first 10 steps" in full_claims(short)[0].text
    assert "first 30 steps, both at LoRA's chosen learning rate" in full_claims(FullConfig())[0].text


def test_smoke_claims_follow_the_methods_run():
    names = [c.text for c in BENCHMARK.claims["smoke"](SmokeConfig(methods=("lora", "pissa")))]
    assert sum("zero B" in n for n in names) == 1 and sum("loss falls" in n for n in names) == 2


def test_paper_claims_compare_eva_with_lora():
    assert len(paper_claims(PaperConfig())) == 4
    assert paper_claims(PaperConfig(methods=("eva_rho2",))) == ()
    m = {"eva_rho2/gsm8k/accuracy": 0.5, "lora/gsm8k/accuracy": 0.4, "eva_rho2/math/accuracy": 0.1,
         "lora/math/accuracy": 0.2}  # fmt: skip
    verdicts = [c.evaluate([m])["verdict"] for c in paper_claims(PaperConfig(methods=("lora", "eva_rho2")))]
    assert verdicts == ["reproduced", "not reproduced"]


def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path):
    """``run_paper`` end to end offline: a tiny random Llama + character tokenizer saved to disk, a generated
    MetaMathQA-style JSONL, GSM8K/MATH-style JSONLs; EVA on the response tokens, a few optimizer steps per method,
    then evaluation."""
    from paperzoo.shared.testbeds import math_sft

    model_dir = math_sft.write_stand_in(tmp_path / "model", d_model=32, d_ff=64)

    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path)

    train = write("train.jsonl", [{"query": f"{i}+{i}?", "response": f"{i} and {i}. The answer is: {2 * i}"}
                                  for i in range(32)])  # fmt: skip
    gsm8k = write("gsm8k.jsonl", [{"question": "1+1?", "answer": "1+1=2\n#### 2"}] * 2)
    maths = write("math.jsonl", [{"problem": "x?", "solution": "so \\boxed{\\frac{1}{2}}"}] * 2)
    config = PaperConfig(
        base_model=str(model_dir), dataset=train, gsm8k=gsm8k, math=maths, max_length=256, batch_size=4,
        grad_accum=2, lr=1e-2, max_steps=3, max_new_tokens=8, eval_batch=2, r=4, lora_alpha=4.0, svd_batch_size=4,
        methods=("lora", "eva_rho2"), dtype="float32", device="cpu",
    )  # fmt: skip
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)) == config
    result = BENCHMARK.run["paper"](config, 0)
    for method in ("lora", "eva_rho2"):
        losses = result.series[f"{method}/train_loss"]
        assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
        for task in ("gsm8k", "math"):
            assert 0.0 <= result.metrics[f"{method}/{task}/accuracy"] <= 1.0
    assert result.metrics["eva_rho2/budget_error"] == 0.0 and result.metrics["eva_rho2/eva_converged"] == 1.0
    assert len(result.series["eva_rho2/ranks"]) == 2 * 7  # every linear layer of both blocks
    # the same budget: EVA's redistributed ranks train as many LoRA parameters as uniform rank r would, or fewer
    assert result.metrics["eva_rho2/trainable_params"] <= 2 * result.metrics["lora/trainable_params"]


def test_eva_methods_need_a_state_and_share_lora_budget(tiny_llama):
    from paperzoo.eva.train import attach_method, trainable_parameter_count

    with pytest.raises(ValueError, match="eva_state"):
        attach_method(tiny_llama(), "eva_rho2", 4)
    with pytest.raises(ValueError, match="method"):
        attach_method(tiny_llama(), "adalora", 4)
    lora, pissa = attach_method(tiny_llama(), "lora", 4), attach_method(tiny_llama(), "pissa", 4)
    # r = 4 on q, k, v, o (32 x 32), up (32 -> 64), down (64 -> 32), 2 layers
    expected = 2 * 4 * (4 * 64 + 2 * 96)
    assert trainable_parameter_count(lora) == trainable_parameter_count(pissa) == expected


def test_full_scale_pipeline_on_a_micro_config_records_every_arm_deterministically():
    """``run_full`` end to end (tiny model, 4 steps): every arm x learning rate is recorded, finite, the EVA rank
    budget is kept, and the same seed gives the same numbers."""
    import math

    from paperzoo.eva.experiment import run_full
    from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, PretrainConfig

    tiny = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2)
    config = FullConfig(
        pretrain=PretrainConfig(model=tiny, steps=5, batch_size=4, warmup=1, digits=(1,)),
        finetune=FinetuneConfig(
            steps=4,
            batch_size=4,
            r=4,
            n_train=40,
            n_val=4,
            n_test=4,
            digits=(1,),
            early_steps=2,
            eval_batch=8,
            eva_batch_size=8,
        ),
        lr_grid=tuple((arm, (1e-2,)) for arm in ARMS),
        cache_dir=None,
        n_base_eval=5,
        workers=1,
    )
    first, second = run_full(config, 0), run_full(config, 0)
    for arm in ARMS:
        assert math.isfinite(first.metrics[f"{arm}@0.01/val_loss"])
        assert len(first.series[f"{arm}@0.01/train_loss"]) == 4
    assert first.metrics["eva_rho2/budget_error"] == 0.0
    # the two scalings of one method start from the same weights but train differently
    assert first.series["eva_rho2@0.01/train_loss"][0] == first.series["eva_rho2_alpha_r@0.01/train_loss"][0]
    assert first.series["eva_rho2@0.01/train_loss"][-1] != first.series["eva_rho2_alpha_r@0.01/train_loss"][-1]
    timing = ("step_ms", "_s")
    assert {k: v for k, v in first.metrics.items() if not k.endswith(timing)} == {
        k: v for k, v in second.metrics.items() if not k.endswith(timing)
    }


def test_full_claims_follow_the_interval_rule_and_the_rank_mechanism():
    """Per-seed values as after the learning-rate choice: paired intervals over seeds; a gain below one test problem
    is inconclusive; the rho = 2 comparisons need redistributed ranks (rank std > 0), the rho = 1 ones do not
    (the headline's arms only)."""
    config = FullConfig(lr_grid=GRID[:4])
    claims = full_claims(config)
    n_test = config.finetune.n_test

    def seed(lora_early: float, eva_early: float, lora_acc: float, eva_acc: float, rank_std: float) -> dict:
        m = {"lora/early_train_loss": lora_early, "lora/test_accuracy": lora_acc, "lora/lr_at_edge": 0.0,
             "eva_rho2/rank_std": rank_std, "eva_rho2/eva_converged": 1.0, "eva_rho2/budget_error": 0.0}  # fmt: skip
        for arm in ("eva_rho1", "eva_rho2"):
            m |= {f"{arm}/early_train_loss_at_lora_lr": eva_early, f"{arm}/test_accuracy": eva_acc,
                  f"{arm}/lr_at_edge": 0.0}  # fmt: skip
        return m

    def verdicts(*seeds: tuple[float, ...]) -> list[str]:
        return [c.evaluate([seed(*s) for s in seeds], BENCHMARK.resolution_of)["verdict"] for c in claims]

    # A consistent small early-loss gain across very different seeds; exact match 2-4 problems above LoRA's.
    gain = verdicts(
        (1.6, 1.55, 0.30, 0.30 + 3 / n_test, 1.2), (2.0, 1.96, 0.10, 0.10 + 2 / n_test, 1.4),
        (1.2, 1.14, 0.20, 0.20 + 4 / n_test, 1.0),
    )  # fmt: skip
    assert gain == ["reproduced"] * 5
    # Exact match a third of a test problem below LoRA's on average: within the resolution, inconclusive.
    close = verdicts((1.6, 1.5, 0.30, 0.30 - 1 / n_test, 1.2), (2.0, 1.92, 0.1, 0.1, 1.4), (1.2, 1.08, 0.2, 0.2, 1.0))
    assert close[1] == close[3] == "inconclusive"
    # Uniform ranks: the rho = 2 comparisons are inconclusive (mechanism), rho = 1's stand, redistribution fails.
    uniform = [seed(1.6, 1.5, 0.2, 0.25, 0.0), seed(2.0, 1.92, 0.1, 0.15, 0.0), seed(1.2, 1.05, 0.2, 0.26, 0.0)]
    results = [c.evaluate(uniform, BENCHMARK.resolution_of) for c in claims]
    assert [r["verdict"] for r in results] == ["inconclusive", "inconclusive", "reproduced", "reproduced",
                                               "not reproduced"]  # fmt: skip
    assert results[0]["detail"].startswith("mechanism did not act")
    assert BENCHMARK.resolution_of("eva_rho2/test_accuracy") == 1 / n_test


def test_scaling_settings_set_each_layers_scale(tiny_llama, loader):
    """Official EVA scripts: lora_alpha = 1 everywhere, EVA's alpha not adjusted, so layer l is scaled by 1 / rank_l
    (LoRA: 1 / r); alpha = r: every layer of every method is scaled by 1 (EVA's alpha adjusted to rank_l)."""
    from paperzoo.eva import EvaConfig, compute_eva_state
    from paperzoo.eva.train import TARGETS, attach_method, parse_arm

    state = compute_eva_state(tiny_llama(), loader, TARGETS, 4, EvaConfig(rho=2.0))
    assert len(set(state.ranks.values())) > 1
    for arm, expected in (("eva_rho2", lambda rank: 1 / rank), ("eva_rho2_alpha_r", lambda rank: 1.0),
                          ("lora", lambda rank: 1 / 4), ("lora_alpha_r", lambda rank: 1.0)):  # fmt: skip
        method, scaling = parse_arm(arm)
        model = attach_method(tiny_llama(), method, 4, state, scaling).get_base_model()
        for name, rank in state.ranks.items():
            if rank > 0 or method == "lora":
                layer = model.get_submodule(name)
                assert layer.scaling["default"] == pytest.approx(expected(layer.r["default"])), (arm, name)
                assert layer.r["default"] == (rank if method == "eva_rho2" else 4)
