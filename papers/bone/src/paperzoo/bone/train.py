"""The CPU-scale experiment: a tiny Llama pretrained here on addition (cached on disk by its config hash),
then fine-tuned on subtraction by each method — Bone ``bat`` (the paper), Bone ``bone`` (peft's default),
LoRA and PiSSA (Hugging Face peft) at matched trainable parameters, and full fine-tuning.

``transformers`` and ``peft`` are imported inside the functions that need them (importing them costs
seconds), so that ``paperzoo.bone`` itself imports only torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.bone.adapter import LLAMA_TARGETS, BoneConfig, apply_bone, target_shapes, trainable_parameter_count
from paperzoo.bone.layer import matched_lora_rank
from paperzoo.bone.task import CharTokenizer, Problem, exact_match, lm_batch, make_problems, max_trace_tokens
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

log = logging.getLogger("paperzoo.bone")

METHODS = ("bat", "bone", "lora", "pissa", "full")
DEFAULT_CACHE_DIR = "~/.cache/paperzoo/bone"


@dataclass(frozen=True)
class ModelConfig:
    """A tiny ``LlamaForCausalLM`` (the brief: 4 layers, d = 128, d_ff = 256, 4 heads; tied embeddings)."""

    n_layer: int = 4
    d_model: int = 128
    d_ff: int = 256
    n_head: int = 4
    max_positions: int = 64

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "d_ff", "n_head", "max_positions"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model must be a multiple of n_head, got {self.d_model} and {self.n_head}")


def build_llama(config: ModelConfig, tok: CharTokenizer) -> nn.Module:
    """A randomly initialised ``transformers.LlamaForCausalLM`` of ``config`` (no dropout)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=tok.vocab_size,
            hidden_size=config.d_model,
            intermediate_size=config.d_ff,
            num_hidden_layers=config.n_layer,
            num_attention_heads=config.n_head,
            num_key_value_heads=config.n_head,
            max_position_embeddings=config.max_positions,
            tie_word_embeddings=True,
            pad_token_id=tok.pad_id,
            bos_token_id=tok.bos_id,
            eos_token_id=tok.eos_id,
        )
    )


def lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the trace tokens (labels != -100)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(), ignore_index=-100)


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps`` (HF's ``cosine``)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ------------------------------------------------------------------------------------------- pretraining
@dataclass(frozen=True)
class PretrainConfig:
    """Next-token pretraining of the base model on addition traces (full-parameter AdamW)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 50
    digits: tuple[int, ...] = (1, 2, 3)
    seed: int = 1234

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive("lr", self.lr)
        check_non_negative("warmup", self.warmup)

    def key(self) -> str:
        """A hash of every field (and the model class): the cache file name of the pretrained weights."""
        text = json.dumps({"format": 1, "arch": "LlamaForCausalLM", **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def pretrain(config: PretrainConfig, tok: CharTokenizer) -> tuple[nn.Module, list[float]]:
    """Pretrain a fresh tiny Llama on a stream of random addition problems; return it and its loss curve."""
    torch.manual_seed(config.seed)
    model = build_llama(config.model, tok)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    sched = cosine_schedule(opt, config.steps, config.warmup)
    rng = random.Random(config.seed)
    losses = []
    for _ in range(config.steps):
        problems = make_problems(config.batch_size, "+", config.digits, rng.randrange(2**31))
        loss = lm_loss(model, lm_batch(tok, problems))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return model, losses


def pretrained_base(
    config: PretrainConfig, tok: CharTokenizer, cache_dir: str | Path | None = DEFAULT_CACHE_DIR
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The pretrained base weights, from ``cache_dir/base-<config hash>.pt`` when present, else trained and cached.

    The cache is safe to delete (it is rebuilt, bit for bit on the same machine and versions); ``cache_dir=None``
    disables it. Returns the state dict and ``info`` (``cache_hit``, ``pretrain_s``, ``final_loss``, ``path``).
    """
    path = None if cache_dir is None else Path(cache_dir).expanduser() / f"base-{config.key()}.pt"
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return saved["state"], {**saved["info"], "cache_hit": 1.0, "path": str(path)}
    start = time.perf_counter()
    model, losses = pretrain(config, tok)
    info = {"pretrain_s": time.perf_counter() - start, "final_loss": sum(losses[-20:]) / len(losses[-20:])}
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{time.time_ns()}.tmp")
        torch.save({"state": state, "info": info, "config": dataclasses.asdict(config)}, tmp)
        tmp.replace(path)
    return state, {**info, "cache_hit": 0.0, "path": str(path)}


# ------------------------------------------------------------------------------------------- methods
def lora_ranks(model: nn.Module, r: int, targets: Sequence[str] = LLAMA_TARGETS) -> dict[str, int]:
    """Per target name, the LoRA rank matching a Bone layer of block size r: round(r d_out / (d_in + d_out))."""
    shapes = target_shapes(model, tuple(targets))
    ranks: dict[str, int] = {}
    for t in targets:
        d_in, d_out = next(s for name, s in shapes.items() if name == t or name.endswith("." + t))
        ranks[t] = max(1, round(matched_lora_rank(d_in, d_out, r)))
    return ranks


def attach_method(
    model: nn.Module, method: str, r: int, targets: Sequence[str] = LLAMA_TARGETS
) -> tuple[nn.Module, nn.Module]:
    """Prepare ``model`` for fine-tuning by ``method``; return (the module to call, the module to train).

    - ``bat`` / ``bone``: :func:`apply_bone` with block size r (our code).
    - ``lora`` / ``pissa``: peft ``LoraConfig`` with per-layer ranks matching Bone's parameters
      (:func:`lora_ranks`), ``lora_alpha = rank`` (scaling 1, as the official scripts: rank 32, alpha 32),
      dropout 0; PiSSA = ``init_lora_weights="pissa"`` (exact SVD; the paper's scripts use ``pissa_niter_4``).
    - ``full``: every parameter trains.
    The callable is the plain ``transformers`` model in every case (peft injects its layers in place).
    """
    check_one_of("method", method, METHODS)
    if method in ("bat", "bone"):
        apply_bone(model, BoneConfig(target_modules=tuple(targets), r=r, variant=method))
        return model, model
    if method == "full":
        model.requires_grad_(True)
        return model, model
    from peft import LoraConfig, get_peft_model

    ranks = lora_ranks(model, r, targets)
    base_rank = ranks[targets[0]]
    config = LoraConfig(
        r=base_rank,
        lora_alpha=base_rank,
        target_modules=list(targets),
        rank_pattern={t: k for t, k in ranks.items() if k != base_rank},
        alpha_pattern={t: k for t, k in ranks.items() if k != base_rank},
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=True if method == "lora" else "pissa",
    )
    peft_model = get_peft_model(model, config)
    return peft_model.get_base_model(), peft_model


# ------------------------------------------------------------------------------------------- fine-tuning
@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning on subtraction: AdamW (no weight decay), cosine decay without warm-up (the paper's recipe)."""

    steps: int = 150
    batch_size: int = 32
    r: int = 8
    n_train: int = 2000
    n_val: int = 200
    n_test: int = 500
    digits: tuple[int, ...] = (1, 2, 3)
    target_loss: float = 0.1
    loss_window: int = 10
    eval_batch: int = 256

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "r", "n_train", "n_val", "n_test", "loss_window", "eval_batch"):
            check_positive_int(name, getattr(self, name))
        check_positive("target_loss", self.target_loss)


@dataclass
class FinetuneResult:
    train_loss: list[float]
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    trainable_params: int
    train_s: float
    step_ms: float
    init_logit_max_diff: float = math.nan


def steps_to_target(losses: Sequence[float], target: float, window: int) -> int:
    """The first step t (1-based) at which the mean loss of steps t-window+1..t is <= target; len + 1 if never."""
    for t in range(window, len(losses) + 1):
        if sum(losses[t - window : t]) / window <= target:
            return t
    return len(losses) + 1


@torch.no_grad()
def greedy_completions(model: nn.Module, tok: CharTokenizer, problems: Sequence[Problem], batch: int) -> list[str]:
    """Greedy decoding with the KV cache; prompts are grouped by length, so no padding is ever needed."""
    max_new = max_trace_tokens(max(len(str(p.a)) for p in problems))
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(len(p.prompt), []).append(i)
    out: list[str] = [""] * len(problems)
    for idx in groups.values():
        for start in range(0, len(idx), batch):
            chunk = idx[start : start + batch]
            ids = torch.tensor([tok.encode(problems[i].prompt, bos=True) for i in chunk])
            res = model(input_ids=ids, use_cache=True)
            cache, nxt = res.cache, res.logits[:, -1].argmax(-1)
            new = [nxt]
            done = nxt == tok.eos_id
            for _ in range(max_new - 1):
                if bool(done.all()):
                    break
                res = model(input_ids=nxt[:, None], cache=cache, use_cache=True)
                cache, nxt = res.cache, res.logits[:, -1].argmax(-1)
                new.append(nxt)
                done |= nxt == tok.eos_id
            gen = torch.stack(new, dim=1)
            for row, i in enumerate(chunk):
                out[i] = tok.decode(gen[row].tolist())
    return out


def accuracy(model: nn.Module, tok: CharTokenizer, problems: Sequence[Problem], batch: int) -> float:
    """Greedy exact match on ``problems``."""
    texts = greedy_completions(model, tok, problems, batch)
    return sum(exact_match(p, t) for p, t in zip(problems, texts, strict=True)) / len(problems)


@torch.no_grad()
def eval_loss(model: nn.Module, tok: CharTokenizer, problems: Sequence[Problem], batch: int) -> float:
    """Token-weighted mean trace cross-entropy."""
    total, count = 0.0, 0
    for start in range(0, len(problems), batch):
        b = lm_batch(tok, problems[start : start + batch])
        n = int((b["labels"][:, 1:] != -100).sum())
        total += float(lm_loss(model, b)) * n
        count += n
    return total / count


@dataclass(frozen=True)
class Splits:
    train: list[Problem]
    val: list[Problem]
    test: list[Problem]


def subtraction_splits(config: FinetuneConfig, seed: int) -> Splits:
    """Disjoint train / validation / test subtraction problems, drawn from ``seed``."""
    train = make_problems(config.n_train, "-", config.digits, 10_000 + seed)
    val = make_problems(config.n_val, "-", config.digits, 20_000 + seed, exclude=set(train))
    test = make_problems(config.n_test, "-", config.digits, 30_000 + seed, exclude=set(train) | set(val))
    return Splits(train, val, test)


def finetune(
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    method: str,
    lr: float,
    config: FinetuneConfig,
    splits: Splits,
    seed: int,
    tok: CharTokenizer,
    evaluate: bool = True,
    probe: torch.Tensor | None = None,
) -> FinetuneResult:
    """Fine-tune a fresh copy of the base weights by ``method`` at learning rate ``lr``; evaluate greedily.

    The batch order depends on ``seed`` only, so every method and learning rate sees the same batches. With
    ``probe`` (input ids), ``init_logit_max_diff`` is max |logits after attaching - base logits| at step 0.
    """
    check_positive("lr", lr)
    torch.manual_seed(seed)
    model = build_llama(model_config, tok)
    model.load_state_dict(base_state)
    model.eval()
    base_logits = None
    if probe is not None:
        with torch.no_grad():
            base_logits = model(input_ids=probe).logits
    forward, trained = attach_method(model, method, config.r)
    init_diff = math.nan
    if base_logits is not None:
        with torch.no_grad():
            init_diff = float((forward(input_ids=probe).logits - base_logits).abs().max())
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = cosine_schedule(opt, config.steps)
    rng = random.Random(seed)
    forward.train()
    losses = []
    start = time.perf_counter()
    for _ in range(config.steps):
        loss = lm_loss(forward, lm_batch(tok, rng.sample(splits.train, config.batch_size)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - start
    forward.eval()
    val_acc = val_loss = test_acc = math.nan
    if evaluate:
        val_acc = accuracy(forward, tok, splits.val, config.eval_batch)
        val_loss = eval_loss(forward, tok, splits.val, config.eval_batch)
        test_acc = accuracy(forward, tok, splits.test, config.eval_batch)
    return FinetuneResult(
        train_loss=losses,
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        trainable_params=trainable_parameter_count(trained),
        train_s=train_s,
        step_ms=1000 * train_s / config.steps,
        init_logit_max_diff=init_diff,
    )
