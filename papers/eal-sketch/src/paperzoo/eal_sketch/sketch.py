"""Randomized iterative sketching for ``K z = b``: randomized Kaczmarz (RK) and Gaussian sketch (GV).

One step with sketch ``s`` is the projection of ``z`` onto ``{z : sᵀK z = sᵀb}``:

    z ← z − (sᵀ(K z − b) / ‖Kᵀs‖²) · Kᵀs,

with ``s = eᵢ``, ``i ~ Uniform{1..n+m}`` (RK, uniform rather than row-norm weighted as in the official code) or
``s ~ N(0, I)`` (GV). The residual ``r = K z − b`` is carried along: ``r ← r − γ · K Kᵀs``.

:class:`SketchSolver` runs these steps in blocks of ``block`` sketches that give the same iterates as one
step at a time (up to rounding): with ``W = KᵀS`` and ``V = K W`` for the block's sketches ``S``, the step
sizes ``γ`` solve the lower-triangular system ``tril(WᵀW) γ = Sᵀr`` (step j sees the residual after steps
< j), ``r`` after each step is ``r − cumsum(V γ)``, and the block is cut at the first step whose residual
meets the tolerance. For RK, ``KKᵀ`` is computed once per matrix, so a step costs O(n+m) instead of the
official per-step residual ``K z − b`` (O((n+m)²)); indices are drawn in blocks.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from paperzoo.shared.validate import check_one_of, check_positive_int

SKETCHES = ("rk", "gv")
_REFRESH = 32  # blocks between exact recomputations of r = K z - b (the recursion drifts by rounding)


class SketchSolver:
    """RK or GV sketch-and-project on a fixed square ``K`` (dense float64), run in blocks.

    ``flops`` counts row operations × nonzeros: ``nnz(Kᵢ)`` per RK step, ``nnz(K)`` per GV step (``Kᵀs``).
    RK keeps ``z = z₀ − Kᵀu`` through the step coefficients ``u`` (one scatter per block instead of
    gathering the sampled rows of ``K``), and screens each block with ``‖r_j‖² = ‖r‖² − 2Σ_{l<=j}γ_l v_lᵀr +
    ‖Σ_{l<=j}γ_l v_l‖²`` (the last term from ``(KKᵀ)²``): the per-step residuals are formed only when the
    screen says a step of the block may meet the tolerance.
    """

    def __init__(self, K: np.ndarray, kind: str, rng: np.random.Generator, block: int | None = None) -> None:
        check_one_of("kind", kind, SKETCHES)
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"K must be square, got shape {K.shape}")
        # small systems: longer blocks amortise the per-block overhead (the triangular solve is O(block²))
        block = (256 if K.shape[0] <= 64 else 128) if block is None else check_positive_int("block", block)
        self.K, self.kind, self.rng, self.block = K, kind, rng, block
        self.row_nnz = np.count_nonzero(K, axis=1)
        self.nnz = int(self.row_nnz.sum())
        self.gram = K @ K.T if kind == "rk" else None
        self.gram2 = self.gram @ self.gram if kind == "rk" and K.shape[0] > block else None  # for the screen

    def run(
        self, z: np.ndarray, b: np.ndarray, tol: float, cap: int, flip_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Steps from ``z`` until ``‖K z − b‖ <= tol`` or ``cap`` steps: ``(z, r, steps, flops)``.

        ``flip_first``: the first step uses ``r = b`` instead of ``K z − b`` (the official code's start from
        ``z = 0`` with ``r = b``, whose first step has the wrong sign); later steps use the true residual.
        """
        if self.kind == "rk":
            return self._run_rk(z, b, tol, cap, flip_first)
        z = z.copy()
        r = self.K @ z - b
        steps = flops = blocks = 0
        while steps < cap and np.linalg.norm(r) > tol:
            size = min(self.block, cap - steps)
            S = self.rng.standard_normal((size, r.size))
            w = S @ self.K  # rows (Kᵀs)ᵀ
            v, rhs = w @ self.K.T, S @ r
            if flip_first and steps == 0:
                rhs[0] = -rhs[0]
            gamma = solve_triangular(w @ w.T, rhs, lower=True, check_finite=False)
            R = r - np.cumsum(gamma[:, None] * v, axis=0)  # row j: the residual after step j
            take = _first_met(np.einsum("ij,ij->i", R, R), tol, gamma.size)
            z -= gamma[:take] @ w[:take]
            r = R[take - 1]
            steps += take
            flops += take * self.nnz
            blocks += 1
            if blocks % _REFRESH == 0 or steps == cap or r @ r <= tol * tol:
                r = self.K @ z - b
        return z, r, steps, flops

    def _run_rk(
        self, z0: np.ndarray, b: np.ndarray, tol: float, cap: int, flip_first: bool
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The RK branch of :meth:`run`: ``z = z₀ − Kᵀu``, residual updates from rows of ``KKᵀ``."""
        u = np.zeros_like(b)
        r = self.K @ z0 - b
        steps = flops = blocks = 0
        while steps < cap and np.linalg.norm(r) > tol:
            size = min(self.block, cap - steps)
            idx = self.rng.integers(0, r.size, size)
            v = self.gram[idx]  # rows of K Kᵀ (symmetric): (K Kᵢᵀ)ᵀ
            rhs = r[idx]
            if flip_first and steps == 0:
                rhs[0] = -rhs[0]
            gamma = solve_triangular(v[:, idx], rhs, lower=True, check_finite=False)
            take = self._rk_take(r, v, idx, gamma, tol)
            np.add.at(u, idx[:take], gamma[:take])
            r = r - gamma[:take] @ v[:take]
            steps += take
            flops += int(self.row_nnz[idx[:take]].sum())
            blocks += 1
            if blocks % _REFRESH == 0 or steps == cap or r @ r <= tol * tol:
                r = self.K @ (z0 - self.K.T @ u) - b
        return z0 - self.K.T @ u, r, steps, flops

    def _rk_take(self, r: np.ndarray, v: np.ndarray, idx: np.ndarray, gamma: np.ndarray, tol: float) -> int:
        """How many of the block's steps to take: up to the first whose residual meets ``tol``, else all."""
        if self.gram2 is not None:  # the screen costs O(block²) and saves O(block·(n+m)): worth it when n+m > block
            g2 = self.gram2[np.ix_(idx, idx)] * np.outer(gamma, gamma)  # γ_l γ_l' v_lᵀv_l'
            quad = np.cumsum(np.diag(g2) + 2 * np.tril(g2, -1).sum(axis=1))
            r2 = float(r @ r)
            screen = r2 - 2 * np.cumsum(gamma * (v @ r)) + quad
            slack = 1e-12 * (r2 + quad[-1]) + 1e-300  # rounding of the screen, far above float64's
            if screen.min() > tol * tol + slack:
                return gamma.size
        R = r - np.cumsum(gamma[:, None] * v, axis=0)  # row j: the residual after step j, formed exactly
        return _first_met(np.einsum("ij,ij->i", R, R), tol, gamma.size)


def _first_met(norms2: np.ndarray, tol: float, size: int) -> int:
    """One past the first step whose squared residual norm is ``<= tol²`` (``size`` when none is)."""
    met = np.flatnonzero(norms2 <= tol * tol)
    return int(met[0]) + 1 if met.size else size


def rk_per_step(
    K: np.ndarray, b: np.ndarray, z: np.ndarray, tol: float, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """The official per-step RK: one index per step, residual ``K z − b`` recomputed after every step.

    The reference for the speed figure and for the blocked solver's iterates; ``(z, steps)``.
    """
    z = z.copy()
    row_sq = np.einsum("ij,ij->i", K, K)
    r = K @ z - b
    steps = 0
    while steps < cap and np.linalg.norm(r) > tol:
        i = rng.integers(0, b.size)
        z -= (r[i] / row_sq[i]) * K[i]
        r = K @ z - b
        steps += 1
    return z, steps
