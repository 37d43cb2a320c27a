"""CoIN's instruction grouping (official ``LoRASelect``): a codebook of instruction strings per LoRA group.

The similarity of a task's unique instructions C to a group's H is the mean over all pairs (c, h) of the
cosine of their TF-IDF vectors, the vectorizer (``stop_words="english"``) fitted on the pair alone::

    sim(C, H) = mean_{c in C, h in H} cos(tfidf_{[c, h]}(c), tfidf_{[c, h]}(h))      (0 for an empty vocabulary)

Train time: the best group (ties to the lowest index) is reused when its similarity >= tau, else a new group
is made; test time: a task goes to the best group when >= tau, else to the latest group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def _check_instructions(name: str, items: Iterable[str]) -> list[str]:
    unique = list(dict.fromkeys(items))
    if not unique:
        raise ValueError(f"{name} must hold at least one instruction")
    return unique


def pair_similarity(a: str, b: str) -> float:
    """Cosine of the TF-IDF vectors of ``a`` and ``b`` with IDF fitted on ``[a, b]``; 0 when no word survives."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    try:
        x = TfidfVectorizer(stop_words="english").fit_transform([a, b])
    except ValueError:  # empty vocabulary: only stop words (or no words)
        return 0.0
    return float(cosine_similarity(x[0], x[1])[0, 0])


def similarity(current: Iterable[str], history: Iterable[str]) -> float:
    """Mean pairwise :func:`pair_similarity` of the unique strings of ``current`` and ``history``."""
    cur = _check_instructions("current", current)
    hist = _check_instructions("history", history)
    return float(np.mean([pair_similarity(c, h) for c in cur for h in hist]))


class InstructionGrouper:
    """The codebook of instruction strings per LoRA group, with train-time assignment and test-time routing.

    ``threshold`` (tau): 0.90 for the original CoIN instructions, 0.30 for diverse / 10-type instruction sets.
    """

    def __init__(self, threshold: float) -> None:
        if not (0.0 <= threshold <= 1.0):
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        self.threshold = threshold
        self.codebook: list[list[str]] = []

    def similarities(self, instructions: Sequence[str]) -> list[float]:
        """sim(instructions, group's codebook) for each group, in group order."""
        return [similarity(instructions, group) for group in self.codebook]

    def _best(self, instructions: Sequence[str]) -> tuple[int, float]:
        sims = self.similarities(instructions)
        best = int(np.argmax(sims))  # the first maximum: ties go to the lowest group
        return best, sims[best]

    def assign(self, instructions: Sequence[str]) -> tuple[int, bool]:
        """Train time: (the group to train, whether it is new); the task's new strings join its codebook."""
        unique = _check_instructions("instructions", instructions)
        if self.codebook:
            best, sim = self._best(unique)
            if sim >= self.threshold:
                self.codebook[best] += [s for s in unique if s not in self.codebook[best]]
                return best, False
        self.codebook.append(unique)
        return len(self.codebook) - 1, True

    def route(self, instructions: Sequence[str]) -> int:
        """Test time: the best group when its similarity >= threshold, else the latest group."""
        unique = _check_instructions("instructions", instructions)
        if not self.codebook:
            raise ValueError("route() before any group exists: assign() a task first")
        best, sim = self._best(unique)
        return best if sim >= self.threshold else len(self.codebook) - 1
