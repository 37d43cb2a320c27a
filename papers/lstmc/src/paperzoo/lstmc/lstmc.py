"""LSTMc: a model-free LSTM controller mapping a window of past states and tracking errors to the next jacket
temperature (our reconstruction; the paper's code is not public).

Input over the last ``W`` control steps (1 h apart): ``[L, c, T, T_j^prev, L_sp, e, sum(e) dt, de]`` with
``e = L_sp - L`` (um). A 2-layer LSTM (64) reads the window and a linear head gives ``T_j(t + 1)``, clamped to
[5, 40] degC. Training pairs come from open-loop batches by hindsight relabelling: ``L_sp := L(t_f)`` of the batch,
errors computed against it, label = the jacket temperature applied next; MSE, Adam 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from paperzoo.lstmc.dataset import OpenLoopData
from paperzoo.lstmc.dextrose import T_MAX, T_MIN
from paperzoo.shared.validate import check_positive, check_positive_int


def error_features(history: np.ndarray, set_points: np.ndarray, dt_h: float = 1.0) -> np.ndarray:
    """(N, K, 4) history ``[L, c, T, T_j^prev]`` -> (N, K, 8): appends ``L_sp``, ``e = L_sp - L``, the running
    integral ``sum_{j<=k} e_j dt`` and ``de_k = e_k - e_{k-1}`` (0 at the first step)."""
    sp = np.broadcast_to(np.asarray(set_points, dtype=np.float64)[:, None], history.shape[:2])
    e = sp - history[..., 0]
    de = np.diff(e, axis=1, prepend=e[:, :1])
    return np.concatenate([history, np.stack([sp, e, np.cumsum(e, axis=1) * dt_h, de], axis=-1)], axis=-1)


def windows(features: np.ndarray, window: int, ends: np.ndarray) -> np.ndarray:
    """The length-``window`` windows of (N, K, F) ``features`` ending at each index of ``ends`` (the first row
    repeated before the start): (N, len(ends), window, F)."""
    check_positive_int("window", window)
    padded = np.concatenate([np.repeat(features[:, :1], window - 1, axis=1), features], axis=1)
    index = np.asarray(ends)[:, None] + np.arange(window)[None, :]
    return padded[:, index]


def open_loop_history(data: OpenLoopData) -> np.ndarray:
    """(N, hours + 1, 4) ``[L, c, T, T_j^prev]`` of open-loop batches (``T_j^prev = T_j(0) = T0`` at hour 0)."""
    prev = np.concatenate([data.T_j[:, :1], data.T_j], axis=1)
    return np.concatenate([data.states, prev[..., None]], axis=-1)


class Normalizer(nn.Module):
    """Per-feature affine standardisation with statistics fitted once and kept in buffers."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def fit(self, x: torch.Tensor) -> None:
        flat = x.reshape(-1, x.shape[-1])
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


def fit(
    module: nn.Module,
    predict: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> list[float]:
    """Minimise the MSE of ``predict(inputs)`` to ``targets`` over ``module``'s parameters with Adam (shuffled
    mini-batches drawn from ``seed``); returns the mean training loss per epoch."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive("lr", lr)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        total = 0.0
        for start in range(0, len(inputs), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.mse_loss(predict(inputs[idx]), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(inputs))
    return losses


class LSTMController(nn.Module):
    """``T_j(t + 1) = clamp(head(LSTM(window of features)), 5, 40)``; ``use_errors=False`` drops the error
    features (``e``, its integral and difference), so with ``window=1`` it is an inverse model
    ``(L, c, T, T_j^prev, L_sp) -> T_j``."""

    def __init__(self, window: int = 3, hidden: int = 64, layers: int = 2, use_errors: bool = True) -> None:
        super().__init__()
        self.window = check_positive_int("W", window)
        check_positive_int("hidden", hidden)
        check_positive_int("layers", layers)
        self.use_errors = use_errors
        n_in = 8 if use_errors else 5
        self.x_norm, self.y_norm = Normalizer(n_in), Normalizer(1)
        self.lstm = nn.LSTM(n_in, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised prediction for (B, W, F) raw feature windows (the training target)."""
        out, _ = self.lstm(self.x_norm(x))
        return self.head(out[:, -1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Jacket temperatures (B,) in degC for (B, W, F) raw feature windows."""
        return self.y_norm.inverse(self.raw(x))[:, 0].clamp(T_MIN, T_MAX)

    def features(self, history: np.ndarray, set_points: np.ndarray) -> np.ndarray:
        """The controller's input features for a (N, K, 4) history: (N, K, 8) or, without errors, (N, K, 5)."""
        f = error_features(history, set_points)
        return f if self.use_errors else f[..., :5]

    def reset(self, set_points: np.ndarray) -> None:
        self.sp = np.asarray(set_points, dtype=np.float64)

    @torch.no_grad()
    def act(self, history: np.ndarray, hours_left: int) -> np.ndarray:
        """The next jacket temperature from the last ``window`` steps of the history."""
        f = self.features(history, self.sp)
        x = windows(f, self.window, np.array([f.shape[1] - 1]))[:, 0]
        return self(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def lstmc_samples(model: LSTMController, data: OpenLoopData) -> tuple[torch.Tensor, torch.Tensor]:
    """Hindsight-relabelled pairs: for every batch and hour k = 1..hours-1, the window ending at k with
    ``L_sp = L(t_f)`` of that batch, and the label ``T_j(k)``: (M, W, F) inputs and (M,) labels."""
    hours = data.T_j.shape[1]
    f = model.features(open_loop_history(data), data.states[:, -1, 0])
    ends = np.arange(1, hours)
    x = windows(f, model.window, ends).reshape(-1, model.window, f.shape[-1])
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(data.T_j[:, ends].reshape(-1), dtype=torch.float32)


def train_lstmc(
    model: LSTMController, data: OpenLoopData, epochs: int, seed: int, batch_size: int = 256, lr: float = 1e-3
) -> list[float]:
    """Fit the normalisers on the relabelled pairs, then the MSE of the normalised jacket temperature."""
    x, y = lstmc_samples(model, data)
    model.x_norm.fit(x)
    model.y_norm.fit(y[:, None])
    return fit(model, model.raw, x, model.y_norm(y[:, None]), epochs, batch_size, lr, seed)
