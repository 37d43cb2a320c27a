"""Lanczos with full re-orthogonalisation, stochastic Lanczos quadrature (SLQ), and batch λ_max.

Lanczos on a symmetric operator A (only v -> Av is needed) from a unit start vector q_1 builds the
orthonormal Krylov basis Q_m and the tridiagonal T_m = Q_mᵀ A Q_m (diagonal α_j, off-diagonal β_j):

    w = A q_j − β_{j−1} q_{j−1};  α_j = q_jᵀ w;  w ← w − α_j q_j;  w ← w − Q (Qᵀ w) (twice, "full reorth");
    β_j = ‖w‖;  q_{j+1} = w / β_j.

With T_m = U diag(θ) Uᵀ, the Ritz values θ_k approximate A's extremal eigenvalues (θ_max <= λ_max(A)) and
w_k = U[0, k]² are the SLQ weights: for q_1 = v/‖v‖, v ~ N(0, I), Σ_k w_k δ(λ − θ_k) is an unbiased
quadrature of A's spectral density, so Σ_k w_k f(θ_k) estimates tr f(A) / P (Hutchinson) and the mean over
n_v start vectors is the SLQ density. Without re-orthogonalisation Q loses orthogonality once a Ritz value
converges and "ghost" copies of it appear. If β_j vanishes (an invariant subspace is found), the recursion
restarts from a random vector orthogonal to Q with β_j = 0: T splits into blocks, the new block's Ritz
values are eigenvalues of A too, and their weights are 0 (they are not connected to q_1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from paperzoo.rmt_lr.hessian import LossFn, hessian_operator, n_params
from paperzoo.shared.validate import check_positive, check_positive_int


def _project_out(w: Tensor, basis: Tensor) -> Tensor:
    """w − Q(Qᵀw) per start vector; ``w`` (n, P), ``basis`` (j, n, P)."""
    return w - torch.einsum("jn,jnp->np", torch.einsum("jnp,np->jn", basis, w), basis)


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    v0: Tensor,
    m: int,
    reorth: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """m Lanczos steps from ``v0``: the Ritz values θ and their SLQ weights w = U[0, k]², each ascending in θ.

    Args:
        matvec: v -> Av for a symmetric A; called with a (n, P) stack when ``v0`` is (n, P) (the start
            vectors run together, one batched product per step) and with a (P,) vector when ``v0`` is (P,).
        v0: the start vector(s), normalised here.
        m: the number of steps, 2 <= m <= P.
        reorth: full re-orthogonalisation against every earlier basis vector (twice per step).
        generator: for the restart vectors after a breakdown.

    Returns:
        ``(theta, weights)`` of shape (m,) — or (n, m) for a stack — in float64; each row of ``weights`` sums to 1.
    """
    single = v0.ndim == 1
    q = v0.reshape(1, -1) if single else v0
    if q.ndim != 2:
        raise ValueError(f"v0 must have shape (P,) or (n, P), got {tuple(v0.shape)}")
    n, p = q.shape
    if not isinstance(m, int) or isinstance(m, bool) or not 2 <= m <= p:
        raise ValueError(f"m must be an integer in [2, P={p}], got {m!r}")

    def apply(x: Tensor) -> Tensor:
        return matvec(x[0]).reshape(1, -1) if single else matvec(x)

    q = q / q.norm(dim=1, keepdim=True)
    basis = q.new_zeros(m, n, p)
    alpha = torch.zeros(n, m, dtype=torch.float64, device=q.device)
    beta = torch.zeros(n, m - 1, dtype=torch.float64, device=q.device)
    tol = 100 * torch.finfo(q.dtype).eps
    scale = torch.zeros(n, dtype=torch.float64, device=q.device)
    prev = torch.zeros_like(q)
    prev_beta = q.new_zeros(n, 1)
    for j in range(m):
        basis[j] = q
        w = apply(q) - prev_beta * prev
        a = (q * w).sum(dim=1)
        alpha[:, j] = a.double()
        w = w - a[:, None] * q
        if reorth:
            for _ in range(2):
                w = _project_out(w, basis[: j + 1])
        if j == m - 1:
            break
        b = w.norm(dim=1)
        scale = torch.maximum(scale, alpha[:, j].abs() + b.double())
        broken = b.double() <= tol * scale.clamp_min(torch.finfo(q.dtype).tiny)
        if bool(broken.any()):
            fresh = torch.randn(n, p, generator=generator, dtype=q.dtype).to(q.device)
            fresh = _project_out(_project_out(fresh, basis[: j + 1]), basis[: j + 1])
            w = torch.where(broken[:, None], fresh / fresh.norm(dim=1, keepdim=True), w)
            b = torch.where(broken, torch.zeros_like(b), b)
        beta[:, j] = b.double()
        prev, prev_beta = q, b[:, None]
        q = w / torch.where(broken, torch.ones_like(b), b)[:, None]
    tridiagonal = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    theta, vectors = torch.linalg.eigh(tridiagonal.cpu())
    weights = vectors[:, 0, :] ** 2
    weights = weights / weights.sum(dim=1, keepdim=True)
    return (theta[0], weights[0]) if single else (theta, weights)


def slq_density(theta: Tensor, weights: Tensor, grid: Tensor, sigma: float) -> Tensor:
    """The SLQ spectral density on ``grid``: mean over start vectors of Σ_k w_k N(λ; θ_k, σ²).

    ``theta``/``weights`` are (m,) or (n_v, m) as :func:`lanczos` returns them; integrates to 1 over ℝ.
    """
    check_positive("sigma", sigma)
    theta, weights = theta.reshape(-1, theta.shape[-1]).double(), weights.reshape(-1, weights.shape[-1]).double()
    z = (grid.double()[:, None, None] - theta[None]) / sigma
    kernels = torch.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
    return (kernels * weights[None]).sum(dim=2).mean(dim=1)


def slq(
    matvec: Callable[[Tensor], Tensor],
    p: int,
    m: int,
    n_v: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    batched: bool = True,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """SLQ: :func:`lanczos` from ``n_v`` start vectors v ~ N(0, I); (n_v, m) Ritz values and weights.

    ``batched`` runs the start vectors together (one (n_v, P) product per step); otherwise one after another.
    """
    check_positive_int("n_v", n_v)
    v0 = torch.randn(n_v, p, generator=generator, dtype=dtype).to(device)
    if batched:
        return lanczos(matvec, v0, m, generator=generator)
    runs = [lanczos(matvec, v, m, generator=generator) for v in v0]
    return torch.stack([t for t, _ in runs]), torch.stack([w for _, w in runs])


def lambda_max(
    model: nn.Module, loss_fn: LossFn, batch: tuple[Tensor, Tensor], m: int, generator: torch.Generator
) -> float:
    """λ_1(H_B) ≈ the largest Ritz value of m Lanczos steps on the batch Hessian from a random start."""
    p = n_params(model)
    dtype = next(model.parameters()).dtype
    v0 = torch.randn(p, generator=generator, dtype=dtype).to(next(model.parameters()).device)
    theta, _ = lanczos(hessian_operator(model, loss_fn, batch), v0, m, generator=generator)
    return float(theta.max())


def batch_lambda_max(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[Tensor, Tensor],
    batch_size: int,
    n_batches: int,
    m: int = 30,
    generator: torch.Generator | None = None,
) -> Tensor:
    """λ_1(H_B) on ``n_batches`` batches of ``batch_size`` examples, each drawn without replacement from ``data``.

    ``batch_size`` must lie in [1, N]; at N every batch is the whole data set (the full-data Hessian H).
    Returns the (n_batches,) float64 tensor of largest Ritz values.
    """
    x, y = data
    size = len(y)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= size:
        raise ValueError(f"batch_size must be an integer in [1, N={size}], got {batch_size!r}")
    check_positive_int("n_batches", n_batches)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    out = torch.empty(n_batches, dtype=torch.float64)
    for i in range(n_batches):
        index = torch.randperm(size, generator=gen)[:batch_size].to(y.device)
        out[i] = lambda_max(model, loss_fn, (x[index], y[index]), m, gen)
    return out
