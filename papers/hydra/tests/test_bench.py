"""The learning-rate choice and per-method summaries, the claims' logic, the full pipeline on a micro config, and
the paper scale on a tiny stand-in model."""

import dataclasses

import numpy as np
import pytest

from paperzoo.hydra.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, full_claims
from paperzoo.hydra.experiment import select_learning_rates
from paperzoo.hydra.train import FinetuneConfig, ModelConfig, PretrainConfig

LRS = (1e-3, 3e-3, 1e-2)


def seed_metrics(acc: dict[str, tuple[float, float, float]], tasks=("a", "b")) -> dict:
    """Synthetic per-seed grid metrics: ``acc[method]`` = validation (= test) accuracy at each of LRS, all tasks."""
    m = {f"{t}/majority_rate": 0.2 for t in tasks}
    for method, values in acc.items():
        for t in tasks:
            for lr, v in zip(LRS, values, strict=True):
                key = f"{method}/{t}@{lr:g}"
                record = {"val_accuracy": v, "val_loss": 1 - v, "test_accuracy": v, "trainable_params": 10.0,
                          "final_train_loss": 0.1, "step_ms": 1.0}  # fmt: skip
                m |= {f"{key}/{k}": x for k, x in record.items()}
                if method == "hydra":
                    m |= {f"{key}/par_up_norm": 0.5, f"{key}/seq_up_norm": 0.4}
    return m


def test_aggregate_picks_each_tasks_lr_and_summarises_methods():
    m = seed_metrics({"hydra": (0.5, 0.8, 0.6), "lora": (0.9, 0.7, 0.6)})
    out = select_learning_rates([m], 0.0)[0]
    assert out["hydra/a/lr"] == 3e-3 and out["hydra/lr_edge_fraction"] == 0.0
    assert out["lora/b/lr"] == 1e-3 and out["lora/lr_edge_fraction"] == 1.0
    assert out["hydra/mean_test_accuracy"] == pytest.approx(0.8)
    assert out["lora/min_margin_over_majority"] == pytest.approx(0.7)
    assert out["hydra/seq_up_norm"] == 0.4 and "lora/seq_up_norm" not in out


def claim_verdicts(per_seed: list[dict], config: FullConfig) -> dict[str, str]:
    return {c.text: c.evaluate(per_seed, BENCHMARK.resolution_of)["verdict"] for c in full_claims(config)}


def summary(hydra: float, other: float, margin: float = 0.3) -> dict:
    m = {"hydra/mean_test_accuracy": hydra, "hydra/par_up_norm": 0.5, "hydra/seq_up_norm": 0.5}
    for arm, acc in (("hydra", hydra), *((o, other) for o in ("lora", "lora_bias", "par", "seq")),
                     ("probe", 0.3), ("full", 0.7)):  # fmt: skip
        m |= {f"{arm}/mean_test_accuracy": acc, f"{arm}/min_margin_over_majority": margin,
              f"{arm}/lr_edge_fraction": 0.0}  # fmt: skip
    return m


def test_full_claims_follow_the_interval_rule_and_guards():
    config = FullConfig()
    res = 1 / (config.finetune.n_test * len(config.tasks))
    better = [summary(0.70 + d, 0.70) for d in (20 * res, 25 * res, 30 * res)]
    assert set(claim_verdicts(better, config).values()) == {"reproduced"}
    worse = [summary(0.70 - d, 0.70) for d in (20 * res, 25 * res, 30 * res)]
    verdicts = list(claim_verdicts(worse, config).values())
    assert verdicts[:4] == ["not reproduced"] * 4 and verdicts[4] == "reproduced"
    tiny = [summary(0.70, 0.70 + 0.3 * res) for _ in range(3)]  # below one test image: inconclusive
    assert set(list(claim_verdicts(tiny, config).values())[:4]) == {"inconclusive"}
    at_chance = [summary(0.70 + 25 * res, 0.70, margin=-0.01) for _ in range(3)]  # guard: an arm at majority rate
    assert list(claim_verdicts(at_chance, config).values()) == ["inconclusive"] * 4 + ["not reproduced"]
    still = [summary(0.70 + 25 * res, 0.70) | {"hydra/seq_up_norm": 0.0} for _ in range(3)]  # mechanism: S never moved
    assert list(claim_verdicts(still, config).values())[:4] == ["inconclusive"] * 4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FullConfig(tasks=("digits_5_9", "svhn")), "tasks"),
        (lambda: FullConfig(lr_grid=(("adapter", (1e-3,)),)), "methods"),
        (lambda: FullConfig(lr_grid=(("hydra", ()),)), "lr_grid"),
        (lambda: SmokeConfig(lr=0.0), "lr"),
        (lambda: PaperConfig(rank=0), "rank"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


MICRO = FullConfig(
    pretrain=PretrainConfig(model=ModelConfig(hidden_size=16, layers=1, heads=2), steps=3, batch_size=16, warmup=1),
    finetune=FinetuneConfig(steps=3, batch_size=8, warmup=1, rank=2, n_train=16, n_val=8, n_test=8),
    tasks=("parity",),
    lr_grid=(("probe", (1e-2,)), ("hydra", (1e-2,)), ("lora", (1e-2,))),
    workers=1,
)


def test_full_pipeline_on_a_micro_config_is_deterministic():
    first, second = BENCHMARK.run["full"](MICRO, 0), BENCHMARK.run["full"](MICRO, 0)
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("step_ms")}  # noqa: E731
    assert strip(first.metrics) == strip(second.metrics)
    for method in ("probe", "hydra", "lora"):
        assert np.isfinite(first.metrics[f"{method}/parity@0.01/val_loss"])
        assert len(first.series[f"{method}/parity@0.01/train_loss"]) == 3
    assert first.metrics["hydra/parity@0.01/seq_up_norm"] > 0  # U moved away from zero in 3 steps


def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path):
    """``run_paper`` offline: a tiny 3-channel ViT checkpoint saved to disk and a generated VTAB-style ``.npz``."""
    from transformers import ViTConfig, ViTForImageClassification

    vit_config = ViTConfig(image_size=16, patch_size=4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32)  # fmt: skip
    ViTForImageClassification(vit_config).save_pretrained(tmp_path / "m")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cifar.npz", x_train=rng.integers(0, 256, (12, 20, 20, 3), dtype=np.uint8),
             y_train=rng.integers(0, 3, 12), x_test=rng.integers(0, 256, (6, 20, 20, 3), dtype=np.uint8),
             y_test=rng.integers(0, 3, 6))  # fmt: skip
    config = PaperConfig(base_model=str(tmp_path / "m"), data_dir=str(tmp_path), tasks=("cifar",), image_size=16,
                         batch_size=4, max_steps=2, device="cpu")  # fmt: skip
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)) == config
    result = BENCHMARK.run["paper"](config, 0)
    for method in ("lora", "hydra"):
        assert 0.0 <= result.metrics[f"{method}/mean_test_accuracy"] <= 1.0
