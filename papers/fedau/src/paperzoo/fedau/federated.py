"""The federated round loop: many runs (aggregator x pattern x step size) advanced in lockstep in one process.

Round t of run r: every client with I_n^t = 1 starts from x_t^r and takes Q local SGD steps
y <- y - gamma_r grad F_n(y; minibatch of b), Delta_n = y - x_t^r; the server applies
x_{t+1}^r = x_t^r + eta_r v_t^r with v from the run's :class:`~paperzoo.fedau.aggregators.Aggregator`.

All participants of all runs take their local steps together: one batched forward/backward per local step over
the stacked ``[M, P]`` parameter rows (:mod:`paperzoo.shared.torch.many`). Runs that share a participation pattern
share its draw and each client's minibatch sequence (its k-th participation uses the same batches in every run),
so arms differ only by their rule and step sizes (common random numbers, paired comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from paperzoo.fedau.aggregators import Aggregator, make_aggregator
from paperzoo.shared.progress import progress
from paperzoo.shared.torch.many import Params, flatten_many, grads_many, sgd_many, unflatten_many
from paperzoo.shared.validate import check_positive, check_positive_int


@dataclass(frozen=True)
class RunSpec:
    """One simulated run: an aggregation rule on a participation pattern with local and global step sizes."""

    aggregator: str
    pattern: str
    gamma: float
    eta: float = 1.0
    k: float = math.inf

    def __post_init__(self) -> None:
        check_positive("gamma", self.gamma)
        check_positive("eta", self.eta)


def batch_plan(
    clients: Sequence[np.ndarray], participation: np.ndarray, q: int, b: int, rng: np.random.Generator
) -> tuple[np.ndarray, Tensor]:
    """The minibatches of every participation: ``offsets [T+1]`` and ``batches [sum I, q, b]`` sample indices.

    Rows ``offsets[t]:offsets[t+1]`` belong to round t's participants in increasing client order. Each client
    reads its data as a shuffling ``DataLoader`` that drops the incomplete last batch (the official sampler):
    epochs of floor(n_k / b) batches, a fresh permutation per epoch, continued across rounds. A client with fewer
    than b samples draws its b with replacement (the official loader would return all n_k < b; see the README).
    """
    check_positive_int("Q", q)
    check_positive_int("b", b)
    part = np.asarray(participation, dtype=bool)
    counts = part.sum(0)
    streams = []
    for n, idx in enumerate(clients):
        need = int(counts[n]) * q
        per_epoch = len(idx) // b
        if per_epoch == 0:
            streams.append(rng.choice(idx, size=(need, b)))
            continue
        epochs = -(-need // per_epoch)
        perms = rng.permuted(np.broadcast_to(idx, (max(epochs, 0), len(idx))), axis=1)
        streams.append(perms[:, : per_epoch * b].reshape(-1, b)[:need])
    starts = np.concatenate([[0], np.cumsum(counts * q)[:-1]])
    flat = np.concatenate(streams).astype(np.int64)
    _, clients_of = np.nonzero(part)  # sorted by round, then client
    order = np.argsort(clients_of, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)  # k: which participation of its client this is
    rank[order] = np.arange(len(order)) - np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    rows = starts[clients_of][:, None] + rank[:, None] * q + np.arange(q)
    offsets = np.concatenate([[0], np.cumsum(part.sum(1))])
    return offsets, torch.from_numpy(flat[rows])


def local_updates(
    template: nn.Module,
    like: Params,
    x_start: Tensor,
    xb: Tensor,
    yb: Tensor,
    lr: Tensor | float,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
) -> Tensor:
    """Delta_m = y_m - x_m after Q plain SGD steps y <- y - lr_m grad loss(y; xb[m, q], yb[m, q]), for all m at once.

    ``x_start`` is ``[M, P]`` (flat rows in ``like``'s layout), ``xb`` ``[M, Q, b, ...]``, ``yb`` ``[M, Q, b]``,
    ``lr`` a float or ``[M]``."""
    params = unflatten_many(x_start, like)
    for step in range(xb.shape[1]):
        grads, _ = grads_many(template, params, xb[:, step], yb[:, step], loss_fn)
        params, _ = sgd_many(params, grads, lr)
    return flatten_many(params) - x_start


class Client:
    """One client with its own data, updating a plain ``nn.Module`` with ``torch.optim.SGD`` (the reference loop
    that :func:`local_updates` batches)."""

    def __init__(
        self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy
    ):
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn

    def local_update(self, x_global: Tensor, batches: Tensor, gamma: float) -> Tensor:
        """Delta = y - x after one SGD step (lr ``gamma``) per row of ``batches`` (``[Q, b]`` indices of its data)."""
        check_positive("gamma", gamma)
        nn.utils.vector_to_parameters(x_global.clone(), self.model.parameters())  # (it aliases its input)
        opt = torch.optim.SGD(self.model.parameters(), lr=gamma)
        for rows in batches:
            opt.zero_grad()
            self.loss_fn(self.model(self.x[rows]), self.y[rows]).backward()
            opt.step()
        return nn.utils.parameters_to_vector(self.model.parameters()).detach() - x_global


# (x_start [M, P], client of each row [M], local rate of each row [M], batch indices [M, Q, b] or None) -> Delta
LocalStep = Callable[[Tensor, Tensor, Tensor, Tensor | None], Tensor]


@dataclass
class History:
    """What :func:`simulate` returns: the evaluation rounds, each evaluated quantity ``[n_evals, R]``, the final
    parameters ``[R, P]`` and the runs' aggregators (their final state)."""

    rounds: list[int]
    values: dict[str, np.ndarray]
    params: Tensor
    aggregators: list[Aggregator]


def simulate(
    runs: Sequence[RunSpec],
    x0: Tensor,
    participation: Mapping[str, np.ndarray],
    local_step: LocalStep,
    evaluate: Callable[[Tensor], dict[str, Tensor]],
    eval_rounds: Sequence[int],
    probs: np.ndarray | None = None,
    plans: Mapping[str, tuple[np.ndarray, Tensor]] | None = None,
    desc: str = "",
) -> History:
    """Run every :class:`RunSpec` from ``x0`` (``[P]``) for ``T`` rounds (the rows of ``participation[pattern]``).

    ``local_step`` computes the participants' updates (all runs' participants stacked); ``plans[pattern]`` (from
    :func:`batch_plan`) gives their minibatches; ``evaluate(X [R, P])`` returns named ``[R]`` values, recorded after
    each round in ``eval_rounds`` (1-based: after round t). ``desc`` labels the progress bar on stderr."""
    if not runs:
        raise ValueError("runs must be non-empty")
    n_rounds = {len(m) for m in participation.values()}
    if len(n_rounds) != 1 or any(r.pattern not in participation for r in runs):
        raise ValueError("participation must give every run's pattern the same number of rounds")
    total = n_rounds.pop()
    n_clients = next(iter(participation.values())).shape[1]
    params = x0.expand(len(runs), -1).clone()
    aggs = [make_aggregator(r.aggregator, n_clients, params.shape[1], probs, r.k, params.dtype) for r in runs]
    etas = [r.eta for r in runs]
    gammas = torch.tensor([r.gamma for r in runs], dtype=params.dtype)
    want = set(eval_rounds)
    history = History(rounds=[], values={}, params=params, aggregators=aggs)
    records: dict[str, list[np.ndarray]] = {}
    for t in progress(range(total), desc=desc, total=total):
        rows = {p: np.flatnonzero(m[t]) for p, m in participation.items()}
        sizes = torch.tensor([len(rows[r.pattern]) for r in runs])
        run_of_row = torch.repeat_interleave(torch.arange(len(runs)), sizes)
        if len(run_of_row):
            clients = torch.from_numpy(np.concatenate([rows[r.pattern] for r in runs]))
            batches = None
            if plans is not None:
                batches = torch.cat(
                    [plans[r.pattern][1][plans[r.pattern][0][t] : plans[r.pattern][0][t + 1]] for r in runs]
                )
            deltas = torch.split(local_step(params[run_of_row], clients, gammas[run_of_row], batches), sizes.tolist())
        else:
            deltas = [params.new_zeros(0, params.shape[1])] * len(runs)
        for r, run in enumerate(runs):
            params[r] += etas[r] * aggs[r].direction(participation[run.pattern][t], deltas[r])
        if t + 1 in want:
            history.rounds.append(t + 1)
            for name, value in evaluate(params).items():
                records.setdefault(name, []).append(value.detach().cpu().numpy())
    history.values = {name: np.stack(v) for name, v in records.items()}
    return history
