"""The benchmark's learning-rate choice, race guard, claims and configs, and the full pipeline on a micro config."""

import pytest

from paperzoo.bone.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, aggregate, full_claims


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
    out = aggregate([m, m])[0]
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


def test_paper_scale_is_config_only():
    with pytest.raises(NotImplementedError, match="Llama-2-7b"):
        BENCHMARK.run(BENCHMARK.scales["paper"], 0)


def test_full_scale_pipeline_on_a_micro_config_records_every_arm_deterministically():
    """``run_full`` end to end (tiny model, 4 steps): every method x learning rate is recorded, finite, and the
    same seed gives the same numbers."""
    import math

    from paperzoo.bone.bench import run_full
    from paperzoo.bone.train import METHODS, FinetuneConfig
    from paperzoo.shared.torch.arithmetic_lm import ModelConfig, PretrainConfig

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
