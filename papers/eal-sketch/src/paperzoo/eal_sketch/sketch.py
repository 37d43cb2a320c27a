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
    """

    def __init__(self, K: np.ndarray, kind: str, rng: np.random.Generator, block: int = 128) -> None:
        check_one_of("kind", kind, SKETCHES)
        check_positive_int("block", block)
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"K must be square, got shape {K.shape}")
        self.K, self.kind, self.rng, self.block = K, kind, rng, block
        self.row_nnz = np.count_nonzero(K, axis=1)
        self.nnz = int(self.row_nnz.sum())
        self.gram = K @ K.T if kind == "rk" else None

    def _block(self, r: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(Wᵀ, Vᵀ, M, Sᵀr, flops per step)`` of ``size`` fresh sketches, rows = sketches."""
        if self.kind == "rk":
            idx = self.rng.integers(0, r.size, size)
            v = self.gram[idx]  # rows of K Kᵀ (symmetric): (K Kᵢᵀ)ᵀ
            return self.K[idx], v, v[:, idx], r[idx], self.row_nnz[idx]
        S = self.rng.standard_normal((size, r.size))
        w = S @ self.K  # rows (Kᵀs)ᵀ
        return w, w @ self.K.T, w @ w.T, S @ r, np.full(size, self.nnz)

    def run(
        self, z: np.ndarray, b: np.ndarray, tol: float, cap: int, flip_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Steps from ``z`` until ``‖K z − b‖ <= tol`` or ``cap`` steps: ``(z, r, steps, flops)``.

        ``flip_first``: the first step uses ``r = b`` instead of ``K z − b`` (the official code's start from
        ``z = 0`` with ``r = b``, whose first step has the wrong sign); later steps use the true residual.
        """
        z = z.copy()
        r = self.K @ z - b
        steps = flops = blocks = 0
        while steps < cap and np.linalg.norm(r) > tol:
            w, v, M, rhs, cost = self._block(r, min(self.block, cap - steps))
            if flip_first and steps == 0:
                rhs[0] = -rhs[0]
            gamma = solve_triangular(M, rhs, lower=True, check_finite=False)
            R = r - np.cumsum(gamma[:, None] * v, axis=0)  # row j: the residual after step j
            met = np.flatnonzero(np.einsum("ij,ij->i", R, R) <= tol * tol)
            take = int(met[0]) + 1 if met.size else gamma.size
            z -= gamma[:take] @ w[:take]
            r = R[take - 1]
            steps += take
            flops += int(cost[:take].sum())
            blocks += 1
            if blocks % _REFRESH == 0 or met.size:
                r = self.K @ z - b
        return z, r, steps, flops


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
