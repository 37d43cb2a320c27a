"""Generated arithmetic with column traces: addition (what the tiny base model is pretrained on) and
subtraction (the new skill it is fine-tuned on), a character tokenizer, and padded training batches.

A problem is a prompt ``a<op>b=`` and a trace that works one column at a time, least significant digit
first, then the answer::

    47+85=   7+5=2 c1|4+8+1=3 c1|=132
    85-47=   5-7=8 c1|8-4-1=3 c0|=38

Each column is ``x<op>y[<op>1]=<digit> c<carry>`` where the third term is the incoming carry (addition) or
borrow (subtraction), and ``c`` flags the outgoing one. Subtraction keeps ``a >= b``. The ``-`` token is
in the vocabulary from the start but never appears in pretraining: its embedding is untrained.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from paperzoo.shared.validate import check_one_of, check_positive_int

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
CHARS = tuple("0123456789+-=| c")
OPS = ("+", "-")


class CharTokenizer:
    """One token per character of ``0-9 + - = | space c``, plus ``<pad>`` (0), ``<bos>`` (1) and ``<eos>`` (2)."""

    def __init__(self) -> None:
        self.tokens: tuple[str, ...] = (PAD, BOS, EOS, *CHARS)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; ``ValueError`` naming a character outside the vocabulary."""
        bad = [ch for ch in text if ch not in CHARS]
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


def lm_batch(tok: CharTokenizer, problems: Sequence[Problem]) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding).

    Right padding keeps every prompt at positions 0, 1, ...: the same positions greedy decoding uses.
    """
    prompts = [tok.encode(p.prompt, bos=True) for p in problems]
    traces = [tok.encode(p.trace, eos=True) for p in problems]
    width = max(len(q) + len(t) for q, t in zip(prompts, traces, strict=True))
    ids = torch.full((len(problems), width), tok.pad_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for i, (q, t) in enumerate(zip(prompts, traces, strict=True)):
        ids[i, : len(q) + len(t)] = torch.tensor(q + t)
        labels[i, len(q) : len(q) + len(t)] = torch.tensor(t)
    return {"input_ids": ids, "attention_mask": (ids != tok.pad_id).long(), "labels": labels}


def max_trace_tokens(digits: int) -> int:
    """An upper bound on trace length (with ``<eos>``) for operands of at most ``digits`` digits."""
    return digits * len("9-9-1=9 c1|") + len("=") + digits + 1 + 1
