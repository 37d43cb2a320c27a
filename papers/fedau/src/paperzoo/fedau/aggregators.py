"""Server-side aggregation rules on flat updates (the official ``main.py``'s ``-weighting`` options).

Round t: the participants P_t (I_n^t = 1) return Delta_n = y_n - x_t after their local steps; the server moves
x_{t+1} = x_t + eta v_t with the direction v_t of :meth:`Aggregator.direction`:

- :class:`FedAU`: v = (1/N) sum_n omega_n I_n Delta_n, omega_n from :class:`FedAUWeights` (online 1/p_n estimate);
- :class:`KnownProb`: v = (1/N) sum_n I_n Delta_n / p_n (the true p_n, an oracle);
- :class:`AvgParticipating` (FedAvg): v = (1/|P_t|) sum_{n in P_t} Delta_n (0 when nobody participates);
- :class:`AvgAll`: v = (1/N) sum_n I_n Delta_n;
- :class:`FedVarp`: v = (1/|P_t|) sum_{n in P_t} (Delta_n - y_n) + mean_m y_m (the stored updates before this
  round), then y_n <- Delta_n for n in P_t (0 when nobody participates);
- :class:`MIFA`: y_n <- Delta_n for n in P_t, v = (1/N) sum_m y_m (stale updates of absent clients reused; as the
  official code, also in a round without participants).

``participating`` is a bool vector ``[N]``; ``deltas`` is ``[|P_t|, D]`` in increasing client order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import Tensor

from paperzoo.shared.validate import check_one_of, check_positive_int


class FedAUWeights:
    """FedAU's online aggregation weights (official ``-weighting adaptive``), O(1) integers per client.

    Per client: s_n, the rounds since its last participation or cutoff, and the sum and count of its recorded
    intervals. Each round, with I_n the participation bit:

    - I_n = 1: omega_n = mean of the recorded intervals (1 when none is recorded: the update is left unscaled);
      then the interval s_n + 1 is recorded and s_n <- 0 (so omega_n excludes the interval that just ended);
    - I_n = 0: s_n <- s_n + 1, and if s_n >= K the interval s_n is recorded and s_n <- 0 (the cutoff K).

    The mean is sum / count of integers, equal to ``np.mean`` of the official list of intervals bit for bit.
    """

    def __init__(self, n_clients: int, k: float = math.inf) -> None:
        check_positive_int("n_clients", n_clients)
        if not (k == math.inf or (isinstance(k, (int, float)) and not isinstance(k, bool) and k >= 1)):
            raise ValueError(f"K must be >= 1 (or math.inf), got {k!r}")
        self.n_clients, self.k = n_clients, k
        self.since = np.zeros(n_clients, dtype=np.int64)
        self.total = np.zeros(n_clients, dtype=np.int64)
        self.count = np.zeros(n_clients, dtype=np.int64)

    @property
    def omega(self) -> np.ndarray:
        """The current estimate of 1/p_n for every client (1 where no interval is recorded yet)."""
        return np.where(self.count > 0, self.total / np.maximum(self.count, 1), 1.0)

    def update(self, participating: np.ndarray) -> np.ndarray:
        """The weights omega_n I_n of this round (``[N]`` float64, 0 for absent clients), then the state update."""
        part = np.asarray(participating).astype(bool)
        if part.shape != (self.n_clients,):
            raise ValueError(f"participating must be a 0/1 vector of length {self.n_clients}, got {part.shape}")
        weights = np.where(part, self.omega, 0.0)
        interval = self.since + 1  # participation: s + 1; cutoff: the incremented s, also s + 1
        record = part | (interval >= self.k)
        self.total += np.where(record, interval, 0)
        self.count += record
        self.since = np.where(record, 0, interval)
        return weights

    def state_bytes(self) -> int:
        """Bytes of the server state: three integers per client."""
        return self.since.nbytes + self.total.nbytes + self.count.nbytes


class Aggregator(ABC):
    """A server aggregation rule: ``direction(participating, deltas)`` is v_t (x_{t+1} = x_t + eta v_t)."""

    def __init__(self, n_clients: int) -> None:
        self.n_clients = check_positive_int("n_clients", n_clients)

    def _check(self, participating: np.ndarray, deltas: Tensor) -> np.ndarray:
        part = np.asarray(participating).astype(bool)
        if part.shape != (self.n_clients,) or deltas.dim() != 2 or deltas.shape[0] != int(part.sum()):
            raise ValueError(
                f"participating must be [N={self.n_clients}] and deltas [|P|={int(part.sum())}, D], "
                f"got {part.shape} and {tuple(deltas.shape)}"
            )
        return part

    def _weighted_sum(self, weights: np.ndarray, deltas: Tensor) -> Tensor:
        """(1/N) sum_{n in P} w_n Delta_n."""
        w = torch.as_tensor(weights, dtype=deltas.dtype, device=deltas.device)
        return (w @ deltas) / self.n_clients

    @abstractmethod
    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        """v_t from this round's participation row ``[N]`` and the participants' updates ``[|P|, D]``."""

    def state_bytes(self) -> int:
        """Bytes of server state the rule keeps between rounds."""
        return 0


class FedAU(Aggregator):
    """v = (1/N) sum_n omega_n I_n Delta_n with FedAU's online weights (cutoff ``k``)."""

    def __init__(self, n_clients: int, k: float = math.inf) -> None:
        super().__init__(n_clients)
        self.weights = FedAUWeights(n_clients, k)

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        part = self._check(participating, deltas)
        return self._weighted_sum(self.weights.update(part)[part], deltas)

    def state_bytes(self) -> int:
        return self.weights.state_bytes()


class KnownProb(Aggregator):
    """v = (1/N) sum_n I_n Delta_n / p_n with the true participation probabilities."""

    def __init__(self, probs: np.ndarray) -> None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 1 or np.any(probs <= 0) or np.any(probs > 1):
            raise ValueError("p must be a vector of probabilities in (0, 1]")
        super().__init__(len(probs))
        self.probs = probs

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        part = self._check(participating, deltas)
        return self._weighted_sum(1.0 / self.probs[part], deltas)


class AvgParticipating(Aggregator):
    """FedAvg: v = mean of the participants' updates (0 in a round without participants)."""

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        self._check(participating, deltas)
        return deltas.mean(0) if len(deltas) else deltas.new_zeros(deltas.shape[1])


class AvgAll(Aggregator):
    """v = (1/N) sum_n I_n Delta_n (unweighted, divided by all N)."""

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        self._check(participating, deltas)
        return deltas.sum(0) / self.n_clients


class _Stored(Aggregator):
    """A rule that stores every client's latest update (``[N, D]``, zeros until a client first participates)."""

    def __init__(self, n_clients: int, dim: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(n_clients)
        self.stored = torch.zeros(n_clients, check_positive_int("dim", dim), dtype=dtype)

    def state_bytes(self) -> int:
        return self.stored.numel() * self.stored.element_size()


class FedVarp(_Stored):
    """v = (1/|P|) sum_{n in P} (Delta_n - y_n) + mean_m y_m (before the refresh); then y_n <- Delta_n on P."""

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        part = self._check(participating, deltas)
        if not part.any():
            return deltas.new_zeros(self.stored.shape[1])
        index = torch.as_tensor(np.flatnonzero(part))
        v = (deltas - self.stored[index]).mean(0) + self.stored.mean(0)
        self.stored[index] = deltas
        return v


class MIFA(_Stored):
    """y_n <- Delta_n on P, then v = (1/N) sum_m y_m."""

    def direction(self, participating: np.ndarray, deltas: Tensor) -> Tensor:
        part = self._check(participating, deltas)
        self.stored[torch.as_tensor(np.flatnonzero(part))] = deltas
        return self.stored.mean(0)


AGGREGATORS = ("fedau", "known_prob", "avg_participating", "avg_all", "fedvarp", "mifa")


def make_aggregator(
    name: str,
    n_clients: int,
    dim: int,
    probs: np.ndarray | None = None,
    k: float = math.inf,
    dtype: torch.dtype = torch.float32,
) -> Aggregator:
    """The aggregator ``name`` (one of :data:`AGGREGATORS`) for ``n_clients`` clients and ``dim`` parameters of
    ``dtype``; ``probs`` (the true p_n) is needed by ``known_prob``, ``k`` is FedAU's cutoff."""
    check_one_of("aggregator", name, AGGREGATORS)
    if name == "fedau":
        return FedAU(n_clients, k)
    if name == "known_prob":
        if probs is None or len(probs) != n_clients:
            raise ValueError(f"known_prob needs p, a vector of {n_clients} probabilities")
        return KnownProb(probs)
    if name in ("fedvarp", "mifa"):
        return (FedVarp if name == "fedvarp" else MIFA)(n_clients, dim, dtype)
    return (AvgParticipating if name == "avg_participating" else AvgAll)(n_clients)
