"""The paper scale end to end offline: a tiny random LLaVA (CLIP vision tower + Llama) and its processor saved to
disk, two generated CoIN-format tasks with PNG images, every arm for its first steps."""

import dataclasses
import json
import math

import numpy as np
import pytest

from paperzoo.coin.bench import BENCHMARK, PaperConfig
from paperzoo.coin.paper import load_task

CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,?:\n"


def write_stand_in(folder):
    """A random 2-layer LLaVA with a character tokenizer and a 32 x 32 CLIP image processor (4 image tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", "<image>", *CHARS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )  # fmt: skip
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor=images, tokenizer=tok, patch_size=16, vision_feature_select_strategy="default",
        image_token="<image>", num_additional_image_tokens=1,
    )  # fmt: skip
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
            patch_size=16,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, pad_token_id=3, bos_token_id=1, eos_token_id=2,
        ),
        image_token_id=4, vision_feature_select_strategy="default", vision_feature_layer=-2,
    )  # fmt: skip
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)


def write_tasks(root):
    """Two CoIN-format tasks (train 6, test 3 each) with random 40 x 40 PNG images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    spec = {"ColorQA": "Answer the question using a single word.", "Caption": "Describe the image briefly."}
    for t, (task, instruction) in enumerate(spec.items()):
        for split, n in (("train", 6), ("test", 3)):
            items = []
            for k in range(n):
                name = f"{task}-{split}-{k}.png"
                Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / "images" / name)
                turns = [{"from": "human", "value": f"<image>\nWhat is shown {k}?\n{instruction}"},
                         {"from": "gpt", "value": "red"}]  # fmt: skip
                items.append({"id": f"{t}{k}", "image": name, "conversations": turns})
            (root / task).mkdir(exist_ok=True)
            (root / task / f"{split}.json").write_text(json.dumps(items))
    return tuple(spec)


def test_paper_scale_runs_every_arm_on_a_tiny_stand_in(tmp_path):
    write_stand_in(tmp_path / "model")
    tasks = write_tasks(tmp_path / "data")
    config = PaperConfig(
        base_model=str(tmp_path / "model"), data_dir=str(tmp_path / "data"), image_dir=str(tmp_path / "data/images"),
        tasks=tasks, lora_r=4, lora_alpha=8, lr=1e-2, batch_size=2, max_length=128, max_steps=3, eval_batch=2,
        max_new_tokens=3, threshold=0.3, dtype="float32", device="cpu",
    )  # fmt: skip
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)) == config
    result = BENCHMARK.run["paper"](config, 0)
    m, s = result.metrics, result.series
    for arm in config.arms:
        assert 0.0 <= m[f"{arm}/mean_accuracy"] <= 1.0 and math.isfinite(m[f"{arm}/forgetting"])
        assert len(s[f"{arm}/train_loss"]) == 6 and len(s[f"{arm}/a_row1"]) == 2  # 3 steps per task, 2 tasks
    assert len(s["dynamic_ema/alpha"]) == 6 and 0.0 <= m["dynamic_ema/fallback_share"] <= 1.0
    assert s["grouping/groups"] == [0.0, 1.0]  # disjoint instructions: a second group
    assert "lora/alpha_mean" not in m


def test_load_task_reads_the_coin_format_and_names_a_missing_file(tmp_path):
    write_tasks(tmp_path)
    records = load_task(tmp_path, "Caption", "test")
    assert len(records) == 3 and records[0].instruction == "Describe the image briefly."
    assert records[0].prompt.startswith("What is shown 0?") and records[0].answer == "red"
    with pytest.raises(ValueError, match="data_dir"):
        load_task(tmp_path, "Missing", "train")


@pytest.mark.parametrize(("kwargs", "match"), [({"arms": ("joint",)}, "arms"), ({"threshold": 2.0}, "threshold"),
                                               ({"max_steps": 0}, "max_steps"), ({"tasks": ()}, "tasks")])  # fmt: skip
def test_bad_paper_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PaperConfig(**kwargs)
