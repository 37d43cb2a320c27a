"""The synthetic in-context-learning task families of the CPU scale, their prompts and token counts.

A task of a *rule family* draws a hidden map ``c: symbol -> class`` over :data:`SYMBOLS` (12 letters). An input
``x`` is a string of :data:`INPUT_LENGTH` symbols (1 at the CPU scale), each drawn from a fixed Zipf law
``p(s_i) ~ 1 / (i + 1)`` (common letters first); its label is the class of its last symbol, ``y(x) = c(x_L)``.

The :data:`KNOWN` most common letters have the same class in every task of a family (``c(s_i) = i mod n``): the
generalist learns them in meta-training and answers them without demonstrations, as an LLM answers easy inputs
zero-shot. The other letters are drawn per task: only identifiable from demonstrations (at chance with none), an
input is answerable once a demonstration with the same last symbol is in the prompt.

Difficulty varies with the input: a known letter needs no demonstration, a common unknown letter (``d``:
p = 0.08) a few, a rare one (``l``: p = 0.03) many, or is out of reach of K = 16 demonstrations. The frequency
law is shared by every task of the family (as word frequencies are shared by the tasks of a language), so a
controller can learn it from the input alone, without the task's map.

Families: ``last2`` (two classes; the controller's training family) and ``last3`` (three classes; the unseen
family of the transfer test). The generalist is meta-trained on both, on maps outside the held-out set.

A demonstration is ``x=y;`` and a prompt is ``<bos>`` + demonstrations + ``x=``; the generalist answers with the
next token. Token cost = the prompt's length in tokens (demonstrations and input).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from paperzoo.shared.testbeds.arithmetic_lm import BatchStream, CharTokenizer
from paperzoo.shared.validate import check_one_of, check_positive_int

SYMBOLS = "abcdefghijkl"
LABELS = "012"
INPUT_LENGTH = 1
ZIPF = tuple(1.0 / (i + 1) for i in range(len(SYMBOLS)))
FAMILIES = {"last2": 2, "last3": 3}
# One instruction token per family: the controller sees it with the input (the paper's task instruction).
INSTRUCTIONS = {"last2": "B", "last3": "T"}
# Every 5th map (by its mixed-radix index) is held out of the generalist's meta-training.
HELD_OUT_EVERY = 5
# The most common letters keep one class across a family's tasks (c(s_i) = i mod n): answerable zero-shot.
KNOWN = 3


def tokenizer() -> CharTokenizer:
    """Characters: the symbols, the labels, ``=``, ``;`` and the instruction letters."""
    return CharTokenizer(SYMBOLS + LABELS + "=;" + "".join(INSTRUCTIONS.values()))


@dataclass(frozen=True)
class Task:
    """One task: a rule family and its hidden symbol-to-class map (``classes[i]`` is the class of ``SYMBOLS[i]``)."""

    family: str
    classes: tuple[int, ...]

    def __post_init__(self) -> None:
        check_one_of("family", self.family, tuple(FAMILIES))
        n = FAMILIES[self.family]
        if len(self.classes) != len(SYMBOLS) or any(not 0 <= c < n for c in self.classes):
            raise ValueError(
                f"classes must give each of {len(SYMBOLS)} symbols a class in [0, {n}), got {self.classes}"
            )

    @property
    def n_classes(self) -> int:
        return FAMILIES[self.family]

    @property
    def held_out(self) -> bool:
        """Whether the map is held out of the generalist's meta-training (its mixed-radix index is 0 mod 5)."""
        index = 0
        for c in self.classes:
            index = index * self.n_classes + c
        return index % HELD_OUT_EVERY == 0

    def label(self, x: str) -> str:
        """The class of the last symbol: ``y(x) = c(x_L)``."""
        return LABELS[self.classes[SYMBOLS.index(x[-1])]]


def draw_task(family: str, rng: random.Random, held_out: bool) -> Task:
    """A task of ``family`` whose map is (``held_out``) or is not in the held-out set: the :data:`KNOWN` letters
    keep their family class, the others are drawn uniformly."""
    n = FAMILIES[family]
    while True:
        task = Task(family, tuple(i % n if i < KNOWN else rng.randrange(n) for i in range(len(SYMBOLS))))
        if task.held_out == held_out and len(set(task.classes)) == n:
            return task


def draw_inputs(n: int, rng: random.Random) -> list[str]:
    """``n`` i.i.d. inputs: :data:`INPUT_LENGTH` symbols each drawn from the Zipf law :data:`ZIPF`."""
    check_positive_int("n", n)
    return ["".join(rng.choices(SYMBOLS, weights=ZIPF, k=INPUT_LENGTH)) for _ in range(n)]


def demo_text(task: Task, x: str) -> str:
    """One demonstration: ``x=y;``."""
    return f"{x}={task.label(x)};"


def prompt_text(task: Task, demos: Sequence[str], x: str) -> str:
    """The prompt sent to the generalist: the demonstrations (inputs of the task's pool) then ``x=``."""
    return "".join(demo_text(task, d) for d in demos) + f"{x}="


def prompt_tokens(tok: CharTokenizer, prompt: str) -> int:
    """The prompt's cost in tokens: ``<bos>`` + one token per character."""
    return len(tok.encode(prompt, bos=True))


def meta_training_stream(tok: CharTokenizer, k_max: int) -> BatchStream:
    """The generalist's meta-training batches: a fresh non-held-out task per row (families alternate), ``k_max``
    demonstrations and a query, with the loss on every label token: the label after demonstration ``j`` is a
    ``j``-shot prediction, so one row trains every ``k`` in ``[0, k_max]``."""
    check_positive_int("k_max", k_max)
    families = tuple(FAMILIES)
    label_ids = {tok.index[c] for c in LABELS}

    def batch(rng: random.Random, batch_size: int) -> dict[str, torch.Tensor]:
        rows = []
        for i in range(batch_size):
            task = draw_task(families[i % len(families)], rng, held_out=False)
            xs = draw_inputs(k_max + 1, rng)
            rows.append(tok.encode(prompt_text(task, xs[:-1], xs[-1]) + task.label(xs[-1]), bos=True))
        ids = torch.tensor(rows)
        labels = torch.where(torch.isin(ids, torch.tensor(sorted(label_ids))), ids, torch.full_like(ids, -100))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    return batch
