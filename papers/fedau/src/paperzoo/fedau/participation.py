"""Heterogeneous data and participation, as the official ``util/util.py`` draws them.

- :func:`partition_dirichlet`: client n's label mixture pi_n ~ Dir(alpha 1_C); each label's samples are cut among
  the clients in proportion pi_{n,c} / sum_m pi_{m,c} (contiguous slices of a shuffled per-label list).
- :func:`participation_probs`: d ~ Dir(alpha_p 1_C), p_n = max(p_min, C p_mean sum_c pi_{n,c} d_c) with pi_n the
  client's *actual* label frequencies: participation is tied to the data, which is what biases naive FedAvg.
- :class:`ParticipationSampler`: the 0/1 participation matrix I[t, n] of ``bernoulli``, ``markov-<q>`` (a two-state
  chain with stationary probability p_n) and ``cyclic-<T>`` (active for max(1, round(T p_n)) rounds, then inactive
  for max(1, T - that), random initial phase).
"""

from __future__ import annotations

import numpy as np

from paperzoo.shared.validate import check_positive, check_positive_int, check_range

PATTERNS = ("bernoulli", "markov", "cyclic")


def partition_dirichlet(
    labels: np.ndarray, n_clients: int, alpha: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """Split sample indices among ``n_clients`` with label mixtures pi_n ~ Dir(alpha 1_C).

    Label c's samples (in a random order) are cut at round(|D_c| sum_{m<=n} pi_{m,c} / sum_m pi_{m,c}), so client n
    gets the share pi_{n,c} / sum_m pi_{m,c} of label c (the official ``partition``). Returns each client's indices
    and the clients' actual label frequencies ``[N, C]`` (a client left without samples is refused: ``ValueError``).
    """
    check_positive_int("n_clients", n_clients)
    check_positive("alpha", alpha)
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    mixtures = rng.dirichlet(alpha * np.ones(n_classes), n_clients)
    cuts = np.cumsum(mixtures, axis=0) / mixtures.sum(axis=0)  # [N, C]
    parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        ends = np.round(len(members) * cuts[:, c]).astype(np.int64)
        for n, piece in enumerate(np.split(members, ends[:-1])):
            parts[n].append(piece)
    indices = [np.sort(np.concatenate(p)) for p in parts]
    if any(len(i) == 0 for i in indices):
        raise ValueError("a client received no samples: use more samples, fewer clients or a larger alpha")
    frequencies = np.stack([np.bincount(labels[i], minlength=n_classes) / len(i) for i in indices])
    return indices, frequencies


def participation_probs(
    label_frequencies: np.ndarray,
    rng: np.random.Generator,
    alpha: float = 0.1,
    p_mean: float = 0.1,
    p_min: float = 0.02,
) -> np.ndarray:
    """p_n = max(p_min, C p_mean sum_c pi_{n,c} d_c) with d ~ Dir(alpha 1_C): participation correlated with labels.

    ``label_frequencies`` is ``[N, C]`` (rows sum to 1). The result is clipped to at most 1 so that it is a
    probability (the official code leaves p > 1 possible; with p_mean 0.1 it needs a client of one label whose
    d_c > 1 / (C p_mean), i.e. never for C p_mean <= 1)."""
    check_positive("alpha", alpha)
    check_range("p_mean", p_mean, 0.0, 1.0, low_inclusive=False)
    check_range("p_min", p_min, 0.0, 1.0, low_inclusive=False)
    freq = np.asarray(label_frequencies, dtype=np.float64)
    d = rng.dirichlet(alpha * np.ones(freq.shape[1]))
    return np.clip(freq.shape[1] * p_mean * freq @ d, p_min, 1.0)


def parse_pattern(pattern: str) -> tuple[str, float]:
    """``"bernoulli"`` -> ("bernoulli", 0); ``"markov-0.05"`` -> ("markov", 0.05); ``"cyclic-100"`` ->
    ("cyclic", 100); ``ValueError`` naming the pattern otherwise."""
    kind, _, arg = pattern.partition("-")
    if kind not in PATTERNS or (kind == "bernoulli") != (arg == ""):
        raise ValueError(f"pattern must be 'bernoulli', 'markov-<q>' or 'cyclic-<period>', got {pattern!r}")
    try:
        value = float(arg) if arg else 0.0
    except ValueError:
        raise ValueError(f"pattern must be 'bernoulli', 'markov-<q>' or 'cyclic-<period>', got {pattern!r}") from None
    if kind == "markov":
        check_range("pattern's markov transition probability", value, 0.0, 1.0, low_inclusive=False)
    if kind == "cyclic" and (value != int(value) or value < 2):
        raise ValueError(f"pattern's cyclic period must be an integer >= 2, got {pattern!r}")
    return kind, value


class ParticipationSampler:
    """Draws which clients participate in each round (the official ``WorkerSampler``, for all clients at once).

    - ``bernoulli``: I_n^t ~ Bernoulli(p_n), independent over rounds;
    - ``markov-q``: P(off -> on) = q, P(on -> off) = q (1/p_n - 1) (both divided by the latter when it exceeds 1),
      so the stationary probability is p_n; the initial state ~ Bernoulli(p_n); each round first transitions;
    - ``cyclic-T``: active for a = max(1, round(T p_n)) rounds, inactive for max(1, T - a); each client starts
      inactive with a uniform number in [0, T - a) of rounds left before it switches.
    """

    def __init__(self, pattern: str, probs: np.ndarray, rng: np.random.Generator) -> None:
        self.kind, self.arg = parse_pattern(pattern)
        self.probs = np.asarray(probs, dtype=np.float64)
        if self.probs.ndim != 1 or np.any(self.probs <= 0) or np.any(self.probs > 1):
            raise ValueError("p must be a vector of probabilities in (0, 1]")
        self.rng = rng
        p = self.probs
        if self.kind == "markov":
            self.to_on = np.full_like(p, self.arg)
            self.to_off = self.arg * (1 / p - 1)
            over = self.to_off > 1
            self.to_on[over] /= self.to_off[over]
            self.to_off[over] = 1.0
            self.active = rng.random(len(p)) < p
        elif self.kind == "cyclic":
            period = int(self.arg)
            self.active_rounds = np.maximum(1, np.round(period * p)).astype(np.int64)
            self.inactive_rounds = np.maximum(1, period - self.active_rounds)
            self.active = np.zeros(len(p), dtype=bool)
            self.left = rng.integers(self.inactive_rounds)

    def step(self) -> np.ndarray:
        """The participation row of the next round: a bool vector ``[N]``."""
        if self.kind == "bernoulli":
            return self.rng.random(len(self.probs)) < self.probs
        if self.kind == "markov":
            u = self.rng.random(len(self.probs))
            self.active = np.where(self.active, u >= self.to_off, u < self.to_on)
            return self.active.copy()
        switch = self.left == 0
        self.active = self.active ^ switch
        self.left = np.where(switch, np.where(self.active, self.active_rounds, self.inactive_rounds), self.left) - 1
        return self.active.copy()

    def sample(self, rounds: int) -> np.ndarray:
        """The next ``rounds`` rows: a bool matrix ``[rounds, N]``."""
        check_positive_int("rounds", rounds)
        if self.kind == "bernoulli":
            return self.rng.random((rounds, len(self.probs))) < self.probs
        return np.stack([self.step() for _ in range(rounds)])
