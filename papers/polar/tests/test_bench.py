"""Tests of the benchmark's configs and of the paper scale on a small stand-in model and data file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from paperzoo.polar.bench import BENCHMARK, CPUConfig, full_claims
from paperzoo.polar.encoding import REWARD_TEXT, REWARD_TOKEN
from paperzoo.polar.experiment import edge_gain, loglog_fit
from paperzoo.polar.paper import PaperConfig, run_paper


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_policies": 1}, "n_policies"),
        ({"held_out": 31}, "held_out"),
        ({"sizes": (500, 200)}, "sizes"),
        ({"lr_grid": (1e-3, 1e-4)}, "lr_grid"),
        ({"sweep_fractions": (1.5,)}, "sweep_fractions"),
    ],
)
def test_bad_config(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        CPUConfig(**kwargs)


def test_full_claims_cover_every_size_both_baselines_and_unseen_policies() -> None:
    config = BENCHMARK.scales["full"]
    texts = [c.text for c in full_claims(config)]
    for n in config.sizes:
        for split in ("seen", "unseen"):
            assert sum(f"with {n} preference pairs ({split} policies)" in t for t in texts) == 2
    assert any("largest" in t for t in texts) and any("compute" in t for t in texts)


def test_loglog_fit_recovers_a_power_law() -> None:
    compute = [1.0, 2.0, 4.0, 8.0]
    accuracy = [1 - 0.4 * c**-0.5 for c in compute]
    slope, corr = loglog_fit(compute, accuracy)
    assert slope == pytest.approx(-0.5) and corr == pytest.approx(-1.0)


def test_paper_scale_runs_on_a_stand_in(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    alphabet = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    raw = tokenizers.Tokenizer(tokenizers.models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    raw.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = tokenizers.decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>")
    tok.add_special_tokens({"additional_special_tokens": [REWARD_TEXT, REWARD_TOKEN]})
    tok.save_pretrained(tmp_path / "model")
    torch.manual_seed(0)
    LlamaForSequenceClassification(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            num_labels=1,
            pad_token_id=tok.pad_token_id,
        )
    ).save_pretrained(tmp_path / "model")
    rows = [
        {
            "prompt": [{"role": "user", "content": f"{a}+{a}?"}],
            "reference": [{"role": "assistant", "content": str(2 * a)}],
            "chosen": [{"role": "assistant", "content": str(2 * a)}],
            "rejected": [{"role": "assistant", "content": "no"}],
        }
        for a in range(6)
    ]
    data = tmp_path / "prefs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    config = PaperConfig(
        model=str(tmp_path / "model"),
        train_file=str(data),
        test_file=str(data),
        reward_token_id=tok.convert_tokens_to_ids(REWARD_TOKEN),
        max_length=64,
        max_response_length=16,
        lr=1e-3,
        dtype="float32",
        device="cpu",
    )
    result = run_paper(config, seed=0)
    assert set(result.metrics) == {"polar_noft/test_accuracy", "polar/test_accuracy"}
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert len(result.series["polar/train_loss"]) == 3 and all(
        math.isfinite(x) for x in result.series["polar/train_loss"]
    )


def test_edge_gain_is_the_margin_of_an_edge_over_the_interior():
    assert edge_gain([0.5, 0.6, 0.55, 0.52]) == 0.0  # interior best
    assert edge_gain([0.563, 0.553, 0.553, 0.56]) == pytest.approx(0.01)  # low edge best, flat: BT's seed 0 curve
    assert edge_gain([0.5, 0.55, 0.6, 0.7]) == pytest.approx(0.1)  # rising into the top edge: cut off
    assert edge_gain([0.6, 0.5, 0.6]) == pytest.approx(0.1)  # a tie between the edges goes to the smaller rate
    assert edge_gain([0.7]) == edge_gain([0.7, 0.6]) == 1.0  # no interior: never reads as flat
