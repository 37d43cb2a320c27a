"""Testbed: supervised fine-tuning of a hub causal LM on math word problems, graded by final-answer exact match.

Task: fine-tune on MetaMathQA-style ``(query, response)`` records (:func:`load_records`: a hub dataset id or a
    local ``.jsonl`` file), evaluate on GSM8K / MATH test problems: greedy decoding of the same prompt
    (:data:`PROMPT`), the final answer of the completion (:func:`extract_answer`) against the reference's
    (:func:`answers_match`).
Model: any ``transformers`` causal LM and its tokenizer, from a hub id or a local folder
    (:func:`load_model_and_tokenizer`); tests use a tiny random Llama with a character tokenizer
    (:func:`write_stand_in`), built offline.
Metrics: per-step training loss (:func:`finetune`), exact-match accuracy per evaluation set (:func:`evaluate`).
Used by: amft, bone, eva.

The papers attach their adapter to the loaded model (and freeze what it does not train) between
:func:`load_model_and_tokenizer` and :func:`finetune`. The recipe is the PiSSA / Bone / EVA one: the Alpaca
prompt, the loss on the response tokens only (prompt tokens labelled -100), AdamW with linear warm-up and
cosine decay, one epoch, sequences cut at ``max_length`` tokens; evaluation is zero-shot greedy decoding.

``transformers`` and ``datasets`` are imported inside the functions that need them (importing them costs
seconds; ``datasets`` is needed only for hub datasets).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.torch import warmup_cosine_schedule
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int

log = logging.getLogger("paperzoo.math_sft")

#: The Alpaca instruction prompt of PiSSA's, Bone's and EVA's MetaMathQA scripts; the response follows it directly.
PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
    "\n\n### Instruction:\n{query}\n\n### Response:"
)


# ------------------------------------------------------------------------------------------- data
def load_records(source: str, split: str = "train", limit: int | None = None) -> list[dict[str, str]]:
    """The records of ``source``: a local ``.jsonl`` file (one JSON object per line; ``split`` is ignored), a folder
    holding ``<split>.jsonl``, or a hub dataset id (``"meta-math/MetaMathQA"``; a config name after a colon:
    ``"openai/gsm8k:main"``), loaded with ``datasets`` (imported here). The first ``limit`` records when given;
    every value is turned into a string.
    """
    if limit is not None:
        check_positive_int("limit", limit)
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / f"{split}.jsonl"
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no records file at {path}")
        out = []
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out.append({str(k): str(v) for k, v in json.loads(line).items()})
                    if limit is not None and len(out) == limit:
                        break
        return out
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"loading the hub dataset {source!r} needs `datasets` (the paper extra); or pass a local .jsonl file"
        ) from e
    name, _, config = source.partition(":")
    spec = split if limit is None else f"{split}[:{limit}]"
    data = datasets.load_dataset(name, config or None, split=spec)
    return [{str(k): str(v) for k, v in row.items()} for row in data]


# ------------------------------------------------------------------------------------------- answers
def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces; None if there is none."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i]
            i += 1
    return None


def extract_answer(text: str) -> str | None:
    """The final answer of a completion or reference solution: the content of the last ``\\boxed{...}``, else the
    text after the last "The answer is:" / "The answer is" (MetaMathQA), else after the last ``#### `` (GSM8K);
    the first line of it, stripped. None when there is none (or it is empty).
    """
    boxed = _last_boxed(text)
    if boxed is not None:
        answer = boxed
    else:
        m = list(re.finditer(r"The answer is:?", text, flags=re.IGNORECASE))
        if m:
            answer = text[m[-1].end() :]
        elif "####" in text:
            answer = text.rsplit("####", 1)[1]
        else:
            return None
    answer = answer.strip().split("\n", 1)[0].strip()
    return answer or None


_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d*)?$")


def _normalise(answer: str) -> str:
    s = answer.strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "").replace("\\ ", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", s).replace("$", "")
    s = s.rstrip(".")
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\((-?[\w.]+)\)", r"\1", s)  # (3)/(4) -> 3/4
    return s


def _as_number(s: str) -> Fraction | float | None:
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(num) / Fraction(den)
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def answers_match(predicted: str | None, reference: str) -> bool:
    """Whether two final answers agree after normalisation: spaces, ``$``, a trailing ``.``, thousands commas,
    ``\\text{}``, ``\\left``/``\\right`` dropped; ``\\frac{a}{b}`` (``\\dfrac``) read as ``a/b``; numerically equal
    when both parse as numbers (``18`` = ``18.00``, ``1/2`` = ``0.5``), else equal as strings. ``predicted=None``
    never matches.
    ``reference`` is the answer itself (pass a solution through :func:`extract_answer` first).
    """
    if predicted is None:
        return False
    a, b = _normalise(predicted), _normalise(reference)
    if not a or not b:
        return False
    x, y = _as_number(a), _as_number(b)
    if x is not None and y is not None:
        return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


# ------------------------------------------------------------------------------------------- model
def load_model_and_tokenizer(
    base_model: str, dtype: str = "bfloat16", device: str = "cpu", local_only: bool = False
) -> tuple[nn.Module, Any]:
    """``AutoModelForCausalLM`` and ``AutoTokenizer`` of a hub id or a local folder, in ``dtype`` on ``device``.

    A tokenizer without a pad token pads with its ``eos`` (or ``unk``) token.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model, local_files_only=local_only)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=getattr(torch, dtype), local_files_only=local_only)
    return model.to(device), tokenizer


def write_stand_in(folder: str | Path, n_layer: int = 2, d_model: int = 32, d_ff: int = 64, n_head: int = 4) -> Path:
    """Save a tiny randomly initialised ``LlamaForCausalLM`` and a character-level fast tokenizer (printable ASCII
    plus ``\\n``) into ``folder``: a stand-in for a hub model that :func:`load_model_and_tokenizer` loads offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(specials + chars)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=d_model,
            intermediate_size=d_ff,
            num_hidden_layers=n_layer,
            num_attention_heads=n_head,
            num_key_value_heads=n_head,
            max_position_embeddings=1024,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
    )
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------------- batches
def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_ids(tokenizer: Any, query: str) -> list[int]:
    """``<bos>`` (when the tokenizer has one) and the tokens of ``PROMPT.format(query=query)``."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return bos + _encode(tokenizer, PROMPT.format(query=query))


def sft_batch(
    tokenizer: Any,
    records: Sequence[dict[str, str]],
    max_length: int,
    query_key: str = "query",
    response_key: str = "response",
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` of prompt + `` response`` + ``<eos>``, cut at
    ``max_length`` tokens; labels are -100 on the prompt and the padding, so the loss covers the response only."""
    check_positive_int("max_length", max_length)
    rows = []
    for r in records:
        q = prompt_ids(tokenizer, r[query_key])
        a = [*_encode(tokenizer, " " + r[response_key]), tokenizer.eos_token_id]
        rows.append(((q + a)[:max_length], len(q)))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (row, n_prompt) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, n_prompt : len(row)] = torch.tensor(row[n_prompt:], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def sft_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the response tokens (labels != -100), in float32; 0 (no gradient) for a
    batch whose responses were all cut off by ``max_length``."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"][:, 1:].flatten()
    total = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels, ignore_index=-100, reduction="sum")
    return total / (labels != -100).sum().clamp(min=1)


# ------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class Recipe:
    """The fine-tuning recipe: AdamW (``weight_decay``) at ``lr``, ``batch_size`` x ``grad_accum`` records per
    optimizer step, linear warm-up over ``warmup_ratio`` of the steps then cosine decay to 0, ``epochs`` passes
    over the shuffled records (``max_steps`` optimizer steps at most when given), sequences cut at ``max_length``."""

    lr: float = 2e-5
    batch_size: int = 4
    grad_accum: int = 32
    epochs: int = 1
    max_length: int = 512
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_steps: int | None = None
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        for name in ("batch_size", "grad_accum", "epochs", "max_length"):
            check_positive_int(name, getattr(self, name))
        check_non_negative("warmup_ratio", self.warmup_ratio)
        check_non_negative("weight_decay", self.weight_decay)
        if self.max_steps is not None:
            check_positive_int("max_steps", self.max_steps)


def finetune(
    model: nn.Module,
    tokenizer: Any,
    records: Sequence[dict[str, str]],
    recipe: Recipe,
    seed: int,
    query_key: str = "query",
    response_key: str = "response",
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train the parameters of ``model`` that require grad on ``records`` with ``recipe``; return the loss of every
    optimizer step (the mean over its micro-batches). The records are shuffled by ``random.Random(seed)``;
    ``on_step(step, loss)`` is called after each step (logging)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: attach an adapter first")
    device = params[0].device
    order = []
    rng = random.Random(seed)
    for _ in range(recipe.epochs):
        epoch = list(range(len(records)))
        rng.shuffle(epoch)
        order.extend(epoch)
    per_step = recipe.batch_size * recipe.grad_accum
    steps = max(1, len(order) // per_step)
    if recipe.max_steps is not None:
        steps = min(steps, recipe.max_steps)
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = warmup_cosine_schedule(opt, steps, math.ceil(recipe.warmup_ratio * steps))
    model.train()
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        total = 0.0
        for micro in range(recipe.grad_accum):
            lo = (step * recipe.grad_accum + micro) * recipe.batch_size
            chunk = [records[i] for i in order[lo : lo + recipe.batch_size]]
            if not chunk:  # fewer records than one step: cycle
                chunk = [records[i] for i in order[: recipe.batch_size]]
            batch = sft_batch(tokenizer, chunk, recipe.max_length, query_key, response_key)
            loss = sft_loss(model, {k: v.to(device) for k, v in batch.items()}) / recipe.grad_accum
            loss.backward()
            total += float(loss.detach())
        if recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(total)
        if on_step is not None:
            on_step(step, total)
    model.eval()
    log.info("fine-tuned %d steps in %.1f s", steps, time.perf_counter() - start)
    return losses


# ------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def greedy_completions(
    model: nn.Module, tokenizer: Any, queries: Sequence[str], max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy completions of ``PROMPT.format(query=q)`` (left-padded batches, stop at ``<eos>``), decoded without
    special tokens."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    out = []
    model.eval()
    for start in range(0, len(queries), batch_size):
        rows = [prompt_ids(tokenizer, q) for q in queries[start : start + batch_size]]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = 1
        gen = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
        for row in gen[:, width:].tolist():
            out.append(tokenizer.decode(row, skip_special_tokens=True))
    return out


@dataclass
class Evaluation:
    """Exact match on one set: ``accuracy`` = ``correct`` / ``n``, with each prediction's extracted answer."""

    accuracy: float
    correct: int
    n: int
    predicted: list[str | None]
    completions: list[str]


def score(completions: Sequence[str], references: Sequence[str]) -> Evaluation:
    """Grade completions against reference answers (already extracted) with :func:`answers_match`."""
    predicted = [extract_answer(c) for c in completions]
    correct = sum(answers_match(p, r) for p, r in zip(predicted, references, strict=True))
    return Evaluation(correct / max(1, len(references)), correct, len(references), predicted, list(completions))


def reference_answer(record: dict[str, str], answer_key: str) -> str:
    """The reference answer of an evaluation record: its ``answer_key`` field (GSM8K ``answer`` with ``####``,
    MATH ``solution`` with ``\\boxed{}``, or a bare answer)."""
    text = record[answer_key]
    extracted = extract_answer(text)
    return text.strip() if extracted is None else extracted


def evaluate(
    model: nn.Module,
    tokenizer: Any,
    records: Sequence[dict[str, str]],
    question_key: str,
    answer_key: str,
    max_new_tokens: int,
    batch_size: int = 16,
) -> Evaluation:
    """Greedy zero-shot exact match of ``model`` on ``records``."""
    completions = greedy_completions(model, tokenizer, [r[question_key] for r in records], max_new_tokens, batch_size)
    return score(completions, [reference_answer(r, answer_key) for r in records])


# ------------------------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class EvalSet:
    """An evaluation set: a source for :func:`load_records` (hub id or ``.jsonl``), its split and field names."""

    name: str
    source: str
    split: str = "test"
    question_key: str = "question"
    answer_key: str = "answer"
    limit: int | None = None


def gsm8k_and_math(gsm8k: str, math: str, limit: int | None = None) -> list[EvalSet]:
    """The two test sets of the math papers: GSM8K (``question``, ``answer`` ending in ``#### n``; 1,319 problems)
    and MATH (``problem``, ``solution`` with ``\\boxed{}``; 5,000), from hub ids or local ``.jsonl`` files, each cut
    to ``limit`` problems when given. Hub ids: ``"openai/gsm8k:main"``; for MATH a mirror of the withdrawn
    ``hendrycks/competition_math`` (e.g. ``"DigitalLearningGmbH/MATH-lighteval"``)."""
    return [
        EvalSet("gsm8k", gsm8k, "test", "question", "answer", limit),
        EvalSet("math", math, "test", "problem", "solution", limit),
    ]


def load_eval_sets(sets: Sequence[EvalSet]) -> dict[str, tuple[EvalSet, list[dict[str, str]]]]:
    """Each evaluation set's records (:func:`load_records` of its source, split and limit), by name."""
    return {s.name: (s, load_records(s.source, s.split, s.limit)) for s in sets}


def run_method(
    base_model: str,
    attach: Callable[[nn.Module, Any], nn.Module],
    train: Sequence[dict[str, str]],
    recipe: Recipe,
    eval_sets: dict[str, tuple[EvalSet, list[dict[str, str]]]],
    seed: int,
    dtype: str = "bfloat16",
    device: str = "cpu",
    max_new_tokens: int = 512,
    eval_batch: int = 16,
    query_key: str = "query",
    response_key: str = "response",
) -> tuple[dict[str, float], list[float]]:
    """One method's run: load ``base_model`` (``torch.manual_seed(seed)`` first), ``attach(model, tokenizer)`` its
    adapter in place (freezing what it does not train; it returns the model to call), fine-tune on ``train``
    (:func:`finetune`), evaluate on every set (:func:`evaluate`). Returns the metrics (``trainable_params``,
    ``final_train_loss`` = mean of the last 10 steps, ``train_s``, ``<set>/accuracy``) and the loss per step."""
    torch.manual_seed(seed)
    model, tokenizer = load_model_and_tokenizer(base_model, dtype, device)
    model = attach(model, tokenizer)
    start = time.perf_counter()
    losses = finetune(model, tokenizer, train, recipe, seed, query_key, response_key)
    metrics = {
        "trainable_params": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "final_train_loss": sum(losses[-10:]) / len(losses[-10:]),
        "train_s": time.perf_counter() - start,
    }
    for name, (spec, records) in eval_sets.items():
        ev = evaluate(model, tokenizer, records, spec.question_key, spec.answer_key, max_new_tokens, eval_batch)
        metrics[f"{name}/accuracy"] = ev.accuracy
        log.info("%s: %d / %d correct", name, ev.correct, ev.n)
    return metrics, losses
