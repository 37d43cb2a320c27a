"""NARX forward models (MLP or GRU) and their recursive rollout.

    ŷ(k) = y(k-1) + s ⊙ f_θ((r(k) - μ) / σ),    r(k) = [u(k-1..k-d_u), y(k-1..k-d_y)]

``f_θ`` is a small MLP (the MCU models) or a GRU over the ``d`` past (u, y) pairs, oldest first, followed by a dense
layer (the GRU of the official MSD test); ``μ, σ`` standardise the regressor and ``s`` is the scale of one-step
output increments (both from the training data). Predictions are fed back by :func:`rollout` (recursive).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int


class LastGRU(nn.Module):
    """A one-layer GRU over the window of ``steps`` (u, y) pairs in a most-recent-first NARX regressor.

    Input ``(..., d_u + n_y d_y)`` with ``d_u = d_y = steps``; output the last hidden state ``(..., hidden)``
    (zero initial state), so the whole model remains a function of the regressor.
    """

    def __init__(self, steps: int, n_y: int, hidden: int) -> None:
        super().__init__()
        self.steps, self.n_y = check_positive_int("steps", steps), check_positive_int("n_y", n_y)
        self.gru = nn.GRU(1 + n_y, check_positive_int("hidden", hidden), batch_first=True)

    def sequence(self, r: torch.Tensor) -> torch.Tensor:
        """``(..., steps, 1 + n_y)``: the (u, y) pairs oldest first."""
        u = r[..., : self.steps].unsqueeze(-1)
        y = r[..., self.steps :].unsqueeze(-1).reshape(*r.shape[:-1], self.steps, self.n_y)
        return torch.cat([u, y], dim=-1).flip(-2)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        batch = self.sequence(r).reshape(-1, self.steps, 1 + self.n_y)
        return self.gru(batch)[1][0].reshape(*r.shape[:-1], -1)


class NARX(nn.Module):
    """``ŷ(k) = y(k-1) + scale ⊙ core((r - mean) / std)`` for a regressor ``r`` (module docstring).

    ``kind="mlp"``: ``hidden`` dense layers with ``activation`` (tanh or relu); ``kind="gru"``: one GRU of
    ``hidden[0]`` units over the window (needs ``d_u == d_y``). The normalisation buffers are set by
    :func:`train_narx`. ``ValueError`` names a bad argument.
    """

    def __init__(
        self,
        kind: str = "mlp",
        hidden: tuple[int, ...] = (16, 16),
        d_u: int = 2,
        d_y: int = 2,
        n_y: int = 2,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        check_one_of("kind", kind, ("mlp", "gru"))
        check_one_of("activation", activation, ("tanh", "relu"))
        for name, v in (("d_u", d_u), ("d_y", d_y), ("n_y", n_y)):
            check_positive_int(name, v)
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive integers, got {hidden!r}")
        self.kind, self.d_u, self.d_y, self.n_y = kind, d_u, d_y, n_y
        n_in = d_u + n_y * d_y
        if kind == "gru":
            if d_u != d_y or len(hidden) != 1:
                raise ValueError(f"kind='gru' needs d_u == d_y and one hidden size, got {d_u}, {d_y}, {hidden}")
            layers: list[nn.Module] = [LastGRU(d_u, n_y, hidden[0]), nn.Linear(hidden[0], n_y)]
        else:
            act = nn.Tanh if activation == "tanh" else nn.ReLU
            widths = (n_in, *hidden)
            layers = [m for a, b in itertools.pairwise(widths) for m in (nn.Linear(a, b), act())]
            layers.append(nn.Linear(widths[-1], n_y))
        self.core = nn.Sequential(*layers)
        self.register_buffer("in_mean", torch.zeros(n_in))
        self.register_buffer("in_std", torch.ones(n_in))
        self.register_buffer("out_scale", torch.ones(n_y))

    @property
    def n_inputs(self) -> int:
        return self.d_u + self.n_y * self.d_y

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``ŷ(k)`` ``(..., n_y)`` from regressors ``(..., d_u + n_y d_y)``."""
        z = self.core((r - self.in_mean) / self.in_std)
        return r[..., self.d_u : self.d_u + self.n_y] + self.out_scale * z


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters (the weights a microcontroller stores)."""
    return sum(p.numel() for p in model.parameters())


def rollout(model: nn.Module, u_past: torch.Tensor, y_past: torch.Tensor, u_future: torch.Tensor) -> torch.Tensor:
    """Recursive K-step prediction ``ŷ(k+1..k+K)`` ``(..., K, n_y)``, predictions fed back as past outputs.

    ``u_past``: ``u(k-d_u+1..k-1)`` oldest first ``(..., d_u - 1)``; ``y_past``: ``y(k-d_y+1..k)`` oldest first
    ``(..., d_y, n_y)``; ``u_future``: ``u(k..k+K-1)`` ``(..., K)``. Leading axes are a batch of independent
    systems. Differentiable in every argument.
    """
    d_u, d_y = u_past.shape[-1] + 1, y_past.shape[-2]
    us = torch.cat([u_past, u_future], dim=-1)
    ys = list(y_past.unbind(-2))
    preds = []
    for i in range(u_future.shape[-1]):
        j = d_u - 1 + i  # index of u(k+i) in us
        r = torch.cat([us[..., j - d_u + 1 : j + 1].flip(-1), *ys[-d_y:][::-1]], dim=-1)
        y = model(r)
        preds.append(y)
        ys.append(y)
    return torch.stack(preds, dim=-2)


def train_narx(
    model: NARX,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    seed: int,
    lr: float = 3e-3,
    batch_size: int = 256,
) -> list[float]:
    """Fit ``model`` to NARX pairs ``(x, y)`` by Adam on the MSE of scaled one-step increments (series-parallel).

    Sets the normalisation buffers from the data, then minimises ``mean ‖(ŷ - y) / scale‖²`` over shuffled
    mini-batches (a cosine-decayed learning rate); returns the per-epoch training loss.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive("lr", lr)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for m in model.modules():  # a re-initialisation from this seed, whatever was drawn before
        if isinstance(m, (nn.Linear, nn.GRU)):
            m.reset_parameters()
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    prev = xt[:, model.d_u : model.d_u + model.n_y]
    with torch.no_grad():
        model.in_mean.copy_(xt.mean(0))
        model.in_std.copy_(xt.std(0).clamp_min(1e-8))
        model.out_scale.copy_((yt - prev).std(0).clamp_min(1e-8))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(xt) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for idx in perm.split(batch_size):
            loss = (((model(xt[idx]) - yt[idx]) / model.out_scale) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(xt))
    return losses
