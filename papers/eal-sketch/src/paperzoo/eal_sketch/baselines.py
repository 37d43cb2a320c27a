"""The official repository's baselines, with ``scipy.sparse.linalg.gmres`` as the linear solver.

- :class:`L1SQPGMRES`: ℓ1-merit SQP whose Newton–KKT system is solved inexactly by GMRES, two Krylov
  iterations at a time (warm-started), until termination test 1 (``‖r‖₁ <= κ‖b‖₁``, ``|r_{n+1}| <=
  max(κ₁‖b_x‖₁, κ₂‖b_c‖₁)`` and model reduction ``Δm >= σμ max(‖c‖₁, ‖Gd + c‖₁ − ‖c‖₁)``) or test 2
  (``‖r_x‖₁ <= ε‖c‖₁``, ``‖r_c‖₁ <= β‖c‖₁``) holds; μ raised when the model reduction fails; Armijo on
  ``f + μ‖c‖₁``. Repo parameters: μ=1, κ=1, κ₁=0.1, ε=0.1, τ=0.1, η=1e-8, ξ_B=0.1.
- :class:`AugmentedLagrangian`: the method of multipliers, inner Newton steps on
  ``L_μ = f + λᵀc + (μ/2)‖c‖²`` with the Hessian shifted to ``λ_min = 1`` and GMRES to ``‖r‖ <= 1e-4‖b‖``,
  Armijo (β=0.1), inner stop ``‖∇L_μ‖ <= τ_k``; then ``λ ← λ + μc``, ``μ ← 1.5μ``, ``τ_k ← 0.1τ_k``.

Both count ``flops`` as GMRES matrix-vector products × ``nnz`` of the matrix (row operations × nonzeros).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy.sparse.linalg import LinearOperator, gmres

from paperzoo.eal_sketch.problems import FirstOrder, Problem
from paperzoo.eal_sketch.solver import MAX_HALVINGS, SolveResult, modified_hessian
from paperzoo.shared.validate import check_positive, check_positive_int


class _Counted(LinearOperator):
    """A dense matrix as a ``LinearOperator`` that counts its products."""

    def __init__(self, A: np.ndarray) -> None:
        super().__init__(A.dtype, A.shape)
        self.A, self.products, self.nnz = A, 0, int(np.count_nonzero(A))

    def _matvec(self, v: np.ndarray) -> np.ndarray:
        self.products += 1
        return self.A @ v.ravel()


def _gmres2(op: _Counted, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Two GMRES iterations from ``z`` (the official ``gmres!(z, A, b, maxiter=2)``)."""
    z, _ = gmres(op, b, x0=z, rtol=1e-300, atol=0.0, restart=2, maxiter=1)
    return z


def _reduction(p: FirstOrder, B: np.ndarray, d: np.ndarray, mu: float, sigma: float) -> tuple[float, float]:
    """The ℓ1 model reduction ``−∇fᵀd − max(½dᵀBd, 0) + μ(‖c‖₁ − ‖Gd + c‖₁)`` and its required level."""
    n = p.grad.size
    c1, lin = np.abs(p.c).sum(), np.abs(p.jac @ d[:n] + p.c).sum()
    model = -p.grad @ d[:n] - max(0.5 * d[:n] @ B @ d[:n], 0.0) + mu * (c1 - lin)
    return model, sigma * mu * max(c1, lin - c1)


def _l1_merit(problem: Problem, x: np.ndarray, dx: np.ndarray, mu: float, alpha: float) -> float:
    """``f + μ‖c‖₁`` at ``x + α dx``."""
    f, c = problem.values(x + alpha * dx)
    return f + mu * np.abs(c).sum()


def _aug_merit(problem: Problem, x: np.ndarray, dx: np.ndarray, lam: np.ndarray, mu: float, alpha: float) -> float:
    """``f + λᵀc + (μ/2)‖c‖²`` at ``x + α dx``."""
    f, c = problem.values(x + alpha * dx)
    return f + lam @ c + 0.5 * mu * c @ c


def _armijo(merit: Callable[[float], float], slope: float, eta: float) -> float | None:
    """The first ``α = 2⁻ʲ`` with ``merit(α) <= merit(0) + α·eta·slope`` (None after 60 halvings)."""
    current, alpha = merit(0.0), 1.0
    for _ in range(MAX_HALVINGS):
        if merit(alpha) <= current + alpha * eta * slope:
            return alpha
        alpha *= 0.5
    return None


class L1SQPGMRES:
    """ℓ1-SQP with GMRES (the repo's ``GmresL1SQP``); ``solve(problem) -> SolveResult``."""

    def __init__(
        self,
        mu: float = 1.0,
        kappa: float = 1.0,
        kappa1: float = 0.1,
        epsilon: float = 0.1,
        tau: float = 0.1,
        eta: float = 1e-8,
        xi_B: float = 0.1,
        tol: float = 1e-4,
        max_iter: int = 10_000,
        inner_cap: int = 100_000,
    ) -> None:
        for name, value in (("mu", mu), ("kappa", kappa), ("kappa1", kappa1), ("epsilon", epsilon)):
            check_positive(name, value)
        for name, value in (("tau", tau), ("eta", eta), ("xi_B", xi_B), ("tol", tol)):
            check_positive(name, value)
        check_positive_int("max_iter", max_iter)
        check_positive_int("inner_cap", inner_cap)
        self.mu, self.kappa, self.kappa1, self.epsilon, self.tau, self.eta = mu, kappa, kappa1, epsilon, tau, eta
        self.xi_B, self.tol, self.max_iter, self.inner_cap = xi_B, tol, max_iter, inner_cap

    def solve(self, problem: Problem) -> SolveResult:
        """Run from ``(x0, λ0)`` until ``KKT <= tol``, ``λ_min(GGᵀ) < 1e-6`` (singular) or ``max_iter``."""
        n, m, mu = problem.n, problem.m, self.mu
        x, lam = problem.x0.copy(), problem.lam0.copy()
        p = problem.first_order(x)
        b = -np.concatenate([p.grad + p.jac.T @ lam, p.c])
        out = SolveResult(x, lam, [float(np.linalg.norm(b))])
        sigma = self.tau * (1 - self.epsilon)
        beta = max(np.abs(b[:n]).sum() / (np.abs(p.c).sum() + 1), 1.0)
        start = time.perf_counter()
        while out.kkt[-1] > self.tol and len(out.alpha) < self.max_iter:
            if np.linalg.eigvalsh(p.jac @ p.jac.T)[0] < 1e-6:
                out.status = "singular"
                break
            B, modified = modified_hessian(problem.hessians(x, lam)[1], p.jac, self.xi_B, problem.tau)
            op = _Counted(np.block([[B, p.jac.T], [p.jac, np.zeros((m, m))]]))
            c1 = np.abs(p.c).sum()

            z = np.zeros(n + m)
            for _ in range(self.inner_cap):
                z = _gmres2(op, b, z)
                r = op.A @ z - b
                model, needed = _reduction(p, B, z, mu, sigma)
                test1 = (
                    np.abs(r).sum() <= self.kappa * np.abs(b).sum()
                    and abs(r[n]) <= max(self.kappa1 * np.abs(b[:n]).sum(), beta * np.abs(b[n:]).sum())
                    and model >= needed
                )
                if test1 or (np.abs(r[:n]).sum() <= self.epsilon * c1 and np.abs(r[n:]).sum() <= beta * c1):
                    break
            model, needed = _reduction(p, B, z, mu, sigma)
            lin = np.abs(p.jac @ z[:n] + p.c).sum()
            if model < needed and c1 - lin > 0:
                quad = p.grad @ z[:n] + max(0.5 * z[:n] @ B @ z[:n], 0.0)
                mu = max(quad / (1 - self.tau) / (c1 - lin), mu) + 1e-4
            slope = float(p.grad @ z[:n] - mu * (c1 - lin))

            alpha = _armijo(partial(_l1_merit, problem, x, z[:n], mu), slope, self.eta)
            if alpha is None:
                out.status = "line_search"
                break
            x, lam = x + alpha * z[:n], lam + alpha * z[n:]
            p = problem.first_order(x)
            b = -np.concatenate([p.grad + p.jac.T @ lam, p.c])
            out.kkt.append(float(np.linalg.norm(b)))
            out.alpha.append(alpha)
            out.inner_steps.append(op.products)
            out.flops.append(op.products * op.nnz)
            out.modified.append(modified)
            out.times.append(time.perf_counter() - start)
        else:
            out.status = "converged" if out.kkt[-1] <= self.tol else "max_iter"
        out.x, out.lam, out.seconds = x, lam, time.perf_counter() - start
        return out


class AugmentedLagrangian:
    """The repo's ``AugLagrangian`` (method of multipliers with inexact Newton inner steps)."""

    def __init__(
        self,
        mu: float = 1.0,
        beta: float = 0.1,
        tol: float = 1e-4,
        max_iter: int = 10_000,
        inner_max: int = 100,
        gmres_rtol: float = 1e-4,
    ) -> None:
        for name, value in (("mu", mu), ("beta", beta), ("tol", tol), ("gmres_rtol", gmres_rtol)):
            check_positive(name, value)
        check_positive_int("max_iter", max_iter)
        check_positive_int("inner_max", inner_max)
        self.mu, self.beta, self.tol, self.max_iter = mu, beta, tol, max_iter
        self.inner_max, self.gmres_rtol = inner_max, gmres_rtol

    def solve(self, problem: Problem) -> SolveResult:
        """Run from ``(x0, λ0)``; ``kkt`` per multiplier update; ``alpha`` per inner Newton step."""
        mu, tau_k = self.mu, 0.1
        x, lam = problem.x0.copy(), problem.lam0.copy()
        out = SolveResult(x, lam, [problem.kkt(x, lam)])
        start = time.perf_counter()
        while out.kkt[-1] > self.tol and len(out.kkt) - 1 < self.max_iter:
            products = flops = 0
            z, alpha = np.zeros(problem.n), 1.0
            for _ in range(self.inner_max + 1):
                p = problem.first_order(x)
                grad = p.grad + p.jac.T @ (lam + mu * p.c)
                if np.linalg.norm(grad) <= tau_k:
                    break
                hess_f, hess_l = problem.hessians(x, lam)
                H = hess_l + mu * p.jac.T @ p.jac + mu * (problem.hessians(x, p.c)[1] - hess_f)
                H += (1 - np.linalg.eigvalsh(H)[0]) * np.eye(problem.n)
                op = _Counted(H)
                z, _ = gmres(op, -grad, x0=z, rtol=self.gmres_rtol, atol=0.0, restart=2, maxiter=50_000)
                products, flops = products + op.products, flops + op.products * op.nnz

                alpha = _armijo(partial(_aug_merit, problem, x, z, lam, mu), float(grad @ z), self.beta)
                if alpha is None:
                    break
                x = x + alpha * z
                out.alpha.append(alpha)
            else:
                out.status = "inner_limit"
                break
            if alpha is None:
                out.status = "line_search"
                break
            lam = lam + mu * problem.values(x)[1]
            mu, tau_k = 1.5 * mu, 0.1 * tau_k
            out.kkt.append(problem.kkt(x, lam))
            out.inner_steps.append(products)
            out.flops.append(flops)
            out.times.append(time.perf_counter() - start)
        else:
            out.status = "converged" if out.kkt[-1] <= self.tol else "max_iter"
        out.x, out.lam, out.seconds = x, lam, time.perf_counter() - start
        return out
