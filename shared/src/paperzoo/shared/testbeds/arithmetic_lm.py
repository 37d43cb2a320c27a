"""Testbed: fine-tuning a tiny causal LM on generated arithmetic with column traces (torch, transformers).

Task: pretrain on addition, then fine-tune on subtraction (a skill the base model has never seen);
    generated problems, split by a seed into train / validation / test (:func:`subtraction_splits`).
Model: a tiny ``LlamaForCausalLM`` built from a config (:class:`ModelConfig`, no download) with a character
    tokenizer, pretrained here once and cached on disk (:func:`pretrained_base`).
Metrics: training-loss curve and steps to a loss target, validation loss, greedy exact match on held-out
    problems (:func:`finetune`, :func:`accuracy`).
Used by: bone, eva, coin, dynaicl, guiding-giants, polar.

bone and eva use the arithmetic task; coin, dynaicl and guiding-giants the tokenizer with their own alphabet
(or words), the model and the cache with their own pretraining streams (coin and guiding-giants also
:func:`text_batch`; polar the model shape of its reward model). Reuse beyond arithmetic: :class:`CharTokenizer`
takes any alphabet (``chars``) and :func:`pretrained_base` any batch stream (``stream`` + ``stream_name``, which
key the cache), so a paper with
word instructions pretrains and caches its own base model on the same tiny Llama.

A problem is a prompt ``a<op>b=``
and a trace that works one column at a time, least significant digit first, then the answer::

    47+85=   7+5=2 c1|4+8+1=3 c1|=132
    85-47=   5-7=8 c1|8-4-1=3 c0|=38

Each column is ``x<op>y[<op>1]=<digit> c<carry>`` where the third term is the incoming carry (addition) or
borrow (subtraction), and ``c`` flags the outgoing one. Subtraction keeps ``a >= b``. The ``-`` token is
in the vocabulary from the start but never appears in pretraining: its embedding is untrained.

``transformers`` is imported inside :func:`build_llama` only (importing it costs seconds).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.cache import cached, config_key
from paperzoo.shared.torch import warmup_cosine_schedule
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

DEFAULT_CACHE_DIR = "~/.cache/paperzoo/arithmetic-lm"
log = logging.getLogger("paperzoo.arithmetic_lm")


PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
CHARS = tuple("0123456789+-=| c")
OPS = ("+", "-")


class CharTokenizer:
    """One token per character of ``chars``, after ``<pad>`` (0), ``<bos>`` (1) and ``<eos>`` (2).

    ``chars`` defaults to the arithmetic traces' ``0-9 + - = | space c`` (:data:`CHARS`, ids 3..18); a paper whose
    text is words passes its own alphabet (e.g. ``"abcdefghijklmnopqrstuvwxyz0123456789 :="``). ``ValueError``
    when ``chars`` is empty, repeats a character or holds a string that is not one character.
    """

    def __init__(self, chars: Sequence[str] = CHARS) -> None:
        chars = tuple(chars)
        if not chars or any(len(ch) != 1 for ch in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"chars must be distinct single characters (at least one), got {chars!r}")
        self.chars = chars
        self.tokens: tuple[str, ...] = (PAD, BOS, EOS, *chars)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; ``ValueError`` naming a character outside the vocabulary."""
        bad = [ch for ch in text if ch not in self.index]
        if bad:
            raise ValueError(f"text contains {bad[0]!r}, which the tokenizer cannot encode: {text!r}")
        return [self.bos_id] * bos + [self.index[ch] for ch in text] + [self.eos_id] * eos

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` up to the first ``<eos>``, skipping ``<pad>`` and ``<bos>``."""
        out = []
        for i in map(int, ids):
            if i == self.eos_id:
                break
            if i > self.eos_id:
                out.append(self.tokens[i])
        return "".join(out)


@dataclass(frozen=True)
class Problem:
    """``a op b`` with ``op`` in {"+", "-"} (``a >= b`` for "-")."""

    a: int
    b: int
    op: str = "+"

    def __post_init__(self) -> None:
        check_one_of("op", self.op, OPS)
        if self.a < 0 or self.b < 0 or (self.op == "-" and self.a < self.b):
            raise ValueError(f"operands must be >= 0 (and a >= b for '-'), got {self.a}{self.op}{self.b}")

    @property
    def prompt(self) -> str:
        return f"{self.a}{self.op}{self.b}="

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a - self.b

    @property
    def trace(self) -> str:
        """The column-wise demonstration followed by ``=answer``."""
        da, db = str(self.a)[::-1], str(self.b)[::-1]
        carry, cols = 0, []
        for i in range(max(len(da), len(db))):
            x, y = (int(d[i]) if i < len(d) else 0 for d in (da, db))
            if self.op == "+":
                v = x + y + carry
                digit, out = v % 10, v // 10
            else:
                v = x - y - carry
                digit, out = v % 10, int(v < 0)
            cols.append(f"{x}{self.op}{y}" + (f"{self.op}1" if carry else "") + f"={digit} c{out}")
            carry = out
        return "|".join(cols) + f"|={self.answer}"


def make_problems(
    n: int, op: str, digits: Sequence[int], seed: int, exclude: set[Problem] | None = None
) -> list[Problem]:
    """``n`` distinct problems whose operands have lengths drawn from ``digits``, none in ``exclude``."""
    check_positive_int("n", n)
    check_one_of("op", op, OPS)
    rng = random.Random(seed)
    exclude = exclude or set()
    out: dict[Problem, None] = {}

    def operand() -> int:
        k = rng.choice(list(digits))
        return rng.randint(0 if k == 1 else 10 ** (k - 1), 10**k - 1)

    for _ in range(100 * n):
        a, b = operand(), operand()
        p = Problem(max(a, b), min(a, b), op) if op == "-" else Problem(a, b, op)
        if p not in exclude:
            out[p] = None
        if len(out) == n:
            return list(out)
    raise ValueError(f"n={n} distinct problems with {digits}-digit operands could not be drawn")


def exact_match(problem: Problem, completion: str) -> bool:
    """Whether the text after the last ``=`` of the completion is the correct answer."""
    tail = completion.rsplit("=", 1)[-1].strip() if "=" in completion else ""
    return tail.isdigit() and int(tail) == problem.answer


def text_batch(tok: CharTokenizer, prompts: Sequence[str], answers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 except on the answer and ``<eos>``).

    Each row is ``<bos> prompt answer <eos>``. Right padding keeps every prompt at positions 0, 1, ...: the same
    positions greedy decoding uses.
    """
    q = [tok.encode(p, bos=True) for p in prompts]
    a = [tok.encode(x, eos=True) for x in answers]
    width = max(len(x) + len(y) for x, y in zip(q, a, strict=True))
    ids = torch.full((len(q), width), tok.pad_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for i, (x, y) in enumerate(zip(q, a, strict=True)):
        ids[i, : len(x) + len(y)] = torch.tensor(x + y)
        labels[i, len(x) : len(x) + len(y)] = torch.tensor(y)
    return {"input_ids": ids, "attention_mask": (ids != tok.pad_id).long(), "labels": labels}


def lm_batch(tok: CharTokenizer, problems: Sequence[Problem]) -> dict[str, torch.Tensor]:
    """:func:`text_batch` of the problems' prompts and traces (loss on the trace and ``<eos>`` only)."""
    return text_batch(tok, [p.prompt for p in problems], [p.trace for p in problems])


def max_trace_tokens(digits: int) -> int:
    """An upper bound on trace length (with ``<eos>``) for operands of at most ``digits`` digits."""
    return digits * len("9-9-1=9 c1|") + len("=") + digits + 1 + 1


@dataclass(frozen=True)
class Splits:
    train: list[Problem]
    val: list[Problem]
    test: list[Problem]


def subtraction_splits(n_train: int, n_val: int, n_test: int, digits: Sequence[int], seed: int) -> Splits:
    """Disjoint train / validation / test subtraction problems, drawn from ``seed``."""
    train = make_problems(n_train, "-", digits, 10_000 + seed)
    val = make_problems(n_val, "-", digits, 20_000 + seed, exclude=set(train))
    test = make_problems(n_test, "-", digits, 30_000 + seed, exclude=set(train) | set(val))
    return Splits(train, val, test)


# ------------------------------------------------------------------------------------------- the model
INITS = ("hf", "fan_in")  # ModelConfig.init


@dataclass(frozen=True)
class ModelConfig:
    """A tiny ``LlamaForCausalLM`` (the brief: 4 layers, d = 128, d_ff = 256, 4 heads; tied embeddings).

    ``init``: ``"hf"`` keeps transformers' initialisation (every weight ~ N(0, 0.02^2), ``initializer_range``);
    ``"fan_in"`` re-draws every ``nn.Linear`` weight from N(0, 1 / fan_in) (LeCun normal), the output layer
    included, which is tied to the input embedding (drawn at 1 / sqrt(d) then). At d = 128 the 0.02 init is 1/4.4
    of the fan-in scale: attention logits start near 0 and the model can sit on a plateau for hundreds of steps
    before it attends by offset or content (coin measured it: copying 3 digits, 0.00 greedy accuracy after 225
    steps with ``"hf"``, 1.00 after 75 with ``"fan_in"``)."""

    n_layer: int = 4
    d_model: int = 128
    d_ff: int = 256
    n_head: int = 4
    max_positions: int = 64
    init: str = "hf"

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "d_ff", "n_head", "max_positions"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model must be a multiple of n_head, got {self.d_model} and {self.n_head}")
        check_one_of("init", self.init, INITS)


def build_llama(config: ModelConfig, tok: CharTokenizer) -> nn.Module:
    """A randomly initialised ``transformers.LlamaForCausalLM`` of ``config`` (no dropout; ``config.init``)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(
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
    if config.init == "fan_in":
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=module.in_features**-0.5)
    return model


def lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the trace tokens (labels != -100)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(), ignore_index=-100)


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

    def key(self, stream: str = "", chars: Sequence[str] = CHARS) -> str:
        """A hash of every field (and the model class): the cache file name of the pretrained weights.

        A named batch ``stream`` or a tokenizer alphabet other than :data:`CHARS` enters the hash too (the
        default addition stream with the default alphabet hashes exactly as before they existed)."""
        fields: dict[str, Any] = {"format": 1, "arch": "LlamaForCausalLM", **dataclasses.asdict(self)}
        if self.model.init == "hf":  # the default initialisation hashes as before the option existed
            del fields["model"]["init"]
        if stream or tuple(chars) != CHARS:
            fields |= {"stream": stream, "chars": "".join(chars)}
        return config_key(fields)


# A pretraining batch stream: ``(rng, batch_size) -> batch`` (``input_ids``, ``attention_mask``, ``labels`` with
# -100 where no loss is taken, as :func:`lm_batch` builds them), called once per step with the run's generator.
BatchStream = Callable[[random.Random, int], dict[str, torch.Tensor]]


def addition_stream(tok: CharTokenizer, digits: Sequence[int]) -> BatchStream:
    """The default pretraining stream: fresh random addition problems with their traces, ``digits``-long operands."""

    def batch(rng: random.Random, batch_size: int) -> dict[str, torch.Tensor]:
        return lm_batch(tok, make_problems(batch_size, "+", digits, rng.randrange(2**31)))

    return batch


def _check_stream(stream: BatchStream | None, name: str) -> None:
    if stream is not None and not name:
        raise ValueError("stream_name must name a custom batch stream (it keys the pretraining cache)")
    if stream is None and name:
        raise ValueError(f"stream_name {name!r} given without a batch stream")


def pretrain(
    config: PretrainConfig, tok: CharTokenizer, stream: BatchStream | None = None
) -> tuple[nn.Module, list[float]]:
    """Pretrain a fresh tiny Llama on ``stream`` (default: random addition problems, :func:`addition_stream`);
    return it and its loss curve. One ``random.Random(config.seed)`` drives the stream."""
    stream = stream or addition_stream(tok, config.digits)
    torch.manual_seed(config.seed)
    model = build_llama(config.model, tok)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    sched = warmup_cosine_schedule(opt, config.steps, config.warmup)
    rng = random.Random(config.seed)
    losses = []
    for _ in range(config.steps):
        loss = lm_loss(model, stream(rng, config.batch_size))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return model, losses


def pretrained_base(
    config: PretrainConfig,
    tok: CharTokenizer,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    stream: BatchStream | None = None,
    stream_name: str = "",
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The pretrained base weights, from ``cache_dir/base-<hash>.pt`` when present, else trained and cached.

    ``stream`` (with a ``stream_name`` that identifies it, its settings included: the name, the tokenizer's
    alphabet and the config make the hash) replaces the default addition stream; ``ValueError`` when only one
    of the two is given. The cache is safe to delete (it is rebuilt, bit for bit on the same machine and
    versions); a corrupt or truncated cache file is rebuilt too (with a warning); ``cache_dir=None`` disables
    it. Returns the state dict and ``info`` (``cache_hit``, ``pretrain_s``, ``final_loss``, ``path``).
    """
    _check_stream(stream, stream_name)

    def build() -> dict[str, Any]:
        start = time.perf_counter()
        model, losses = pretrain(config, tok, stream)
        info = {"pretrain_s": time.perf_counter() - start, "final_loss": sum(losses[-20:]) / len(losses[-20:])}
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"state": state, "info": info, "config": dataclasses.asdict(config)}

    saved, cache = cached(
        cache_dir,
        "base",
        config.key(stream_name, tok.chars),
        build,
        save=torch.save,
        load=lambda path: torch.load(path, map_location="cpu", weights_only=True),
    )
    return saved["state"], {**saved["info"], "cache_hit": cache["cache_hit"], "path": str(cache["path"])}


# ------------------------------------------------------------------------------------------- evaluation
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


# ------------------------------------------------------------------------------------------- fine-tuning
@dataclass
class FinetuneResult:
    """One fine-tuning run: the per-step training loss, greedy exact match and loss on the held-out splits, the
    trained parameter count, the training time, and (with a probe) the logit change at initialisation."""

    train_loss: list[float]
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    trainable_params: int
    train_s: float
    step_ms: float
    init_logit_max_diff: float = math.nan


def finetune(
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    attach: Callable[[nn.Module], nn.Module],
    lr: float,
    steps: int,
    batch_size: int,
    splits: Splits,
    seed: int,
    tok: CharTokenizer,
    eval_batch: int = 256,
    evaluate: bool = True,
    probe: torch.Tensor | None = None,
) -> FinetuneResult:
    """Fine-tune a fresh copy of the base weights at learning rate ``lr``; evaluate greedily.

    ``attach(model)`` prepares the tiny Llama in place for a method (injects adapters, sets ``requires_grad``) and
    returns the module whose trainable parameters are trained; the forward is always the Llama itself. AdamW (no
    weight decay) with cosine decay to 0 over ``steps`` and no warm-up; ``batch_size`` problems per step drawn by
    ``random.Random(seed)``, so every method and learning rate sees the same batches. With ``probe`` (input ids),
    ``init_logit_max_diff`` = max |logits after attaching − base logits| at step 0.
    """
    check_positive("lr", lr)
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    torch.manual_seed(seed)
    model = build_llama(model_config, tok)
    model.load_state_dict(base_state)
    model.eval()
    base_logits = None
    if probe is not None:
        with torch.no_grad():
            base_logits = model(input_ids=probe).logits
    trained = attach(model)
    init_diff = math.nan
    if base_logits is not None:
        with torch.no_grad():
            init_diff = float((model(input_ids=probe).logits - base_logits).abs().max())
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = warmup_cosine_schedule(opt, steps)
    rng = random.Random(seed)
    model.train()
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        loss = lm_loss(model, lm_batch(tok, rng.sample(splits.train, batch_size)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - start
    model.eval()
    val_acc = val_loss = test_acc = math.nan
    if evaluate:
        val_acc = accuracy(model, tok, splits.val, eval_batch)
        val_loss = eval_loss(model, tok, splits.val, eval_batch)
        test_acc = accuracy(model, tok, splits.test, eval_batch)
    return FinetuneResult(
        train_loss=losses,
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        trainable_params=sum(p.numel() for p in params),
        train_s=train_s,
        step_ms=1000 * train_s / steps,
        init_logit_max_diff=init_diff,
    )


@dataclass
class Experiment:
    """The start of one seed's fine-tuning experiment: the pretrained base weights, the base model built from them
    (eval mode), the seed's subtraction splits, and the base model's metrics (``base/pretrain_final_loss``, greedy
    exact match on held-out additions and on the subtraction test split)."""

    base_state: dict[str, torch.Tensor]
    base: nn.Module
    splits: Splits
    metrics: dict[str, float]


def prepare_experiment(
    pretrain: PretrainConfig,
    tok: CharTokenizer,
    cache_dir: str | Path | None,
    n_train: int,
    n_val: int,
    n_test: int,
    digits: Sequence[int],
    n_base_eval: int,
    eval_batch: int,
    seed: int,
) -> Experiment:
    """The pretrained base (:func:`pretrained_base`, cached in ``cache_dir``), the subtraction splits of ``seed``
    (:func:`subtraction_splits`) and the base model's accuracy on ``n_base_eval`` fresh additions and on the
    subtraction test split, before any fine-tuning."""
    base_state, info = pretrained_base(pretrain, tok, cache_dir)
    log.info("base model: cache %s (%s)", "hit" if info["cache_hit"] else "miss, pretrained", info["path"])
    splits = subtraction_splits(n_train, n_val, n_test, digits, seed)
    base = build_llama(pretrain.model, tok)
    base.load_state_dict(base_state)
    base.eval()
    additions = make_problems(n_base_eval, "+", pretrain.digits, 40_000 + seed)
    metrics = {
        "base/pretrain_final_loss": info["final_loss"],
        "base/addition_accuracy": accuracy(base, tok, additions, eval_batch),
        "base/subtraction_accuracy": accuracy(base, tok, splits.test, eval_batch),
    }
    return Experiment(base_state, base, splits, metrics)
