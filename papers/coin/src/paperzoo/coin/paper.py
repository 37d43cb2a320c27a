"""The paper scale: continual instruction tuning of LLaVA on CoIN-format data with this package's EMA and grouping.

A task is a folder ``<data_dir>/<task>/`` with ``train.json`` and ``test.json`` in the LLaVA / CoIN conversation
format (a list of ``{"image": <path under image_dir>, "conversations": [{"from": "human", "value":
"<image>\\n<question>\\n<instruction>"}, {"from": "gpt", "value": <answer>}]}``). Every arm starts from a fresh
``LlavaForConditionalGeneration`` (hub id or local folder) with a peft LoRA on the language model's linear
layers, trains the tasks in order (AdamW, warm-up + cosine per task, gradient clipping, the EMA update after
the optimizer step, ``replace()`` at the task's end) and scores greedy exact match on every task seen so far:
the accuracy matrix a[i][j]. The instruction of an example, for grouping, is the last line of its human turn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from paperzoo.coin.continual import ArmResult
from paperzoo.coin.ema import EMATracker
from paperzoo.coin.grouping import InstructionGrouper
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import warmup_cosine_schedule

if TYPE_CHECKING:
    from paperzoo.coin.bench import PaperConfig

LLAVA_LM_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
IMAGE = "<image>"
PAPER_ARMS = ("lora", "fixed_ema", "dynamic_ema", "grouping")


@dataclass(frozen=True)
class Record:
    """One example: an image path (or ``None``), the user's text (``<image>`` removed) and the answer."""

    image: str | None
    prompt: str
    answer: str

    @property
    def instruction(self) -> str:
        """The instruction template: the last line of the user's text."""
        return self.prompt.strip().splitlines()[-1]


def load_task(data_dir: str | Path, task: str, split: str, limit: int | None = None) -> list[Record]:
    """``<data_dir>/<task>/<split>.json`` as :class:`Record` (the first ``limit`` examples)."""
    path = Path(data_dir).expanduser() / task / f"{split}.json"
    if not path.is_file():
        raise ValueError(f"data_dir has no {task}/{split}.json (looked for {path})")
    out = []
    for item in json.loads(path.read_text())[:limit]:
        turns = item["conversations"]
        human = next(t["value"] for t in turns if t["from"] == "human")
        gpt = next(t["value"] for t in turns if t["from"] == "gpt")
        out.append(Record(item.get("image"), human.replace(IMAGE, "").strip(), gpt.strip()))
    if not out:
        raise ValueError(f"{path} holds no examples")
    return out


def _chat(record: Record) -> str:
    """The LLaVA-1.5 (Vicuna v1) prompt up to the assistant's turn."""
    image = f"{IMAGE}\n" if record.image else ""
    return f"USER: {image}{record.prompt} ASSISTANT:"


def _images(records: Sequence[Record], image_dir: str | Path) -> list[Any] | None:
    from PIL import Image

    if not any(r.image for r in records):
        return None
    return [Image.open(Path(image_dir).expanduser() / r.image).convert("RGB") for r in records if r.image]


def encode(
    processor: Any, records: Sequence[Record], image_dir: str | Path, max_length: int, train: bool
) -> dict[str, torch.Tensor]:
    """Processor inputs; with ``train`` the answer and ``</s>`` follow and ``labels`` hold them alone (right
    padding); without, left-padded prompts for generation."""
    tok = processor.tokenizer
    prompts = [_chat(r) for r in records]
    images = _images(records, image_dir)
    if not train:
        tok.padding_side = "left"
        return dict(processor(images=images, text=prompts, padding=True, return_tensors="pt"))
    tok.padding_side = "right"
    texts = [f"{p} {r.answer}{tok.eos_token}" for p, r in zip(prompts, records, strict=True)]
    batch = dict(processor(images=images, text=texts, padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt"))  # fmt: skip
    prompt_lens = processor(images=images, text=prompts, padding=True, return_tensors="pt")["attention_mask"].sum(1)
    labels = batch["input_ids"].clone()
    labels[torch.arange(labels.shape[1])[None] < prompt_lens[:, None]] = -100
    labels[batch["attention_mask"] == 0] = -100
    batch["labels"] = labels
    return batch


@torch.no_grad()
def exact_match(
    model: nn.Module, processor: Any, records: Sequence[Record], image_dir: str | Path, batch: int, max_new: int
) -> float:
    """Greedy exact match (case and surrounding space ignored) of the generated answer."""
    model.eval()
    hits = 0
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        inputs = {k: v.to(model.device) for k, v in encode(processor, chunk, image_dir, 0, train=False).items()}
        out = model.generate(**inputs, max_new_tokens=max_new, do_sample=False)
        texts = processor.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        hits += sum(t.strip().lower() == r.answer.lower() for t, r in zip(texts, chunk, strict=True))
    return hits / len(records)


def run_continual(arm: str, run: PaperConfig, model: nn.Module, processor: Any, seed: int) -> ArmResult:
    """One arm (``lora``, ``fixed_ema``, ``dynamic_ema``, ``grouping``) over ``run.tasks``: the accuracy matrix,
    the training losses, alpha_t per step (mean over tensors), the dynamic fallback share and the groups."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=run.lora_r, lora_alpha=run.lora_alpha, target_modules=LLAVA_LM_TARGETS, lora_dropout=0.05)
    torch.manual_seed(derive(seed, "lora-init"))
    peft_model = get_peft_model(model, lora, adapter_name="group0")
    grouper = InstructionGrouper(run.threshold) if arm == "grouping" else None
    tests = [load_task(run.data_dir, task, "test", run.eval_limit) for task in run.tasks]
    t = len(run.tasks)
    matrix, losses, alphas, groups = np.full((t, t), np.nan), [], [], []
    fallbacks = total = 0
    for i, task in enumerate(run.tasks):
        train = load_task(run.data_dir, task, "train")
        if grouper is not None:
            group, new = grouper.assign([r.instruction for r in train])
            if new and group > 0:
                torch.manual_seed(derive(seed, f"lora-init/{group}"))
                peft_model.add_adapter(f"group{group}", lora)
            peft_model.set_adapter(f"group{group}")
            groups.append(group)
        params = [p for p in peft_model.parameters() if p.requires_grad]
        tracker = None
        if arm != "lora":
            tracker = EMATracker(params, "fixed" if arm == "fixed_ema" else "dynamic", run.fallback_alpha)
        losses += _train_task(peft_model, params, processor, train, run, derive(seed, f"order/{i}"), tracker)
        if tracker is not None:
            alphas += tracker.alphas.mean(1).tolist()
            fallbacks += tracker.fallbacks
            total += tracker.alphas.numel()
            tracker.replace()
        for j in range(i + 1):
            if grouper is not None:
                peft_model.set_adapter(f"group{grouper.route([r.instruction for r in tests[j]])}")
            matrix[i, j] = exact_match(peft_model, processor, tests[j], run.image_dir, run.eval_batch,
                                       run.max_new_tokens)  # fmt: skip
    share = fallbacks / total if arm in ("dynamic_ema", "grouping") else math.nan
    return ArmResult(matrix, losses, alphas, share, math.nan, groups or [0] * t, math.nan)


def _train_task(
    model: nn.Module,
    params: list[nn.Parameter],
    processor: Any,
    train: Sequence[Record],
    run: PaperConfig,
    seed: int,
    tracker: EMATracker | None,
) -> list[float]:
    """``run.epochs`` shuffled epochs over ``train`` (at most ``run.max_steps`` steps), the official order:
    loss -> backward -> clip -> step -> EMA update."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(train), generator=gen) for _ in range(run.epochs)]).tolist()
    batches = [order[k : k + run.batch_size] for k in range(0, len(order), run.batch_size)][: run.max_steps]
    opt = torch.optim.AdamW(params, lr=run.lr, weight_decay=0.0)
    sched = warmup_cosine_schedule(opt, len(batches), math.ceil(run.warmup_ratio * len(batches)))
    model.train()
    losses = []
    for idx in batches:
        batch = encode(processor, [train[k] for k in idx], run.image_dir, run.max_length, train=True)
        loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, run.max_grad_norm)
        opt.step()
        sched.step()
        if tracker is not None:
            tracker.update()
        losses.append(loss.item())
    return losses
