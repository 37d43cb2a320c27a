"""The benchmark's learning-rate choice, race guard, claims and configs, the full pipeline on a micro config, and
the paper scale on a tiny stand-in model."""

import dataclasses
import json
import math

import pytest

from paperzoo.bone.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, full_claims, paper_claims
from paperzoo.bone.experiment import select_learning_rates
from paperzoo.bone.train import FinetuneConfig


def seed_metrics(steps: dict[str, tuple[float, float, float]], val: dict[str, tuple[float, float, float]]) -> dict:
    """Synthetic per-seed metrics for a 3-point grid (1e-3, 1e-2, 1e-1)."""
    m = {}
    for arm in steps:
        for lr, s, v in zip((1e-3, 1e-2, 1e-1), steps[arm], val[arm], strict=True):
            key = f"{arm}@{lr:g}"
            m |= {f"{key}/val_accuracy": v, f"{key}/val_loss": 1 - v, f"{key}/test_accuracy": v,
                  f"{key}/steps_to_target": s, f"{key}/mean_train_loss": 0.5, f"{key}/final_train_loss": 0.2,
                  f"{key}/trainable_params": 10.0, f"{key}/step_ms": 1.0}  # fmt: skip
    return m


def test_aggregate_picks_the_lr_by_validation_and_adds_the_race_guard():
    m = seed_metrics(
        {"bat": (90, 40, 151), "lora": (151, 80, 30), "pissa": (151, 151, 151)},
        {"bat": (0.2, 0.6, 0.1), "lora": (0.1, 0.5, 0.4), "pissa": (0.1, 0.3, 0.2)},
    )
    out = select_learning_rates([m, m], 0.0)[0]
    assert out["bat/lr"] == 1e-2 and out["bat/steps_to_target"] == 40 and out["bat/lr_at_edge"] == 0
    assert out["lora/lr"] == 1e-2 and out["lora/steps_to_target"] == 80  # chosen by validation, not by speed
    assert out["bat_vs_lora/fewest_steps"] == 40
    assert out["bat_vs_pissa/fewest_steps"] == 40
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [m, m])["claims"]]
    assert verdicts == ["reproduced", "reproduced", "reproduced"]


def test_claims_are_inconclusive_when_neither_arm_reaches_the_target_or_an_lr_is_at_the_edge():
    config = FullConfig()
    never = config.finetune.steps + 1.0
    m = seed_metrics(
        {"bat": (never,) * 3, "lora": (never,) * 3, "pissa": (never,) * 3},
        {"bat": (0.2, 0.6, 0.1), "lora": (0.1, 0.5, 0.4), "pissa": (0.3, 0.2, 0.1)},
    )
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [m])["claims"]]
    assert verdicts[0] == "inconclusive"  # neither bat nor LoRA got to the target loss
    assert verdicts[1] == "inconclusive"  # PiSSA's learning rate is the grid's smallest
    assert len(full_claims(config)) == 3


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FullConfig(methods=("bat", "adapter")), "methods"),
        (lambda: FullConfig(learning_rates=()), "learning_rates"),
        (lambda: FullConfig(learning_rates=(1e-3, -1.0)), "learning_rates"),
        (lambda: SmokeConfig(lr=0.0), "lr"),
        (lambda: PaperConfig(r=0), "r"),
        (lambda: PaperConfig(dtype="int8"), "dtype"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_full_claims_are_built_from_the_config():
    """The race guard's step budget and the target loss in the statement come from the config that ran."""
    short = FullConfig(finetune=FinetuneConfig(steps=40, batch_size=16, r=8, target_loss=0.5))
    m = seed_metrics(
        {"bat": (90, 45, 151), "lora": (151, 80, 30), "pissa": (151, 151, 151)},
        {"bat": (0.2, 0.6, 0.1), "lora": (0.1, 0.5, 0.4), "pissa": (0.1, 0.3, 0.2)},
    )
    default = BENCHMARK.summarize("full", [m], FullConfig())["claims"]
    cut = BENCHMARK.summarize("full", [m], short)["claims"]
    assert default[0]["verdict"] == "reproduced"
    assert cut[0]["verdict"] == "inconclusive"  # 45 steps: beyond a 40-step budget
    assert "0.5" in full_claims(short)[0].text and "0.3" in full_claims(FullConfig())[0].text


def test_smoke_claims_follow_the_methods_run():
    claims = BENCHMARK.claims["smoke"](SmokeConfig(methods=("bat", "pissa")))
    names = [c.text for c in claims]
    assert sum("zero init" in n for n in names) == 1 and sum("loss falls" in n for n in names) == 2


def test_paper_claims_compare_bat_with_the_baselines_run():
    assert len(paper_claims(PaperConfig())) == 4
    assert paper_claims(PaperConfig(methods=("lora",))) == ()
    m = {"bat/gsm8k/accuracy": 0.5, "lora/gsm8k/accuracy": 0.4, "bat/math/accuracy": 0.1, "lora/math/accuracy": 0.2}
    verdicts = [c.evaluate([m])["verdict"] for c in paper_claims(PaperConfig(methods=("bat", "lora")))]
    assert verdicts == ["reproduced", "not reproduced"]


def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path):
    """``run_paper`` end to end offline: a tiny random Llama + character tokenizer saved to disk, a generated
    MetaMathQA-style JSONL, GSM8K/MATH-style JSONLs; a few optimizer steps per method, then evaluation."""
    from paperzoo.shared.testbeds import math_sft

    model_dir = math_sft.write_stand_in(tmp_path / "model", d_model=32, d_ff=64)

    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path)

    train = write("train.jsonl", [{"query": f"{i}+1?", "response": "The answer is: 7"} for i in range(24)])
    gsm8k = write("gsm8k.jsonl", [{"question": "1+1?", "answer": "1+1=2\n#### 2"}] * 2)
    maths = write("math.jsonl", [{"problem": "x?", "solution": "so \\boxed{\\frac{1}{2}}"}] * 2)
    config = PaperConfig(
        base_model=str(model_dir), dataset=train, n_train=None, gsm8k=gsm8k, math=maths, max_length=256,
        batch_size=4, grad_accum=2, lr=1e-2, max_steps=3, max_new_tokens=8, eval_batch=2, r=8,
        methods=("bat", "lora"), dtype="float32", device="cpu",
    )  # fmt: skip
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)) == config
    result = BENCHMARK.run["paper"](config, 0)
    for method in ("bat", "lora"):
        assert len(result.series[f"{method}/train_loss"]) == 3
        assert all(math.isfinite(x) for x in result.series[f"{method}/train_loss"]), result.series
        assert result.series[f"{method}/train_loss"][-1] < result.series[f"{method}/train_loss"][0]
        for task in ("gsm8k", "math"):
            assert 0.0 <= result.metrics[f"{method}/{task}/accuracy"] <= 1.0
    # bat at r = 8: r * d_out per projection (q, k, v, o: 32; gate, up: 64; down: 32) x 2 layers
    assert result.metrics["bat/trainable_params"] == 2 * 8 * (4 * 32 + 2 * 64 + 32)


def test_full_scale_pipeline_on_a_micro_config_records_every_arm_deterministically():
    """``run_full`` end to end (tiny model, 4 steps): every method x learning rate is recorded, finite, and the
    same seed gives the same numbers."""
    import math

    from paperzoo.bone.experiment import run_full
    from paperzoo.bone.train import METHODS
    from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, PretrainConfig

    tiny = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2)
    config = FullConfig(
        pretrain=PretrainConfig(model=tiny, steps=5, batch_size=4, warmup=1, digits=(1,)),
        finetune=FinetuneConfig(steps=4, batch_size=4, r=4, n_train=40, n_val=4, n_test=4, digits=(1,), eval_batch=8),
        learning_rates=(1e-2,),
        cache_dir=None,
        n_base_eval=5,
    )
    first, second = run_full(config, 0), run_full(config, 0)
    for method in METHODS:
        assert math.isfinite(first.metrics[f"{method}@0.01/val_loss"])
        assert len(first.series[f"{method}@0.01/train_loss"]) == 4
    timing = ("step_ms",)
    assert {k: v for k, v in first.metrics.items() if not k.endswith(timing)} == {
        k: v for k, v in second.metrics.items() if not k.endswith(timing)
    }


def test_full_claims_follow_the_interval_rule_on_paired_seeds():
    """Per-seed values as after the learning-rate choice: bat's gains over LoRA in steps and exact match are
    judged by the paired interval over seeds, and a gain below one step / one test problem is inconclusive."""
    config = FullConfig()
    race, _, accuracy = full_claims(config)
    n_test = config.finetune.n_test

    def seed(bat_steps: float, lora_steps: float, bat_acc: float, lora_acc: float) -> dict:
        return {"bat/steps_to_target": bat_steps, "lora/steps_to_target": lora_steps,
                "bat_vs_lora/fewest_steps": min(bat_steps, lora_steps), "bat/test_accuracy": bat_acc,
                "lora/test_accuracy": lora_acc, "bat/lr_at_edge": 0.0, "lora/lr_at_edge": 0.0}  # fmt: skip

    def verdicts(*seeds: tuple[float, float, float, float]) -> tuple[str, str]:
        per_seed = [seed(*s) for s in seeds]
        return tuple(c.evaluate(per_seed, BENCHMARK.resolution_of)["verdict"] for c in (race, accuracy))

    # Seeds that differ a lot but with a consistent gain (5-7 steps, 3-5 test problems): reproduced (paired).
    assert verdicts(
        (60, 66, 0.30, 0.30 - 4 / n_test), (100, 105, 0.10, 0.10 - 3 / n_test), (80, 87, 0.20, 0.20 - 5 / n_test)
    ) == ("reproduced", "reproduced")
    # Half a step faster, and a third of a test problem lower, on average: within the resolution, inconclusive.
    assert verdicts((60, 61, 0.30, 0.30 + 1 / n_test), (100, 100, 0.10, 0.10), (80, 80.5, 0.20, 0.20)) == (
        "inconclusive",
        "inconclusive",
    )
    # The same mean gain as the first case, but one seed against it: the interval straddles zero.
    assert verdicts((60, 75, 0.30, 0.20), (100, 90, 0.10, 0.15), (80, 93, 0.20, 0.10))[0] == "inconclusive"
    # Consistently slower and worse by more than the resolution: not reproduced.
    assert verdicts((70, 60, 0.20, 0.25), (110, 100, 0.10, 0.16), (90, 80, 0.15, 0.21)) == (
        "not reproduced",
        "not reproduced",
    )
    assert BENCHMARK.resolution_of("bat/test_accuracy") == 1 / n_test
    assert BENCHMARK.resolution_of("bat/steps_to_target") == 1.0
