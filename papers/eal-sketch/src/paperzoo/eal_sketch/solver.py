"""AdaSketch-Newton: inexact Newton on the KKT system, solved by randomized sketching with adaptive accuracy,
globalised by an Armijo search on the exact augmented Lagrangian (Hong, Na, Mahoney, Kolar, ICML 2023).

Merit (exact augmented Lagrangian), with ``∇ₓL = ∇f + Gᵀλ``:

    L_η(x, λ) = f + λᵀc + (η₁/2)‖c‖² + (η₂/2)‖∇ₓL‖²,
    ∇L_η = (∇ₓL + η₂ ∇²ₓL ∇ₓL + η₁ Gᵀc,  c + η₂ G ∇ₓL).

Iteration: Hessian modification ``B = ∇²ₓL + (ξ_B + ‖∇²ₓL‖_F) I`` when the reduced Hessian ``Zᵀ∇²ₓL Z`` has an
eigenvalue below ``tau``; ``ψ = 20 max(‖B‖²_F, 1)/(min(ξ_G, 1) min(ξ_B, 1))``, ``Υ = max(‖G‖_F, ‖∇²ₓL‖_F, 1)``,
``δ_trial = (0.5 − β)η₂/((1 + η₁ + η₂)Υ²ψ²)``, ``δ ← max(min(δ, δ_trial), 1e-6)``; the sketch solver runs on
``K = [[B, Gᵀ], [G, 0]]``, ``b = −(∇ₓL, c)`` until ``‖K‖_F ψ ‖K z − b‖ <= θ δ ‖b‖``; if the descent test
``∇L_ηᵀz <= −(η₂/2)‖b‖²`` fails, ``η₁ ← ν²η₁``, ``η₂ ← η₂/ν``, ``δ ← max(min(δ/ν⁴, δ_trial), 1e-6)`` and the
solver continues from the current ``z`` (no adaptation once ``η₁ > 1e8`` or ``η₂ < 1e-8``); then
``α ← 1, 1/2, ...`` until ``L_η(x + αΔx, λ + αΔλ) <= L_η(x, λ) + αβ ∇L_ηᵀz``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from paperzoo.eal_sketch.problems import FirstOrder, Problem
from paperzoo.eal_sketch.sketch import SketchSolver
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int, check_range

SOLVERS = ("rk", "gv", "exact")
DELTA_FLOOR = 1e-6  # official code: delta never below 1e-6, so the accuracy test can be met
SINGULAR = 1e-2  # stop when λ_min(G Gᵀ) < 1e-2 (official code)
INNER_CAP = 100_000  # sketch steps per accuracy threshold (official code, both RK and GV)
MAX_HALVINGS = 60  # a guard of ours: the official Armijo loop has no floor on α
STALL = 1e-12  # a guard of ours: a step ‖αz‖ <= STALL·max(1, ‖(x, λ)‖) leaves the iterate in place: stop


@dataclass
class SolveResult:
    """What a solve returns: the last iterate and per-outer-iteration histories.

    ``kkt`` holds ``‖(∇ₓL, c)‖`` at every iterate (the initial one first); ``alpha`` the accepted step sizes;
    ``inner_steps``/``flops`` the sketch steps and row-operation × nonzero counts per outer iteration;
    ``status`` is ``converged``, ``singular`` (``λ_min(GGᵀ) < 1e-2``), ``max_iter``, ``line_search`` (no
    Armijo step within ``MAX_HALVINGS`` halvings) or ``stalled`` (the accepted step is below ``STALL``, relative).
    """

    x: np.ndarray
    lam: np.ndarray
    kkt: list[float]
    alpha: list[float] = field(default_factory=list)
    inner_steps: list[int] = field(default_factory=list)
    flops: list[int] = field(default_factory=list)
    eta1: list[float] = field(default_factory=list)
    eta2: list[float] = field(default_factory=list)
    delta: list[float] = field(default_factory=list)
    modified: list[bool] = field(default_factory=list)
    status: str = "max_iter"
    seconds: float = 0.0
    times: list[float] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether the KKT residual reached the tolerance."""
        return self.status == "converged"


def merit(point: FirstOrder, lam: np.ndarray, eta1: float, eta2: float) -> float:
    """``L_η = f + λᵀc + (η₁/2)‖c‖² + (η₂/2)‖∇f + Gᵀλ‖²``."""
    grad_l = point.grad + point.jac.T @ lam
    return float(point.f + lam @ point.c + 0.5 * eta1 * point.c @ point.c + 0.5 * eta2 * grad_l @ grad_l)


def merit_gradient(point: FirstOrder, lam: np.ndarray, hess: np.ndarray, eta1: float, eta2: float) -> np.ndarray:
    """``∇L_η = (∇ₓL + η₂ H ∇ₓL + η₁ Gᵀc, c + η₂ G ∇ₓL)`` with ``H = ∇²ₓL`` (exact) or ``∇²f`` (official code)."""
    grad_l = point.grad + point.jac.T @ lam
    return np.concatenate(
        [grad_l + eta2 * hess @ grad_l + eta1 * point.jac.T @ point.c, point.c + eta2 * point.jac @ grad_l]
    )


def modified_hessian(hess_l: np.ndarray, jac: np.ndarray, xi_b: float, tau: float) -> tuple[np.ndarray, bool]:
    """``B = ∇²ₓL + (ξ_B + ‖∇²ₓL‖_F) I`` if ``λ_min(Zᵀ∇²ₓL Z) < tau`` (Z: null space of G by QR), else ``∇²ₓL``."""
    m, n = jac.shape
    if m < n:
        q, _ = np.linalg.qr(jac.T, mode="complete")
        z = q[:, m:]
        if np.linalg.eigvalsh(z.T @ hess_l @ z)[0] < tau:
            return hess_l + (xi_b + np.linalg.norm(hess_l)) * np.eye(n), True
    return hess_l, False


class AdaSketchNewton:
    """The method, as a solver object: ``AdaSketchNewton(solver="rk").solve(problem) -> SolveResult``.

    Defaults are the official ``Param.jl``. ``solver``: ``"rk"`` (randomized Kaczmarz), ``"gv"`` (Gaussian
    sketch) or ``"exact"`` (a direct solve, the ablation); ``tau`` the reduced-Hessian threshold (``None``:
    the problem's own); ``theta`` the accuracy factor θ (1 in the code). ``mimic_code=True`` reproduces the
    two places the official code differs from the paper: ``∇²f`` instead of ``∇²ₓL`` in the merit gradient
    used by the descent and Armijo tests, and the sketch's first step taken with ``r = b`` instead of ``−b``.
    """

    def __init__(
        self,
        solver: str = "rk",
        eta1: float = 1.0,
        eta2: float = 0.1,
        delta: float = 0.1,
        xi_B: float = 0.1,
        beta: float = 0.1,
        nu: float = 1.5,
        tol: float = 1e-4,
        max_iter: int = 10_000,
        mimic_code: bool = False,
        seed: int = 2023,
        tau: float | None = None,
        theta: float = 1.0,
        inner_cap: int = INNER_CAP,
    ) -> None:
        self.solver = check_one_of("solver", solver, SOLVERS)
        for name, value in (("eta1", eta1), ("eta2", eta2), ("delta", delta), ("xi_B", xi_B), ("tol", tol)):
            check_positive(name, value)
        check_range("beta", beta, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
        check_range("nu", nu, low=1.0, low_inclusive=False)
        check_range("theta", theta, low=0.0, high=1.0, low_inclusive=False)
        check_positive_int("max_iter", max_iter)
        check_positive_int("inner_cap", inner_cap)
        if tau is not None:
            check_positive("tau", tau)
        self.eta1, self.eta2, self.delta, self.xi_B, self.beta, self.nu = eta1, eta2, delta, xi_B, beta, nu
        self.tol, self.max_iter, self.mimic_code, self.seed = tol, max_iter, mimic_code, seed
        self.tau, self.theta, self.inner_cap = tau, theta, inner_cap

    def _delta_trial(self, eta1: float, eta2: float, upsilon: float, psi: float) -> float:
        return (0.5 - self.beta) * eta2 / ((1 + eta1 + eta2) * upsilon**2 * psi**2)

    def solve(self, problem: Problem) -> SolveResult:
        """Run from ``(problem.x0, problem.lam0)`` until ``KKT <= tol``, a singular Jacobian or ``max_iter``."""
        rng = np.random.default_rng(self.seed)
        tau = problem.tau if self.tau is None else self.tau
        n = problem.n
        eta1, eta2, delta = self.eta1, self.eta2, self.delta
        x, lam = problem.x0.copy(), problem.lam0.copy()
        point = problem.first_order(x)
        b = -np.concatenate([point.grad + point.jac.T @ lam, point.c])
        out = SolveResult(x, lam, [float(np.linalg.norm(b))])
        start = time.perf_counter()
        while out.kkt[-1] > self.tol and len(out.alpha) < self.max_iter:
            jac = point.jac
            xi_g = np.linalg.eigvalsh(jac @ jac.T)[0]
            if xi_g < SINGULAR:
                out.status = "singular"
                break
            hess_f, hess_l = problem.hessians(x, lam)
            B, modified = modified_hessian(hess_l, jac, self.xi_B, tau)
            psi = 20 * max(np.linalg.norm(B) ** 2, 1.0) / (min(xi_g, 1.0) * min(self.xi_B, 1.0))
            upsilon = max(np.linalg.norm(jac), np.linalg.norm(hess_l), 1.0)
            delta = max(min(delta, self._delta_trial(eta1, eta2, upsilon, psi)), DELTA_FLOOR)
            K = np.block([[B, jac.T], [jac, np.zeros((problem.m, problem.m))]])
            b_norm = float(np.linalg.norm(b))
            scale = np.linalg.norm(K) * psi
            merit_hess = hess_f if self.mimic_code else hess_l
            z = np.zeros_like(b)
            sketch = None if self.solver == "exact" else SketchSolver(K, self.solver, rng)
            steps = flops = 0
            while True:
                if sketch is None:
                    z = np.linalg.solve(K, b)
                else:
                    z, _, t, fl = sketch.run(
                        z, b, self.theta * delta * b_norm / scale, self.inner_cap, self.mimic_code and steps == 0
                    )
                    steps, flops = steps + t, flops + fl
                slope = float(merit_gradient(point, lam, merit_hess, eta1, eta2) @ z)
                if eta1 > 1e8 or eta2 < 1e-8 or slope <= -0.5 * eta2 * b_norm**2:
                    break
                eta1, eta2 = eta1 * self.nu**2, eta2 / self.nu
                delta = max(min(delta / self.nu**4, self._delta_trial(eta1, eta2, upsilon, psi)), DELTA_FLOOR)
            alpha = self._armijo(problem, point, x, lam, z, slope, eta1, eta2)
            if alpha is None:
                out.status = "line_search"
                break
            if alpha * np.linalg.norm(z) <= STALL * max(1.0, float(np.linalg.norm(np.concatenate([x, lam])))):
                out.status = "stalled"  # e.g. η at its caps and α = 2⁻⁵³: the code would repeat this to max_iter
                break
            x, lam = x + alpha * z[:n], lam + alpha * z[n:]
            point = problem.first_order(x)
            b = -np.concatenate([point.grad + point.jac.T @ lam, point.c])
            out.kkt.append(float(np.linalg.norm(b)))
            out.alpha.append(alpha)
            out.inner_steps.append(steps)
            out.flops.append(flops)
            out.eta1.append(eta1)
            out.eta2.append(eta2)
            out.delta.append(delta)
            out.modified.append(modified)
            out.times.append(time.perf_counter() - start)
        else:
            out.status = "converged" if out.kkt[-1] <= self.tol else "max_iter"
        out.x, out.lam, out.seconds = x, lam, time.perf_counter() - start
        return out

    def _armijo(
        self,
        problem: Problem,
        point: FirstOrder,
        x: np.ndarray,
        lam: np.ndarray,
        z: np.ndarray,
        slope: float,
        eta1: float,
        eta2: float,
    ) -> float | None:
        """The first ``α = 2⁻ʲ`` with ``L_η(x + αΔx, λ + αΔλ) <= L_η(x, λ) + αβ·slope`` (None: none found)."""
        n = problem.n
        current = merit(point, lam, eta1, eta2)
        alpha = 1.0
        for _ in range(MAX_HALVINGS):
            trial = merit(problem.first_order(x + alpha * z[:n]), lam + alpha * z[n:], eta1, eta2)
            if trial <= current + alpha * self.beta * slope:
                return alpha
            alpha *= 0.5
        return None
