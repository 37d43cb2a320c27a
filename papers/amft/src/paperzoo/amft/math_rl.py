"""The paper scale's task: math problems from a hub data set or a JSON-lines file, a hub tokenizer, a verifier.

The trainers (:func:`paperzoo.amft.train.train_regime`, :func:`paperzoo.amft.rl.collect_rollouts`) take any
tokenizer with the :class:`~paperzoo.amft.task.CharTokenizer` interface (``encode(text, bos, eos)``,
``decode``, ``pad_id``/``bos_id``/``eos_id``) and any problem with ``prompt``, ``trace`` (the demonstration)
and ``reward(completion)``. Here :class:`HFTokenizer` wraps a Hugging Face tokenizer and :class:`MathProblem`
scores a completion 1 when its final answer (the last ``\\boxed{...}``, or "The answer is ...") matches the
reference, by the shared math testbed's :func:`~paperzoo.shared.testbeds.math_sft.extract_answer` and
:func:`~paperzoo.shared.testbeds.math_sft.answers_match`; records are read by its
:func:`~paperzoo.shared.testbeds.math_sft.load_records`. Nothing here imports ``transformers`` or
``datasets`` at module level.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paperzoo.shared.validate import check_positive_int

log = logging.getLogger("paperzoo.amft")

# Qwen2.5-Math's chat format with its system prompt for chain-of-thought answers in \boxed{}.
QWEN_MATH_TEMPLATE = (
    "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
    "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
)


@dataclass(frozen=True)
class MathData:
    """Where a split comes from and which fields hold the question, the worked solution and the final answer.

    ``source``: a hub data set id or a local ``.jsonl`` file. A field may hold a string, a list of chat
    messages (the last message's ``content`` is taken; for the question, the last ``user`` message) or a
    mapping with ``ground_truth`` (verl/LUFFY's ``reward_model``, as in OpenR1-Math-46k-8192) or ``content``.
    An empty ``answer`` field, or an empty value in it, falls back to the final answer of the solution.
    """

    source: str
    split: str = "train"
    question: str = "question"
    solution: str = "solution"
    answer: str = "answer"
    limit: int = 0  # 0: every record

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("source must be a hub data set id or a .jsonl path, got ''")
        if not self.question:
            raise ValueError("question must name a field, got ''")
        if self.limit:
            check_positive_int("limit", self.limit)


@dataclass(frozen=True)
class MathProblem:
    """A prompt (the question in the prompt template), its demonstration and the reference final answer."""

    prompt: str
    trace: str
    answer: str

    def reward(self, completion: str) -> float:
        """R in {0, 1}: the completion's final answer matches the reference (normalised comparison)."""
        from paperzoo.shared.testbeds.math_sft import answers_match, extract_answer

        return float(answers_match(extract_answer(completion), self.answer))


def exact_match(completions: Sequence[str], answers: Sequence[str]) -> float:
    """The fraction of ``completions`` whose final answer matches the reference answer at the same index."""
    if len(completions) != len(answers) or not answers:
        raise ValueError(f"need equally many completions and answers (> 0), got {len(completions)}, {len(answers)}")
    return sum(MathProblem("", "", a).reward(c) for c, a in zip(completions, answers, strict=True)) / len(answers)


class HFTokenizer:
    """The trainers' tokenizer interface over a Hugging Face tokenizer.

    ``eos_token`` overrides the tokenizer's end token (a chat template ends a turn with ``<|im_end|>``); the
    pad id is the tokenizer's, else the end token's (every batch carries an explicit attention mask).
    """

    def __init__(self, tokenizer: Any, eos_token: str = "") -> None:
        self.tokenizer = tokenizer
        if eos_token:
            eos_id = tokenizer.convert_tokens_to_ids(eos_token)
            if eos_id is None or eos_id == tokenizer.unk_token_id:
                raise ValueError(f"eos_token {eos_token!r} is not a token of this tokenizer")
        else:
            eos_id = tokenizer.eos_token_id
            if eos_id is None:
                raise ValueError("the tokenizer has no eos token: pass eos_token")
        self.eos_id: int = int(eos_id)
        self.pad_id: int = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id)
        self.bos_id: int | None = tokenizer.bos_token_id

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text`` (no special tokens added by the tokenizer); ``<bos>`` only if it has one."""
        ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        return [self.bos_id] * (bos and self.bos_id is not None) + ids + [self.eos_id] * eos

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` up to the first end token, special tokens skipped."""
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def load_tokenizer(name_or_path: str, eos_token: str = "") -> HFTokenizer:
    """A hub tokenizer by id or local folder, wrapped for the trainers."""
    from transformers import AutoTokenizer

    return HFTokenizer(AutoTokenizer.from_pretrained(name_or_path), eos_token)


def _literal(text: str) -> Any:
    """A chat-message list or a mapping written as a Python/JSON literal (``load_records`` stringifies nested
    fields); anything else, e.g. an interval answer ``[0, 1]``, stays the string it is."""
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(m, dict) for m in value)):
        return value
    return text


def field_text(value: Any, role: str | None = None) -> str:
    """The text of a record's field: a string, the last (``role``) chat message's content, or ``ground_truth``.

    Chat lists and mappings may come as Python/JSON literals in a string (as :func:`load_records` returns them).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        parsed = _literal(value)
        return value if isinstance(parsed, str) else field_text(parsed, role)
    if isinstance(value, dict):
        for key in ("ground_truth", "content", "text"):
            if key in value:
                return field_text(value[key])
        raise ValueError(f"a mapping field needs 'ground_truth', 'content' or 'text', got keys {sorted(value)}")
    if isinstance(value, (list, tuple)):
        messages = [m for m in value if not (role and isinstance(m, dict) and m.get("role") != role)]
        return field_text(messages[-1]) if messages else ""
    return str(value)


def load_problems(
    data: MathData, tok: HFTokenizer, template: str, max_seq_length: int, need_solution: bool = True
) -> list[MathProblem]:
    """The usable problems of ``data``: prompt from ``template``, reference answer, demonstration.

    A record is dropped when it has no reference answer, when ``need_solution`` and it has no solution, or when
    prompt + demonstration + end token exceed ``max_seq_length`` tokens (a cut demonstration would teach the
    model to stop mid-solution; the count is logged). ``ValueError`` when nothing usable is left.
    """
    from paperzoo.shared.testbeds.math_sft import extract_answer, load_records

    records = load_records(data.source, data.split, data.limit or None)
    out: list[MathProblem] = []
    dropped = {"no answer": 0, "no solution": 0, "too long": 0}
    for rec in records:
        missing = [f for f in (data.question, data.solution if need_solution else "") if f and f not in rec]
        if missing:
            raise ValueError(f"{data.source}: a record lacks field(s) {missing}; it has {sorted(rec)}")
        question = field_text(rec[data.question], role="user")
        solution = field_text(rec.get(data.solution)) if data.solution else ""
        answer = field_text(rec.get(data.answer)) if data.answer else ""
        answer = answer.strip() or (extract_answer(solution) or "")
        if not answer:
            dropped["no answer"] += 1
            continue
        if need_solution and not solution.strip():
            dropped["no solution"] += 1
            continue
        prompt = template.replace("{question}", question)
        length = len(tok.encode(prompt, bos=True)) + (len(tok.encode(solution, eos=True)) if need_solution else 0)
        if length > max_seq_length:
            dropped["too long"] += 1
            continue
        out.append(MathProblem(prompt, solution, answer))
    log.info("%s (%s): %d problems kept, dropped %s", data.source, data.split, len(out), dropped)
    if not out:
        raise ValueError(f"{data.source}: no usable problem among {len(records)} records (dropped: {dropped})")
    return out
