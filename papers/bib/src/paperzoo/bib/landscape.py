"""The design problem: an exhaustive DNA landscape with an exact oracle, and its offline "(r)" split.

- :class:`Landscape`: every one of the ``4^L`` sequences of length ``L`` with its score, looked up exactly
  (the TFBind8/TFBind10 tasks of design-bench are exhaustive tables of this kind). :meth:`Landscape.tfbind_like`
  generates a TFBind8-like table: ``y(x) = log sum_{w, strand} exp(PWM score of a length-m motif at window w)``
  ``+ sum_{i<j} J_ij(x_i, x_j)`` (small random pairwise Potts couplings), from a fixed seed.
- :class:`OfflineTask`: the official "(r)" protocol: the ``n`` lowest-scoring sequences are the offline data,
  labels standardised with the offline mean and (unbiased) std, the top ``n_starts`` offline sequences are the
  starting designs; scores are normalised ``(y - y_min) / (y_max - y_min)`` over the FULL table.

Sequences are integer arrays over :data:`ALPHABET` (``A C G T`` = 0 1 2 3); the table is in lexicographic
base-4 order, so the index of a sequence is its base-4 number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from paperzoo.shared.validate import check_non_negative, check_positive_int

ALPHABET = "ACGT"


def encode(seqs: Sequence[str]) -> np.ndarray:
    """Integer tokens ``(N, L)`` of equal-length DNA strings; ``ValueError`` for letters outside ACGT."""
    if len(seqs) == 0 or len({len(s) for s in seqs}) != 1:
        raise ValueError("seqs must be a non-empty list of equal-length strings")
    bad = {ch for s in seqs for ch in s} - set(ALPHABET)
    if bad:
        raise ValueError(f"seqs must hold only the letters {ALPHABET}, got {sorted(bad)}")
    lookup = {ch: i for i, ch in enumerate(ALPHABET)}
    return np.array([[lookup[ch] for ch in s] for s in seqs], dtype=np.int64)


def decode(tokens: np.ndarray) -> list[str]:
    """DNA strings of integer tokens ``(N, L)``."""
    return ["".join(ALPHABET[i] for i in row) for row in np.asarray(tokens)]


def all_sequences(length: int) -> np.ndarray:
    """Every sequence of ``length`` bases, ``(4^length, length)``, in lexicographic base-4 order."""
    check_positive_int("length", length)
    index = np.arange(4**length)
    powers = 4 ** np.arange(length - 1, -1, -1)
    return (index[:, None] // powers) % 4


class Landscape:
    """An exhaustive table of scores over all ``4^L`` sequences of length ``L``; exact lookup by base-4 index."""

    def __init__(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        length = round(np.log(len(y)) / np.log(4)) if len(y) > 1 else 0
        if y.ndim != 1 or length < 1 or 4**length != len(y) or not np.all(np.isfinite(y)):
            raise ValueError(f"y must hold one finite score per sequence of 4^L sequences, got shape {y.shape}")
        self.y, self.length = y, length
        self.y_min, self.y_max = float(y.min()), float(y.max())

    @classmethod
    def from_table(cls, tokens: np.ndarray, y: np.ndarray) -> Landscape:
        """A landscape from a table that lists every sequence at least once, in any order (e.g. design-bench's).

        A sequence listed twice keeps its last score, as a dictionary built from the table would (the official
        ``seq2label``); ``ValueError`` when a sequence is missing.
        """
        tokens, y = np.asarray(tokens), np.asarray(y, dtype=np.float64).reshape(-1)
        if tokens.ndim != 2 or len(tokens) != len(y):
            raise ValueError("tokens must be (N, L) with one score each")
        if tokens.min() < 0 or tokens.max() > 3:
            raise ValueError("tokens must be integers in [0, 3]")
        index = tokens @ (4 ** np.arange(tokens.shape[1] - 1, -1, -1))
        unique, first_from_end = np.unique(index[::-1], return_index=True)
        if len(unique) != 4 ** tokens.shape[1]:
            raise ValueError(f"tokens must list all 4^{tokens.shape[1]} sequences, got {len(unique)} distinct ones")
        return cls(y[len(y) - 1 - first_from_end])

    @classmethod
    def tfbind_like(cls, length: int = 8, motif_length: int = 6, coupling: float = 0.1, seed: int = 0) -> Landscape:
        """A TFBind-like landscape (module docstring): Gaussian PWM and couplings ``J ~ coupling * N(0, 1)``."""
        check_positive_int("length", length)
        check_positive_int("motif_length", motif_length)
        check_non_negative("coupling", coupling)
        if motif_length > length:
            raise ValueError(f"motif_length must be <= length={length}, got {motif_length}")
        rng = np.random.default_rng(seed)
        pwm = rng.normal(size=(motif_length, 4))
        couplings = coupling * rng.normal(size=(length, length, 4, 4))
        x = all_sequences(length)
        strands = (x, (3 - x)[:, ::-1])  # the reverse complement: A<->T, C<->G (3 - b in ACGT order), reversed
        windows = [
            pwm[np.arange(motif_length), s[:, w : w + motif_length]].sum(axis=1)
            for s in strands
            for w in range(length - motif_length + 1)
        ]
        y = np.logaddexp.reduce(np.stack(windows, axis=1), axis=1)
        i, j = np.triu_indices(length, k=1)
        y = y + couplings[i, j, x[:, i], x[:, j]].sum(axis=1)
        return cls(y)

    def index(self, tokens: np.ndarray) -> np.ndarray:
        """Base-4 index of each sequence of ``tokens`` ``(N, L)``."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != self.length:
            raise ValueError(f"tokens must be (N, {self.length}), got {tokens.shape}")
        return tokens @ (4 ** np.arange(self.length - 1, -1, -1))

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        """The exact score of each sequence."""
        return self.y[self.index(tokens)]

    def normalised(self, y: np.ndarray) -> np.ndarray:
        """``(y - y_min) / (y_max - y_min)`` over the full table: 0 = worst sequence, 1 = best."""
        return (np.asarray(y) - self.y_min) / (self.y_max - self.y_min)


@dataclass(frozen=True, eq=False)
class OfflineTask:
    """The offline "(r)" split of a landscape (module docstring): bottom ``n_offline``, top ``n_starts`` starts."""

    landscape: Landscape
    n_offline: int = 5000
    n_starts: int = 128

    def __post_init__(self) -> None:
        check_positive_int("n_offline", self.n_offline)
        check_positive_int("n_starts", self.n_starts)
        if self.n_offline > len(self.landscape.y):
            raise ValueError(f"n_offline must be <= the {len(self.landscape.y)} sequences, got {self.n_offline}")
        if self.n_starts > self.n_offline:
            raise ValueError(f"n_starts must be <= n_offline={self.n_offline}, got {self.n_starts}")
        order = np.argsort(self.landscape.y, kind="stable")[: self.n_offline]  # ascending: the lowest n
        y = self.landscape.y[order]
        object.__setattr__(self, "tokens", all_sequences(self.landscape.length)[order])
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "mean", float(y.mean()))
        object.__setattr__(self, "std", float(y.std(ddof=1)))

    tokens: np.ndarray = field(init=False, repr=False)  # (n_offline, L), ascending score
    y: np.ndarray = field(init=False, repr=False)  # raw offline scores
    mean: float = field(init=False)
    std: float = field(init=False)

    @property
    def y_std(self) -> np.ndarray:
        """Standardised offline labels ``(y - mean) / std`` (the official ``normalize``: unbiased std)."""
        return (self.y - self.mean) / (self.std + 1e-9)

    @property
    def starts(self) -> np.ndarray:
        """The top ``n_starts`` offline sequences (the last rows: the offline set is sorted ascending)."""
        return self.tokens[-self.n_starts :]

    @property
    def threshold(self) -> float:
        """The highest offline score: no offline sequence lies above it."""
        return float(self.y[-1])
