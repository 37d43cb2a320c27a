"""The paper scale: fine-tune a POLAR checkpoint on a preference JSONL file with the official recipe (GPU).

Data: one JSON object per line in the official format, ``{"prompt": [{"role", "content"}, ...], "reference": [...],
"chosen": [...], "rejected": [...], "wrapper": "sft" | "pretrain" (optional)}``; each field's contents are joined
with "\\n" (as xtuner does). Model: ``AutoModelForSequenceClassification`` with one label (a local directory or a
hub name), its tokenizer, and the official reward token id. Recipe: the official POLAR-7B config (max length
16384, responses 4096, AdamW lr 2e-5, betas (0.9, 0.95), no weight decay, clipping at 1, 1 epoch, 3% warm-up,
cosine to 0.1 lr). Metric: pairwise accuracy on the test file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from paperzoo.polar.encoding import WRAPPERS, encode_polar
from paperzoo.polar.model import PolarRM
from paperzoo.polar.training import TrainConfig, pairwise_accuracy, train_rm
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_one_of, check_positive_int


@dataclass(frozen=True)
class PaperConfig:
    """POLAR-7B fine-tuning (the official xtuner config ``POLAR_7B_full_varlenattn_custom_dataset.py``)."""

    model: str = "internlm/POLAR-7B-Base"
    train_file: str = "preferences-train.jsonl"
    test_file: str = "preferences-test.jsonl"
    reward_token_id: int = 92527  # [UNUSED_TOKEN_130] of the InternLM2 tokenizer
    max_length: int = 16384
    max_response_length: int = 4096
    lr: float = 2e-5
    epochs: int = 1
    batch_size: int = 2  # pairs per optimizer step: 1 packed batch per device x 2 accumulation steps
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        for name in ("max_length", "max_response_length", "epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))
        check_one_of("dtype", self.dtype, ("float32", "bfloat16", "float16"))
        TrainConfig(lr=self.lr, epochs=self.epochs, batch_size=self.batch_size)


def load_pairs(path: str | Path, tokenizer: Any, config: PaperConfig) -> list[tuple[list[int], list[int]]]:
    """(chosen, rejected) ids of every line of an official-format preference JSONL file."""
    pairs = []
    for line in Path(path).expanduser().read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text = {k: "\n".join(m["content"] for m in row[k]) for k in ("prompt", "reference", "chosen", "rejected")}
        wrapper = check_one_of("wrapper", row.get("wrapper", "sft"), WRAPPERS)
        chosen, rejected = encode_polar(
            text["prompt"],
            text["reference"],
            [text["chosen"], text["rejected"]],
            tokenizer,
            wrapper=wrapper,
            max_length=config.max_length,
            max_response_length=config.max_response_length,
            reward_token_id=config.reward_token_id,
        )
        pairs.append((chosen, rejected))
    if not pairs:
        raise ValueError(f"no preference pairs in {path}")
    return pairs


def load_model(config: PaperConfig) -> tuple[Any, torch.nn.Module]:
    """The tokenizer and the one-label sequence-classification model of ``config.model``.

    A local directory is read without the hub, through the class its config names (the Auto classes import
    every architecture, which costs a minute on a small CPU); a hub name goes through the Auto classes.
    """
    import transformers

    dtype = getattr(torch, config.dtype)
    path = Path(config.model).expanduser()
    if path.is_dir() and (path / "tokenizer.json").is_file() and (path / "config.json").is_file():
        arch = (json.loads((path / "config.json").read_text()).get("architectures") or [""])[0]
        if arch.endswith("ForSequenceClassification"):
            tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))
            model = getattr(transformers, arch).from_pretrained(path, num_labels=1, dtype=dtype, local_files_only=True)
            return tokenizer, model
    tokenizer = transformers.AutoTokenizer.from_pretrained(config.model, trust_remote_code=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        config.model, num_labels=1, trust_remote_code=True, dtype=dtype
    )
    return tokenizer, model


def run_paper(config: PaperConfig, seed: int) -> Result:
    """Fine-tune ``config.model`` on the train file; pairwise accuracy on the test file before and after."""
    tokenizer, backbone = load_model(config)
    if backbone.config.pad_token_id is None:
        backbone.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rm = PolarRM(backbone).to(config.device)
    train, test = load_pairs(config.train_file, tokenizer, config), load_pairs(config.test_file, tokenizer, config)
    before = pairwise_accuracy(rm, test, batch_size=1)
    torch.manual_seed(derive(seed, "paper"))
    losses = train_rm(
        rm,
        train,
        TrainConfig(lr=config.lr, epochs=config.epochs, batch_size=config.batch_size, start_factor=config.lr * 0.1),
        derive(seed, "finetune order"),
    )
    after = pairwise_accuracy(rm, test, batch_size=1)
    return Result(
        metrics={"polar_noft/test_accuracy": before, "polar/test_accuracy": after},
        series={"polar/train_loss": losses},
    )
