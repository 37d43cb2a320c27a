"""The federated problems, with the local steps and evaluations that :func:`~paperzoo.fedau.federated.simulate` takes.

- :class:`Quadratic`: F_n(x) = 1/2 ||x - c_n||^2 with exact local gradients, so Q steps of size gamma give
  Delta_n = (1 - (1 - gamma)^Q) (c_n - x); the optimum of (1/N) sum_n F_n is the mean of the c_n.
- :class:`Classification`: a classifier on each client's shard of one data set: local steps are minibatch SGD on
  the client's cross-entropy, evaluation gives the true objective (1/N) sum_n F_n(x) (each F_n the mean loss on the
  client's data) and the test accuracy, for all runs at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from paperzoo.fedau.federated import local_updates
from paperzoo.shared.torch.many import Params, forward_many, stack_init, unflatten_many


@dataclass
class Quadratic:
    """F_n(x) = 1/2 ||x - c_n||^2 (``centers`` ``[N, d]``), Q exact gradient steps per participation."""

    centers: Tensor
    q: int

    def local_step(self, x: Tensor, clients: Tensor, lr: Tensor, batches: Tensor | None = None) -> Tensor:
        """Delta = (1 - (1 - gamma)^Q) (c_n - x) for every row."""
        return (1 - (1 - lr) ** self.q)[:, None] * (self.centers[clients] - x)

    def distance(self, x: Tensor) -> dict[str, Tensor]:
        """||x_r - mean_n c_n|| per run."""
        return {"distance": torch.linalg.vector_norm(x - self.centers.mean(0), dim=1)}


def gaussian_mixture(
    n_train: int, n_test: int, dim: int, n_classes: int, spread: float, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A balanced ``n_classes``-class mixture in R^dim: class means ~ N(0, spread^2 I), samples mean + N(0, I).
    Returns float32 ``x_train, y_train, x_test, y_test``."""
    means = rng.normal(0.0, spread, (n_classes, dim))

    def draw(n: int) -> tuple[Tensor, Tensor]:
        y = rng.permutation(np.arange(n) % n_classes)
        x = means[y] + rng.normal(size=(n, dim))
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))

    return (*draw(n_train), *draw(n_test))


def mlp(dim: int, hidden: int, n_classes: int) -> Callable[[], nn.Module]:
    """A factory of ``dim -> hidden -> ReLU -> n_classes`` MLPs (logistic regression when ``hidden`` is 0)."""
    if hidden == 0:
        return lambda: nn.Linear(dim, n_classes)
    return lambda: nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


class Classification:
    """A classifier trained federatedly on client shards of ``(x, y)``; evaluated on the shards and a test set."""

    def __init__(
        self,
        factory: Callable[[], nn.Module],
        x: Tensor,
        y: Tensor,
        clients: Sequence[np.ndarray],
        x_test: Tensor,
        y_test: Tensor,
        init_seed: int,
        augment: Callable[[Tensor], Tensor] | None = None,
        eval_chunk: int = 16,
        sample_chunk: int | None = None,
    ) -> None:
        self.template = factory()
        self.like: Params = stack_init(factory, [init_seed])
        self.x, self.y, self.x_test, self.y_test = x, y, x_test, y_test
        self.n_clients = len(clients)
        client_of = torch.empty(len(y), dtype=torch.int64)
        for n, idx in enumerate(clients):
            client_of[torch.from_numpy(np.asarray(idx))] = n
        self.client_of = client_of.to(y.device)
        self.client_sizes = torch.bincount(self.client_of, minlength=self.n_clients).to(x.dtype)
        self.like = {k: v.to(x.device) for k, v in self.like.items()}
        self.template = self.template.to(x.device)
        self.augment, self.eval_chunk, self.sample_chunk = augment, eval_chunk, sample_chunk or len(y)

    def x0(self) -> Tensor:
        """The initial global parameters, flat ``[P]``."""
        return torch.cat([v.reshape(-1) for v in self.like.values()])

    def local_step(self, x: Tensor, clients: Tensor, lr: Tensor, batches: Tensor | None) -> Tensor:
        """Q minibatch SGD steps of every row on its client's batches (``[M, Q, b]`` sample indices)."""
        assert batches is not None
        xb = self.x[batches]
        if self.augment is not None:
            xb = self.augment(xb.flatten(0, 2)).reshape(xb.shape)
        return local_updates(self.template, self.like, x, xb, self.y[batches], lr)

    @torch.no_grad()
    def evaluate(self, x: Tensor) -> dict[str, Tensor]:
        """Per run: the objective (1/N) sum_n F_n, the pooled training loss (mean over samples, what the official
        code logs) and the test accuracy."""
        out: dict[str, list[Tensor]] = {"train_loss": [], "pooled_train_loss": [], "test_accuracy": []}
        for chunk in torch.split(x, self.eval_chunk):
            params = unflatten_many(chunk, self.like)
            per_client = x.new_zeros(len(chunk), self.n_clients)
            for rows in torch.split(torch.arange(len(self.y), device=x.device), self.sample_chunk):
                logits = forward_many(self.template, params, self.x[rows], shared_input=True)
                losses = F.cross_entropy(logits.transpose(1, 2), self.y[rows].expand(len(chunk), -1), reduction="none")
                per_client.index_add_(1, self.client_of[rows], losses)
            correct = x.new_zeros(len(chunk))
            for rows in torch.split(torch.arange(len(self.y_test), device=x.device), self.sample_chunk):
                pred = forward_many(self.template, params, self.x_test[rows], shared_input=True).argmax(-1)
                correct += (pred == self.y_test[rows]).sum(1)
            out["train_loss"].append((per_client / self.client_sizes).mean(1))
            out["pooled_train_loss"].append(per_client.sum(1) / len(self.y))
            out["test_accuracy"].append(correct / len(self.y_test))
        return {k: torch.cat(v) for k, v in out.items()}


def cifar_cnn() -> nn.Module:
    """The official CIFAR-10 CNN (``model/cnn_cifar10.py``): two 3x3 conv(32)-ReLU-maxpool blocks, 2048 -> 256 -> 64
    -> 10 with ReLUs, Kaiming-normal weights and zero biases in the conv and hidden layers (the last layer keeps
    PyTorch's default); inputs are standardised images."""
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 8 * 32, 256),
        nn.ReLU(),
        nn.Linear(256, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    with torch.no_grad():
        for layer in list(model)[:-1]:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
    return model
