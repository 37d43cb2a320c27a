"""The CPU-scale task: multi-digit addition with a column-wise trace, its tokenizer, splits and verifier.

A problem ``47+85=`` has the demonstration (the "expert trace")::

    7+5=12 c1|4+8+1=13 c1|=132

one column per operand digit, least significant first: ``a+b[+carry]=column_sum c<carry out>``, then
``=`` and the final answer; the model ends with ``<eos>``. The outcome reward is 1 when the text after the
last ``=`` is the correct sum (the trace itself is not checked), 0 otherwise.

Splits are drawn from operand-length pairs ``(len(a), len(b))``. In-distribution (ID): 1-3 digit operands
whose lengths differ by at most one (:data:`ID_LENGTHS`); out-of-distribution (OOD): a 1-digit and a 3-digit
operand (:data:`OOD_LENGTHS`), a mix of lengths held out of every fine-tuning split (demonstrations, RL and
validation prompts) although each length, and the trace format, is in-distribution.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from paperzoo.shared.torch.lm import left_pad
from paperzoo.shared.validate import check_positive_int

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
CHARS = tuple("0123456789+=| c")
ID_DIGITS = (1, 2, 3)
#: ID operand-length pairs: 1-3 digits, lengths differing by at most one.
ID_LENGTHS = tuple((a, b) for a in ID_DIGITS for b in ID_DIGITS if abs(a - b) <= 1)
#: OOD operand-length pairs: held out of fine-tuning (a 1-digit and a 3-digit operand, in either order).
OOD_LENGTHS = ((1, 3), (3, 1))


class CharTokenizer:
    """One token per character of ``0-9 + = | space c``, plus ``<pad>`` (id 0), ``<bos>`` and ``<eos>``.

    ``encode`` raises ``ValueError`` naming the offending character instead of mapping it to a wrong token.
    """

    def __init__(self) -> None:
        self.tokens: tuple[str, ...] = (PAD, BOS, EOS, *CHARS)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = self.index[PAD], self.index[BOS], self.index[EOS]

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; ``ValueError`` for a character outside the vocabulary."""
        ids = [self.bos_id] if bos else []
        for pos, ch in enumerate(text):
            if ch not in self.index or ch in (PAD, BOS, EOS):
                raise ValueError(f"text contains {ch!r} at position {pos}, which the tokenizer cannot encode: {text!r}")
            ids.append(self.index[ch])
        if eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, stopping at the first ``<eos>`` and skipping ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.tokens[i])
        return "".join(out)


@dataclass(frozen=True)
class Problem:
    a: int
    b: int

    @property
    def prompt(self) -> str:
        return f"{self.a}+{self.b}="

    @property
    def answer(self) -> int:
        return self.a + self.b

    @property
    def trace(self) -> str:
        """The column-wise demonstration, e.g. ``7+5=12 c1|4+8+1=13 c1|=132`` for ``47+85``."""
        da, db = str(self.a)[::-1], str(self.b)[::-1]
        carry, cols = 0, []
        for i in range(max(len(da), len(db))):
            x = int(da[i]) if i < len(da) else 0
            y = int(db[i]) if i < len(db) else 0
            s = x + y + carry
            cols.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={s} c{s // 10}")
            carry = s // 10
        return "|".join(cols) + f"|={self.answer}"

    def reward(self, completion: str) -> float:
        """The outcome reward of ``completion`` (:func:`verify`); every problem type the trainers take has one."""
        return verify(self, completion)


def length_pairs(lengths: Sequence[int] | Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Operand-length pairs: ``lengths`` itself if it holds pairs, else every pair of its lengths (a product)."""
    if not lengths:
        raise ValueError("lengths must name at least one operand length or length pair, got an empty sequence")
    if all(isinstance(x, int) for x in lengths):
        return tuple((a, b) for a in lengths for b in lengths)
    pairs = tuple((int(a), int(b)) for a, b in lengths)
    if any(min(p) < 1 for p in pairs):
        raise ValueError(f"lengths must be >= 1 digit, got {pairs}")
    return pairs


def make_problem(rng: random.Random, lengths: Sequence[int] | Sequence[tuple[int, int]]) -> Problem:
    """A problem whose operand lengths are a pair drawn uniformly from :func:`length_pairs` (no leading zeros).

    With plain lengths ``(1, 2, 3)`` each operand's length is uniform over them, independently of the other's.
    """
    la, lb = rng.choice(length_pairs(lengths))

    def operand(n: int) -> int:
        return rng.randint(0 if n == 1 else 10 ** (n - 1), 10**n - 1)

    return Problem(operand(la), operand(lb))


def make_split(n: int, lengths: Sequence[int] | Sequence[tuple[int, int]], seed: int) -> list[Problem]:
    """``n`` problems with operand lengths from ``lengths`` (see :func:`make_problem`), reproducible from ``seed``."""
    check_positive_int("n", n)
    rng = random.Random(seed)
    return [make_problem(rng, lengths) for _ in range(n)]


def operand_lengths(problems: Sequence[Problem]) -> set[tuple[int, int]]:
    """The operand-length pairs ``(len(a), len(b))`` that occur in ``problems``."""
    return {(len(str(p.a)), len(str(p.b))) for p in problems}


def verify(problem: Problem, completion: str) -> float:
    """Outcome reward R in {0, 1}: the text after the last ``=`` of the completion is the correct sum."""
    answer = completion.rsplit("=", 1)[-1].strip() if "=" in completion else ""
    return float(answer.isdigit() and int(answer) == problem.answer)


def sft_batch(tok: CharTokenizer, problems: Sequence[Problem]) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels`` (prompt and pad positions -100) of demonstrations."""
    prompts = [tok.encode(p.prompt, bos=True) for p in problems]
    answers = [tok.encode(p.trace, eos=True) for p in problems]
    ids, mask = left_pad([q + a for q, a in zip(prompts, answers, strict=True)], tok.pad_id)
    labels = ids.clone()
    for i, a in enumerate(answers):
        labels[i, : ids.shape[1] - len(a)] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def max_trace_tokens(lengths: Sequence[int] | Sequence[tuple[int, int]]) -> int:
    """An upper bound on the trace length (with ``<eos>``) of operands of the given lengths or length pairs."""
    n = max(max(p) for p in length_pairs(lengths))
    return n * len("9+9+1=19 c1|") + len("=") + n + 1 + 1
