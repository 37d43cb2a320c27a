"""Generated prompts, a pool of programmatic policies with sampling noise, POLAR triplets and preference pairs.

Prompts are small questions: ``"37+45"`` (the sum) or ``"rev abcd"`` (the word reversed). A :class:`Policy` answers
with its own habits: how often it is right, how it is wrong (a systematic error it repeats, or a random one), its
answer style (bare, restating the question, "answer: ...", "so ... ."), a trailing filler it repeats a random
number of times, and sampling noise (a second style it sometimes falls back to, doubled spaces). Two samples of
one policy differ, so the same-policy pair is never trivially identical text.

Pre-training triplets (Policy Discriminative Learning): policies A != B, y_A1, y_A2 ~ A(.|x), y_B ~ B(.|x); the
reference is y_A1, the chosen y_A2, the rejected y_B. Preference pairs for fine-tuning: a gold reference (the
correct answer in a style drawn per prompt); two candidates from different policies of which exactly one is
correct and in the gold reference's style: that one is chosen.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

from paperzoo.shared.validate import check_positive_int, check_range

STYLES = ("bare", "restate", "label", "so")
ERRORS = ("off", "under", "swap", "tens", "random")
FILLERS = ("", ".", " ok", "!")
LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class Prompt:
    """A question: ``kind`` "add" (``a+b``) or "rev" (reverse a word)."""

    kind: str
    a: int = 0
    b: int = 0
    word: str = ""

    @property
    def text(self) -> str:
        return f"{self.a}+{self.b}" if self.kind == "add" else f"rev {self.word}"

    @property
    def answer(self) -> str:
        return str(self.a + self.b) if self.kind == "add" else self.word[::-1]


def draw_prompt(rng: random.Random) -> Prompt:
    """A fresh prompt: half additions of two 2-digit numbers, half reversals of a 3-5 letter word."""
    if rng.random() < 0.5:
        return Prompt("add", rng.randint(10, 99), rng.randint(10, 99))
    return Prompt("rev", word="".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 5))))


def draw_prompts(n: int, rng: random.Random, exclude: set[Prompt] | None = None) -> list[Prompt]:
    """``n`` distinct prompts, none in ``exclude``."""
    check_positive_int("n", n)
    exclude = exclude or set()
    out: dict[Prompt, None] = {}
    while len(out) < n:
        p = draw_prompt(rng)
        if p not in exclude:
            out[p] = None
    return list(out)


def render(prompt: Prompt, answer: str, style: str) -> str:
    """The answer in a style: bare, restating the question, labelled, or "so ... ."."""
    return {"bare": answer, "restate": f"{prompt.text}={answer}", "label": f"answer: {answer}", "so": f"so {answer} ."}[
        style
    ]


def wrong_answer(prompt: Prompt, error: str, rng: random.Random) -> str:
    """An incorrect answer (never the correct one). The systematic errors are deterministic, so one policy repeats
    the same mistake on a prompt: "off" (sum + 1; the word's last letter dropped), "under" (sum - 1; the word not
    reversed), "swap" (the answer's first two characters swapped), "tens" (sum + 10; reversal rotated by one);
    "random" draws a fresh wrong answer."""
    right = prompt.answer
    add = prompt.kind == "add"
    if error == "off":
        out = str(int(right) + 1) if add else right[:-1]
    elif error == "under":
        out = str(int(right) - 1) if add else prompt.word
    elif error == "swap":
        out = right[1] + right[0] + right[2:]
    elif error == "tens":
        out = str(int(right) + 10) if add else right[1:] + right[0]
    else:
        out = str(rng.randint(20, 198)) if add else "".join(rng.choice(LETTERS) for _ in range(len(right)))
    return out if out != right else right + right[-1]


@dataclass(frozen=True)
class Policy:
    """A programmatic generator: correctness rate, error type, main and fallback style, filler habit, noise."""

    name: str
    correct: float
    error: str
    style: str
    alt_style: str
    alt_prob: float
    filler: str
    max_filler: int
    double_space: float

    def sample(self, prompt: Prompt, rng: random.Random) -> tuple[str, bool, str]:
        """One response, whether it is correct, and its style."""
        ok = rng.random() < self.correct
        answer = prompt.answer if ok else wrong_answer(prompt, self.error, rng)
        style = self.alt_style if rng.random() < self.alt_prob else self.style
        text = render(prompt, answer, style) + self.filler * rng.randint(0, self.max_filler)
        if rng.random() < self.double_space:
            text = text.replace(" ", "  ", 1)
        return text, ok, style


class PolicyPool:
    """``n`` distinct policies drawn from ``seed`` (the pool is part of the task, fixed across runs).

    Correctness rates spread over 0.1-1.0, every error type, style and filler appear; no two policies share
    (correct, error, style, filler). ``ValueError`` for fewer than 2 policies.
    """

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"n (the number of policies) must be an integer >= 2, got {n!r}")
        rng = random.Random(seed)
        seen: set[tuple[float, str, str, str]] = set()
        policies: list[Policy] = []
        while len(policies) < n:
            i = len(policies)
            correct = round(0.1 + 0.9 * ((i * 7) % n) / max(n - 1, 1), 3)
            style, alt = rng.sample(STYLES, 2)
            error, filler = rng.choice(ERRORS), rng.choice(FILLERS)
            key = (correct, error, style, filler)
            if key in seen:
                continue
            seen.add(key)
            policies.append(
                Policy(
                    name=f"policy{i:02d}",
                    correct=correct,
                    error=error,
                    style=style,
                    alt_style=alt,
                    alt_prob=round(rng.uniform(0.05, 0.3), 3),
                    filler=filler,
                    max_filler=rng.randint(1, 3) if filler else 0,
                    double_space=round(rng.uniform(0.0, 0.3), 3),
                )
            )
        self.policies: tuple[Policy, ...] = tuple(policies)

    def __len__(self) -> int:
        return len(self.policies)

    def __getitem__(self, i: int) -> Policy:
        return self.policies[i]


@dataclass(frozen=True)
class Triplet:
    """One pre-training example: prompt, reference y_A1, chosen y_A2 (same policy), rejected y_B."""

    prompt: str
    reference: str
    chosen: str
    rejected: str
    policy_a: int
    policy_b: int


def sample_triplets(
    pool: PolicyPool, policies: Sequence[int], prompts: Sequence[Prompt], n: int, rng: random.Random
) -> list[Triplet]:
    """``n`` POLAR triplets: a prompt from ``prompts``, A != B from ``policies``, y_A1, y_A2 ~ A, y_B ~ B.

    y_A1 and y_A2 are independent samples of A (the reference is y_A1). ``ValueError`` for fewer than 2
    policies or ``n < 1``.
    """
    if len(set(policies)) < 2:
        raise ValueError(f"policies must name at least 2 distinct policies, got {list(policies)}")
    check_positive_int("n", n)
    out = []
    for _ in range(n):
        x = rng.choice(prompts)
        a, b = rng.sample(list(policies), 2)
        y_a1, y_a2, y_b = (pool[p].sample(x, rng)[0] for p in (a, a, b))
        out.append(Triplet(x.text, y_a1, y_a2, y_b, a, b))
    return out


def preference_pairs(
    pool: PolicyPool, policies: Sequence[int], prompts: Sequence[Prompt], n: int, rng: random.Random
) -> list[Triplet]:
    """``n`` preference triplets (prompt, gold reference, chosen, rejected) with candidates from ``policies``.

    The gold reference is the correct answer in a style drawn per prompt. Two candidates from different policies
    are drawn until exactly one is good, i.e. correct and in the gold reference's style: it is the chosen one.
    """
    if len(set(policies)) < 2:
        raise ValueError(f"policies must name at least 2 distinct policies, got {list(policies)}")
    check_positive_int("n", n)
    out = []
    while len(out) < n:
        x = rng.choice(prompts)
        gold_style = rng.choice(STYLES)
        gold = render(x, x.answer, gold_style)
        a, b = rng.sample(list(policies), 2)
        (ya, oka, sa), (yb, okb, sb) = pool[a].sample(x, rng), pool[b].sample(x, rng)
        good_a, good_b = oka and sa == gold_style, okb and sb == gold_style
        if good_a and not good_b:
            out.append(Triplet(x.text, gold, ya, yb, a, b))
        elif good_b and not good_a:
            out.append(Triplet(x.text, gold, yb, ya, b, a))
    return out


def split_policies(n: int, held_out: int) -> tuple[list[int], list[int]]:
    """The first ``n - held_out`` policy indices (seen in pre-training) and the last ``held_out`` (unseen)."""
    check_range("held_out", held_out, 0, n - 2)
    return list(range(n - held_out)), list(range(n - held_out, n))
