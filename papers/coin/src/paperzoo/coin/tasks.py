"""The instruction tasks of the CPU scale: string transforms of digit strings, each asked in several phrasings.

An example is the text ``"<instruction>: <digits>="`` followed by the answer; the loss is on the answer and
``<eos>``. Tasks (in sequence order): reverse, sort ascending, increment each digit (mod 10), keep every other
symbol, count the symbols, and a sixth that reverses again under paraphrased instructions (the grouping target).
The instruction sets are diverse (no shared content word across tasks 1-5), so tau = 0.30 applies.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.shared.testbeds.arithmetic_lm import BatchStream, CharTokenizer, text_batch
from paperzoo.shared.validate import check_positive_int

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 :="


def tokenizer() -> CharTokenizer:
    """The shared character tokenizer over lowercase words, digits, space, ``:`` and ``=``."""
    return CharTokenizer(ALPHABET)


@dataclass(frozen=True)
class Task:
    """A named transform of a digit string and the instruction phrasings that ask for it."""

    name: str
    instructions: tuple[str, ...]
    fn: Callable[[str], str]


TASKS: tuple[Task, ...] = (
    Task("reverse", ("reverse the digits", "write the digits reversed", "reverse digits"), lambda s: s[::-1]),
    Task(
        "sort", ("sort ascending", "sort from smallest to largest", "arrange ascending"), lambda s: "".join(sorted(s))
    ),
    Task(
        "increment",
        ("increment each number", "add one to each number", "increase every number"),
        lambda s: "".join(str((int(d) + 1) % 10) for d in s),
    ),
    Task("alternate", ("keep alternate symbols", "copy alternate symbols", "keep odd positions"), lambda s: s[::2]),
    Task("count", ("count the characters", "how many characters", "count the length"), lambda s: str(len(s))),
    Task("reverse_paraphrase", ("digits reverse order", "reverse digits now", "digits reversed"), lambda s: s[::-1]),
)


@dataclass(frozen=True)
class Example:
    task: int
    prompt: str
    answer: str


def make_examples(task: int, n: int, lengths: Sequence[int], seed: int, tasks: Sequence[Task] = TASKS) -> list[Example]:
    """``n`` examples of ``tasks[task]``: a random phrasing and a random digit string of a length in ``lengths``."""
    check_positive_int("n", n)
    t = tasks[task]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice(list(lengths))))
        out.append(Example(task, f"{rng.choice(t.instructions)}: {digits}=", t.fn(digits)))
    return out


def example_batch(tok: CharTokenizer, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    return text_batch(tok, [e.prompt for e in examples], [e.answer for e in examples])


SKILLS: dict[str, Callable[[str], str]] = {
    "copy": lambda s: s,
    **{t.name: t.fn for t in TASKS[:5]},
}


def skill_stream(tok: CharTokenizer, lengths: Sequence[int], seed: int = 0) -> BatchStream:
    """Generic pretraining text: ``"<words>: <digits>=<skill(digits)>"`` for the skills copy, reverse, sort,
    increment, alternate and count. The skill is keyed by a random pseudo-word (drawn from ``seed``, never an
    English instruction word) placed at a random position among 0-3 random filler pseudo-words of 2-6 letters,
    so the digits sit at varying positions, as they do after instructions of different lengths. The base model
    learns the skills, position-invariant, and to find the key among words; the instruction tasks then teach it
    which English phrasings ask for which skill (the stand-in for a pretrained LLM's instruction tuning)."""
    code_rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    codes = {name: "".join(code_rng.choice(letters) for _ in range(5)) for name in SKILLS}
    names = list(SKILLS)

    def batch(rng: random.Random, n: int) -> dict[str, torch.Tensor]:
        prompts, answers = [], []
        for _ in range(n):
            name = rng.choice(names)
            words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(0, 3))]
            words.insert(rng.randint(0, len(words)), codes[name])
            digits = "".join(rng.choice("0123456789") for _ in range(rng.choice(list(lengths))))
            prompts.append(f"{' '.join(words)}: {digits}=")
            answers.append(SKILLS[name](digits))
        return text_batch(tok, prompts, answers)

    return batch


@torch.no_grad()
def greedy_answers(model: nn.Module, tok: CharTokenizer, prompts: Sequence[str], max_new: int, batch: int) -> list[str]:
    """Greedy decoding with the KV cache; prompts grouped by length, so no padding is needed."""
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    out = [""] * len(prompts)
    for idx in groups.values():
        for start in range(0, len(idx), batch):
            chunk = idx[start : start + batch]
            res = model(input_ids=torch.tensor([tok.encode(prompts[i], bos=True) for i in chunk]), use_cache=True)
            nxt = res.logits[:, -1].argmax(-1)
            new, done = [nxt], nxt == tok.eos_id
            for _ in range(max_new - 1):
                if bool(done.all()):
                    break
                res = model(input_ids=nxt[:, None], cache=res.cache, use_cache=True)
                nxt = res.logits[:, -1].argmax(-1)
                new.append(nxt)
                done |= nxt == tok.eos_id
            gen = torch.stack(new, 1)
            for row, i in enumerate(chunk):
                out[i] = tok.decode(gen[row].tolist())
    return out


def accuracy(model: nn.Module, tok: CharTokenizer, examples: Sequence[Example], batch: int = 256) -> float:
    """Greedy exact match of the answer."""
    max_new = max(len(e.answer) for e in examples) + 2
    got = greedy_answers(model, tok, [e.prompt for e in examples], max_new, batch)
    return sum(g == e.answer for g, e in zip(got, examples, strict=True)) / len(examples)
