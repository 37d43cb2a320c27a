"""Neural generalized predictive control (Soloway & Haley 1996) solved by Newton-Raphson.

With ``U = [u(k), ..., u(k+N_u-1)]`` (held after ``N_u``), the recursive predictions ``ŷ(k+1..k+K)`` of a forward
model, the reference ``y_r`` and the previously *applied* input ``u(k-1)``:

    J(U) = Σ_{j=N1}^{N2-1} (y_r(k+1+j) - ŷ(k+1+j))ᵀ Q (y_r(k+1+j) - ŷ(k+1+j))
         + Σ_{j=0}^{N_u-1} λ (u(k+j) - u(k+j-1))²
         + Σ_{j=0}^{N_u-1} [ s / (u(k+j) + r/2 - b) + s / (r/2 + b - u(k+j)) - 4/r ]

(the tracking rows are rows ``N1..N2-1`` of the K = N2-step rollout, as in the official nlsoft controller). The
Newton-Raphson step ``U ← U - H⁻¹ ∇J`` uses the exact gradient and Hessian through the recursive rollout (autograd
in float64), so H holds the Gauss-Newton term ``2 Σ (∂ŷ/∂U)ᵀ Q ∂ŷ/∂U``, the residual-weighted second-derivative
term ``-2 Σ (y_r - ŷ)ᵀ Q ∂²ŷ/∂U²``, ``2Λ`` from the move penalty and the barrier's ``2s/(·)³``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range
from paperzoo.smart_composites.narx import rollout

DEFAULT_Q = ((1e6, 0.0), (0.0, 1e6))


def check_horizons(n1: int, n2: int, n_u: int) -> None:
    """``0 <= N1 < N2`` and ``N_u >= 1``, else ``ValueError`` naming the argument."""
    if not isinstance(n1, int) or n1 < 0:
        raise ValueError(f"N1 must be an integer >= 0, got {n1!r}")
    if not isinstance(n2, int) or n2 <= n1:
        raise ValueError(f"N2 must be an integer > N1 = {n1}, got {n2!r}")
    check_positive_int("N_u", n_u)


def check_weight(name: str, matrix: np.ndarray | torch.Tensor | float, size: int) -> torch.Tensor:
    """Symmetric positive semidefinite ``size x size`` float64 matrices ``(..., size, size)`` (a scalar is 1x1).

    ``ValueError`` naming ``name`` for a wrong shape, an asymmetric, non-finite or indefinite matrix.
    """
    m = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
    if m.ndim == 0:
        m = m.reshape(1, 1)
    if m.ndim < 2 or m.shape[-2:] != (size, size):
        raise ValueError(f"{name} must be a {size}x{size} matrix (or a batch of them), got shape {tuple(m.shape)}")
    if not torch.isfinite(m).all() or not torch.allclose(m, m.transpose(-1, -2)):
        raise ValueError(f"{name} must be finite and symmetric")
    if (torch.linalg.eigvalsh(m).amin(-1) < -1e-12 * m.abs().amax((-1, -2)).clamp_min(1.0)).any():
        raise ValueError(f"{name} must be positive semidefinite")
    return m


def barrier(u: torch.Tensor, s: float, r: float, b: float) -> torch.Tensor:
    """``Σ_j s/(u_j + r/2 - b) + s/(r/2 + b - u_j) - 4/r`` over the last axis: infinite at ``u = b ± r/2``."""
    return (s / (u + r / 2 - b) + s / (r / 2 + b - u) - 4 / r).sum(-1)


def ngpc_cost(
    y_pred: torch.Tensor,
    y_ref: torch.Tensor,
    u: torch.Tensor,
    u_prev: torch.Tensor | float,
    Q: torch.Tensor,
    Lambda: torch.Tensor,
    s: float,
    r: float,
    b: float,
    N1: int = 0,
    N2: int | None = None,
) -> torch.Tensor:
    """The Soloway-Haley cost (module docstring) of predictions ``y_pred`` ``(..., K, n_y)`` against ``y_ref``.

    ``u``: the moves ``(..., N_u)``; ``u_prev``: the previously applied input ``(...)``; ``Q``
    ``(..., n_y, n_y)``; ``Lambda`` ``(..., 1, 1)``; tracking over rows ``N1..N2-1`` (``N2`` defaults to ``K``).
    Leading axes are a batch of independent problems; the cost has their shape.
    """
    N2 = y_pred.shape[-2] if N2 is None else N2
    check_horizons(N1, N2, u.shape[-1])
    check_positive("r", r)
    check_non_negative("s", s)
    e = (y_ref - y_pred)[..., N1:N2, :]
    tracking = torch.einsum("...ji,...ik,...jk->...", e, Q, e)
    prev = torch.as_tensor(u_prev, dtype=u.dtype).expand(u.shape[:-1]).unsqueeze(-1)
    du = torch.diff(u, dim=-1, prepend=prev)
    return tracking + Lambda[..., 0, 0] * (du**2).sum(-1) + barrier(u, s, r, b)


class NewtonRaphsonMPC:
    """Neural GPC for any differentiable torch forward model of NARX regressors, solved by Newton-Raphson.

    Defaults are the official MSD run: ``N1=0, N2=3, N_u=1, Q=diag(1e6, 1e6), Lambda=1, s=1e-20, b=1e-5,
    r=400``, one Newton iteration per control step (``maxit=1``) warm-started from the previous ``U``, then ``U``
    clipped to ``[u_min, u_max]``. ``Q`` ``(n_y, n_y)`` or ``(B, n_y, n_y)`` and ``Lambda`` (a scalar or ``(B,)``)
    may differ per system of a batch (e.g. a tuning grid run at once). ``d_u, d_y, n_y`` default to the model's
    attributes of those names. The model is copied in float64. ``ValueError`` names a bad argument.
    """

    def __init__(
        self,
        model: nn.Module,
        N1: int = 0,
        N2: int = 3,
        N_u: int = 1,
        Q: np.ndarray | tuple = DEFAULT_Q,
        Lambda: float | np.ndarray = 1.0,
        s: float = 1e-20,
        b: float = 1e-5,
        r: float = 4e2,
        maxit: int = 1,
        rtol: float = 1e-8,
        u_min: float = -1.0,
        u_max: float = 1.0,
        d_u: int | None = None,
        d_y: int | None = None,
        n_y: int | None = None,
    ) -> None:
        check_horizons(N1, N2, N_u)
        self.d_u = check_positive_int("d_u", d_u if d_u is not None else getattr(model, "d_u", 2))
        self.d_y = check_positive_int("d_y", d_y if d_y is not None else getattr(model, "d_y", 2))
        self.n_y = check_positive_int("n_y", n_y if n_y is not None else getattr(model, "n_y", 2))
        self.Q = check_weight("Q", Q, self.n_y)
        lam = np.asarray(Lambda, dtype=np.float64)
        self.Lambda = check_weight("Lambda", lam[..., None, None] if lam.ndim <= 1 else lam, 1)
        self.s, self.r = check_non_negative("s", s), check_positive("r", r)
        self.b = check_range("b", b)
        self.maxit, self.rtol = check_positive_int("maxit", maxit), check_non_negative("rtol", rtol)
        if not u_min < u_max:
            raise ValueError(f"u_min must be < u_max, got {u_min} and {u_max}")
        self.N1, self.N2, self.N_u, self.u_min, self.u_max = N1, N2, N_u, u_min, u_max
        self.model = copy.deepcopy(model).double().eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.reset()

    def reset(self, u0: float = 0.0) -> None:
        """Forget the warm start: ``U = u0`` at the next step (whatever its batch shape)."""
        self.u0 = float(u0)
        self.U: torch.Tensor | None = None
        self.last_move = np.zeros(())

    def cost(self, U: torch.Tensor, u_past: torch.Tensor, y_past: torch.Tensor, y_ref: torch.Tensor) -> torch.Tensor:
        """``J(U)`` given ``u(k-d_u+1..k-1)``, ``y(k-d_y+1..k)`` (oldest first) and ``y_r(k+1..k+N2)``."""
        held = torch.cat([U, U[..., -1:].expand(*U.shape[:-1], max(self.N2 - self.N_u, 0))], dim=-1)
        y_pred = rollout(self.model, u_past, y_past, held[..., : self.N2])
        u_prev = u_past[..., -1] if u_past.shape[-1] else U.new_zeros(U.shape[:-1])
        return ngpc_cost(y_pred, y_ref, U, u_prev, self.Q, self.Lambda, self.s, self.r, self.b, self.N1, self.N2)

    def derivatives(
        self, U: torch.Tensor, u_past: torch.Tensor, y_past: torch.Tensor, y_ref: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(J, ∇J, ∇²J)`` at ``U`` ``(..., N_u)`` by reverse-over-reverse autograd through the recursive rollout.

        A batch of independent problems is differentiated at once: the gradient of the summed cost is each
        problem's gradient, and row ``i`` of each Hessian is the gradient of the summed ``∂J/∂U_i``.
        """
        U = U.detach().requires_grad_(True)
        J = self.cost(U, u_past, y_past, y_ref)
        (g,) = torch.autograd.grad(J.sum(), U, create_graph=True)
        rows = [torch.autograd.grad(g[..., i].sum(), U, retain_graph=True)[0] for i in range(self.N_u)]
        return J.detach(), g.detach(), torch.stack(rows, dim=-2).detach()

    def step(self, u_past: np.ndarray, y_past: np.ndarray, y_ref: np.ndarray) -> float | np.ndarray:
        """One control step: ``maxit`` Newton iterations from the warm start, clip, return ``u(k)``.

        ``u_past``: ``u(k-d_u+1..k-1)`` ``(..., d_u - 1)``; ``y_past``: ``y(k-d_y+1..k)`` ``(..., d_y, n_y)``;
        ``y_ref``: ``y_r(k+1..k+N2)`` ``(..., N2, n_y)``, all oldest first; leading axes are a batch of systems
        (each with its own warm start; ``Q`` and ``Lambda`` may be given per system). Returns a float for one
        system, an array for a batch.
        """
        yp = torch.as_tensor(np.asarray(y_past, dtype=np.float64))
        batch = yp.shape[:-2]
        up = torch.as_tensor(np.asarray(u_past, dtype=np.float64)).reshape(*batch, self.d_u - 1)
        yr = torch.as_tensor(np.asarray(y_ref, dtype=np.float64)).reshape(*batch, self.N2, self.n_y)
        if self.U is None or self.U.shape[:-1] != batch:
            self.U = torch.full((*batch, self.N_u), self.u0, dtype=torch.float64)
        U, start = self.U.clone(), self.U.clone()
        for _ in range(self.maxit):
            _, g, H = self.derivatives(U, up, yp.reshape(*batch, self.d_y, self.n_y), yr)
            try:
                delta = torch.linalg.solve(H, g)
            except RuntimeError:  # a singular Hessian: the least-squares step
                delta = (torch.linalg.pinv(H) @ g.unsqueeze(-1)).squeeze(-1)
            U = U - torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
            if delta.abs().max() <= self.rtol * (1.0 + U.abs().max()):
                break
        self.U = U.clamp(self.u_min, self.u_max)
        self.last_move = (self.U - start).abs().amax(-1).numpy()
        return float(self.U[0]) if not batch else self.U[..., 0].numpy().copy()
