"""The LSTM-MPC baseline: an LSTM surrogate of the plant and a receding-horizon optimiser.

Surrogate: rows ``[L, c, T, T_j]`` over the last ``W`` hours (``T_j`` the temperature held over the hour that
follows the row) -> the change of ``[L, c, T]`` over the next hour; 2-layer LSTM (64), MSE, Adam 1e-3, trained on the
same open-loop batches as LSTMc. Every hour the controller minimises

    J(u) = sum_{k=1..H} (100 (L_k - L_sp) / L_sp)^2 + lambda sum_{k=0..H-1} (u_k - u_{k-1})^2

over ``H = 4`` hourly moves (fewer near the end of the batch) with scipy's L-BFGS-B (bounds [5, 40] degC; the
gradient by autograd through the surrogate's rollout), applies ``u_0`` and warm-starts the next hour with the
shifted plan. The episodes of a batch are independent, so their objectives are summed and solved as one problem.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

from paperzoo.lstmc.dataset import OpenLoopData
from paperzoo.lstmc.dextrose import T_MAX, T_MIN
from paperzoo.lstmc.lstmc import Normalizer, fit, windows
from paperzoo.shared.validate import check_positive_int


class Surrogate(nn.Module):
    """``x_{k+1} = x_k + LSTM(rows [x_j, u_j], j = k-W+1..k)``, ``x = [L, c, T]``."""

    def __init__(self, window: int = 3, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.window = check_positive_int("W", window)
        check_positive_int("hidden", hidden)
        check_positive_int("layers", layers)
        self.x_norm, self.y_norm = Normalizer(4), Normalizer(3)
        self.lstm = nn.LSTM(4, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def raw(self, rows: torch.Tensor) -> torch.Tensor:
        """Normalised state change for (B, W, 4) raw rows (the training target)."""
        out, _ = self.lstm(self.x_norm(rows))
        return self.head(out[:, -1])

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """The next state [L, c, T] (B, 3) after the last row of (B, W, 4) rows."""
        return rows[:, -1, :3] + self.y_norm.inverse(self.raw(rows))

    def rollout(self, rows: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Predicted states (N, H, 3) from a (N, W, 4) window whose last row's action is replaced by ``u[:, 0]``,
        then the moves ``u[:, 1:]`` (N, H)."""
        window = torch.cat([rows[:, :-1], torch.cat([rows[:, -1:, :3], u[:, :1, None]], dim=-1)], dim=1)
        states = []
        for i in range(u.shape[1]):
            nxt = self(window)
            states.append(nxt)
            if i + 1 < u.shape[1]:
                row = torch.cat([nxt, u[:, i + 1 : i + 2]], dim=-1)[:, None]
                window = torch.cat([window[:, 1:], row], dim=1)
        return torch.stack(states, dim=1)


def surrogate_rows(data: OpenLoopData) -> np.ndarray:
    """(N, hours, 4) rows ``[L_k, c_k, T_k, T_j(k)]`` of open-loop batches."""
    return np.concatenate([data.states[:, :-1], data.T_j[..., None]], axis=-1)


def train_surrogate(
    model: Surrogate, data: OpenLoopData, epochs: int, seed: int, batch_size: int = 256, lr: float = 1e-3
) -> list[float]:
    """One-step MSE of the normalised hourly state change on every window of the open-loop batches."""
    rows = surrogate_rows(data)
    hours = rows.shape[1]
    x = windows(rows, model.window, np.arange(hours)).reshape(-1, model.window, 4)
    y = (data.states[:, 1:] - data.states[:, :-1]).reshape(-1, 3)
    x_t, y_t = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    model.x_norm.fit(x_t)
    model.y_norm.fit(y_t)
    return fit(model, model.raw, x_t, model.y_norm(y_t), epochs, batch_size, lr, seed)


class LSTMMPC:
    """Receding-horizon control on a trained :class:`Surrogate` (solved in float64)."""

    def __init__(
        self, surrogate: Surrogate, horizon: int = 4, lam: float | np.ndarray = 0.1, maxiter: int = 50
    ) -> None:
        """``lam``: the move penalty (%^2 of the set-point per degC^2), a scalar or one per episode (a batched
        tuning grid); the tracking term is in percent of the set-point, so that L-BFGS-B's tolerances bite."""
        self.horizon = check_positive_int("horizon", horizon)
        lam_arr = np.asarray(lam, dtype=np.float64)
        if not np.all(np.isfinite(lam_arr)) or np.any(lam_arr < 0):
            raise ValueError(f"lam must be >= 0 and finite, got {lam!r}")
        self.lam = torch.as_tensor(lam_arr)
        self.maxiter = check_positive_int("maxiter", maxiter)
        self.model = copy.deepcopy(surrogate).double().eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def reset(self, set_points: np.ndarray) -> None:
        self.sp = np.asarray(set_points, dtype=np.float64)
        self.plan: np.ndarray | None = None

    def _window(self, history: np.ndarray) -> np.ndarray:
        """The last ``W`` rows ``[L, c, T, u]`` (the last row's action is the decision variable)."""
        actions = np.concatenate([history[:, 1:, 3], history[:, -1:, 3]], axis=1)
        rows = np.concatenate([history[:, :, :3], actions[..., None]], axis=-1)
        return windows(rows, self.model.window, np.array([rows.shape[1] - 1]))[:, 0]

    def act(self, history: np.ndarray, hours_left: int) -> np.ndarray:
        """Minimise J over ``min(H, hours_left)`` moves; return the first."""
        n, h = len(history), min(self.horizon, hours_left)
        rows = torch.as_tensor(self._window(history), dtype=torch.float64)
        prev = torch.as_tensor(history[:, -1, 3], dtype=torch.float64)
        sp = torch.as_tensor(self.sp, dtype=torch.float64)
        start = np.repeat(history[:, -1, 3:4], h, axis=1)
        if self.plan is not None:
            shifted = np.concatenate([self.plan[:, 1:], self.plan[:, -1:]], axis=1)[:, :h]
            start[:, : shifted.shape[1]] = shifted

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            u = torch.tensor(flat.reshape(n, h), dtype=torch.float64, requires_grad=True)
            L = self.model.rollout(rows, u)[..., 0]
            moves = torch.diff(torch.cat([prev[:, None], u], dim=1), dim=1)
            j = ((100.0 * (L - sp[:, None]) / sp[:, None]) ** 2).sum() + (self.lam.reshape(-1, 1) * moves**2).sum()
            (grad,) = torch.autograd.grad(j, u)
            return float(j.detach()), grad.numpy().ravel()

        result = minimize(
            objective,
            start.ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=[(T_MIN, T_MAX)] * (n * h),
            options={"maxiter": self.maxiter, "ftol": 1e-12, "gtol": 1e-8},
        )
        self.plan = result.x.reshape(n, h)
        return self.plan[:, 0].copy()
