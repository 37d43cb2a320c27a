"""The class-conditional eps-prediction MLP with a null class, and its DDPM training loop.

``EpsMLP(x_t, t, labels)``: ``h_0 = W_in x_t + time(t) + class(labels)``, then ``depth`` SiLU layers of width
``hidden`` and a linear read-out of eps. ``time(t)`` is a sinusoidal embedding of the timestep through a small
SiLU MLP (``time_dim -> time_dim -> hidden``); ``class`` an embedding with ``n_classes + 1`` rows, the last one
the null class (label ``n_classes``) that training substitutes for the true label with probability
``label_dropout`` (classifier-free guidance's joint training of the conditional and unconditional model).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.validate import check_positive, check_positive_int, check_range


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """``[cos(t f_k), sin(t f_k)]`` with ``f_k = max_period^(-k / (dim/2))``, shape ``(B, dim)`` (``dim`` even)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class EpsMLP(nn.Module):
    """Predicts the noise eps of ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` given ``t`` and a class label.

    ``data_shape``: one sample's shape (``(2,)`` for points, ``(8, 8)`` for digits); label ``n_classes`` is null.
    """

    def __init__(
        self, data_shape: tuple[int, ...], n_classes: int, hidden: int, depth: int, time_dim: int = 64
    ) -> None:
        super().__init__()
        for name, value in (("n_classes", n_classes), ("hidden", hidden), ("depth", depth), ("time_dim", time_dim)):
            check_positive_int(name, value)
        if time_dim % 2:
            raise ValueError(f"time_dim must be even, got {time_dim}")
        self.data_shape, self.n_classes, self.time_dim = tuple(data_shape), n_classes, time_dim
        features = math.prod(self.data_shape)
        self.inp = nn.Linear(features, hidden)
        self.time = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, hidden))
        self.label = nn.Embedding(n_classes + 1, hidden)
        layers: list[nn.Module] = []
        for _ in range(depth - 1):
            layers += [nn.SiLU(), nn.Linear(hidden, hidden)]
        self.body = nn.Sequential(*layers, nn.SiLU(), nn.Linear(hidden, features))

    @property
    def null_label(self) -> int:
        return self.n_classes

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = (
            self.inp(x_t.flatten(1))
            + self.time(timestep_embedding(t, self.time_dim).to(x_t.dtype))
            + self.label(labels)
        )
        return self.body(h).view(x_t.shape)


def train_eps_model(
    model: EpsMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    label_dropout: float,
    seed: int,
) -> list[float]:
    """DDPM's simple loss ``||eps - eps_theta(x_t, t, c)||^2`` with Adam; labels dropped to null w.p. ``label_dropout``.

    Each step draws a batch of data (with replacement), timesteps uniform in [0, T), Gaussian noise and the
    dropout mask from one generator seeded by ``seed``. Returns the loss of every step.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_positive("lr", lr)
    check_range("label_dropout", label_dropout, 0.0, 1.0)
    gen = torch.Generator().manual_seed(seed)
    abar = alphas_cumprod.float()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = torch.empty(steps)
    for i in range(steps):
        index = torch.randint(len(x), (batch_size,), generator=gen)
        t = torch.randint(len(abar), (batch_size,), generator=gen)
        eps = torch.randn((batch_size, *x.shape[1:]), generator=gen)
        drop = torch.rand(batch_size, generator=gen) < label_dropout
        labels = torch.where(drop, model.null_label, y[index])
        a = abar[t].view(-1, *([1] * (x.ndim - 1)))
        x_t = a.sqrt() * x[index] + (1 - a).sqrt() * eps
        loss = F.mse_loss(model(x_t, t, labels), eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[i] = loss.detach()
    model.eval()
    return losses.tolist()
