"""Equality-constrained test problems ``min f(x) s.t. c(x) = 0`` with derivatives by ``torch.func`` (float64).

:class:`Problem` wraps two torch functions of ``x``; the gradient ``∇f``, Hessian ``∇²f``, Jacobian
``G = ∇c`` (m×n) and the constraint curvature ``Σᵢ λᵢ∇²cᵢ`` come from ``torch.func``. The library holds
Hock–Schittkowski / BT / CUTEst "NE" problems with their standard starting points and published optimal
values (:data:`HS_PROBLEMS`), the constrained logistic regression of the paper on scikit-learn bundled
data (:func:`logistic_problem`) and the PDE-constrained problem on an N×N grid (:func:`pde_problem`).
The paper's own test sets load when their sources are at hand: CUTEst problems through ``pycutest``
(:class:`CutestProblem`, derivatives from CUTEst) and LIBSVM files (``logistic_problem("libsvm:PATH")``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch.func import grad_and_value, hessian, jacrev

from paperzoo.shared.validate import check_positive_int

TorchFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FirstOrder:
    """``f``, ``∇f``, ``c`` and ``G = ∇c`` at one point."""

    f: float
    grad: np.ndarray
    c: np.ndarray
    jac: np.ndarray


class Problem:
    """``min f(x) s.t. c(x) = 0`` from torch functions ``f: R^n -> R`` and ``c: R^n -> R^m`` (m <= n).

    ``x0``/``lam0`` are the starting primal and dual points (``lam0`` defaults to zeros); ``f_star`` is
    the published optimal value where known; ``tau`` the reduced-Hessian threshold below which the solvers
    modify the Hessian (1e-6 on CUTEst, 1e-2 on logistic regression in the official code).
    ``ValueError`` when ``x0`` is not a finite vector, ``lam0`` has the wrong length, or ``c`` has more
    components than ``x0``.
    """

    def __init__(
        self,
        f: TorchFn,
        c: TorchFn,
        x0: np.ndarray | list[float],
        lam0: np.ndarray | list[float] | None = None,
        name: str = "",
        f_star: float | None = None,
        tau: float = 1e-6,
    ) -> None:
        x = np.asarray(x0, dtype=np.float64)
        if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
            raise ValueError(f"x0 must be a finite non-empty vector, got shape {x.shape}")
        m = int(c(torch.from_numpy(x)).reshape(-1).shape[0])
        if m > x.size:
            raise ValueError(f"c has m={m} constraints, more than the n={x.size} variables of x0 (need m <= n)")
        lam = np.zeros(m) if lam0 is None else np.asarray(lam0, dtype=np.float64)
        if lam.shape != (m,):
            raise ValueError(f"lam0 must have shape ({m},), got {lam.shape}")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.f, self.c, self.x0, self.lam0, self.name, self.f_star, self.tau = f, c, x, lam, name, f_star, tau
        self.n, self.m = x.size, m
        self._fg = grad_and_value(f)
        self._jac = jacrev(c)
        self._hess_f = hessian(f)
        self._hess_lc = hessian(lambda x, lam: lam @ c(x))

    def first_order(self, x: np.ndarray) -> FirstOrder:
        """``f(x)``, ``∇f(x)``, ``c(x)``, ``G(x)`` as float64 NumPy values."""
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        g, f = self._fg(xt)
        return FirstOrder(float(f), g.numpy(), self.c(xt).numpy(), self._jac(xt).numpy().reshape(self.m, self.n))

    def values(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``f(x)`` and ``c(x)``."""
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        return float(self.f(xt)), self.c(xt).numpy()

    def hessians(self, x: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``∇²f(x)`` and ``∇²ₓL(x, λ) = ∇²f(x) + Σᵢ λᵢ∇²cᵢ(x)``."""
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        hf = self._hess_f(xt).numpy()
        return hf, hf + self._hess_lc(xt, torch.from_numpy(np.asarray(lam, dtype=np.float64))).numpy()

    def kkt(self, x: np.ndarray, lam: np.ndarray) -> float:
        """The KKT residual ``‖(∇f + Gᵀλ, c)‖``."""
        p = self.first_order(x)
        return float(np.hypot(np.linalg.norm(p.grad + p.jac.T @ lam), np.linalg.norm(p.c)))


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


_R2 = math.sqrt(2.0)
# name -> (f, c, x0, f*): standard starting points and published optimal values (Hock & Schittkowski 1981;
# Boggs & Tolle 1989 for BT; CUTEst for the NE problems and HS100LNP).
_HS: dict[str, tuple[TorchFn, TorchFn, list[float], float]] = {
    "HS6": (lambda x: (1 - x[0]) ** 2, lambda x: (10 * (x[1] - x[0] ** 2)).reshape(1), [-1.2, 1.0], 0.0),
    "HS7": (
        lambda x: torch.log(1 + x[0] ** 2) - x[1],
        lambda x: ((1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4).reshape(1),
        [2.0, 2.0],
        -math.sqrt(3.0),
    ),
    "HS8": (
        lambda x: 0 * x[0] - 1,
        lambda x: torch.stack([x[0] ** 2 + x[1] ** 2 - 25, x[0] * x[1] - 9]),
        [2.0, 1.0],
        -1.0,
    ),
    "HS9": (
        lambda x: torch.sin(math.pi * x[0] / 12) * torch.cos(math.pi * x[1] / 16),
        lambda x: (4 * x[0] - 3 * x[1]).reshape(1),
        [0.0, 0.0],
        -0.5,
    ),
    "HS26": (
        lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
        lambda x: ((1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3).reshape(1),
        [-2.6, 2.0, 2.0],
        0.0,
    ),
    "HS27": (
        lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
        lambda x: (x[0] + x[2] ** 2 + 1).reshape(1),
        [2.0, 2.0, 2.0],
        0.04,
    ),
    "HS28": (
        lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
        lambda x: (x[0] + 2 * x[1] + 3 * x[2] - 1).reshape(1),
        [-4.0, 1.0, 1.0],
        0.0,
    ),
    "HS39": (
        lambda x: -x[0],
        lambda x: torch.stack([x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2]),
        [2.0, 2.0, 2.0, 2.0],
        -1.0,
    ),
    "HS40": (
        lambda x: -x[0] * x[1] * x[2] * x[3],
        lambda x: torch.stack([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]]),
        [0.8, 0.8, 0.8, 0.8],
        -0.25,
    ),
    "HS42": (
        lambda x: (x[0] - 1) ** 2 + (x[1] - 2) ** 2 + (x[2] - 3) ** 2 + (x[3] - 4) ** 2,
        lambda x: torch.stack([x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2]),
        [1.0, 1.0, 1.0, 1.0],
        28 - 10 * _R2,
    ),
    "HS46": (
        lambda x: (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
        lambda x: torch.stack([x[0] ** 2 * x[3] + torch.sin(x[3] - x[4]) - 1, x[1] + x[2] ** 4 * x[3] ** 2 - 2]),
        [_R2 / 2, 1.75, 0.5, 2.0, 2.0],
        0.0,
    ),
    "HS47": (
        lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4,
        lambda x: torch.stack([x[0] + x[1] ** 2 + x[2] ** 3 - 3, x[1] - x[2] ** 2 + x[3] - 1, x[0] * x[4] - 1]),
        [2.0, _R2, -1.0, 2 - _R2, 0.5],
        0.0,
    ),
    "HS48": (
        lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
        lambda x: torch.stack([x.sum() - 5, x[2] - 2 * (x[3] + x[4]) + 3]),
        [3.0, 5.0, -3.0, 2.0, -2.0],
        0.0,
    ),
    "HS49": (
        lambda x: (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
        lambda x: torch.stack([x[0] + x[1] + x[2] + 4 * x[3] - 7, x[2] + 5 * x[4] - 6]),
        [10.0, 7.0, 2.0, -3.0, 0.8],
        0.0,
    ),
    "HS50": (
        lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 2,
        lambda x: torch.stack(
            [x[0] + 2 * x[1] + 3 * x[2] - 6, x[1] + 2 * x[2] + 3 * x[3] - 6, x[2] + 2 * x[3] + 3 * x[4] - 6]
        ),
        [35.0, -31.0, 11.0, 5.0, -5.0],
        0.0,
    ),
    "HS51": (
        lambda x: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        lambda x: torch.stack([x[0] + 3 * x[1] - 4, x[2] + x[3] - 2 * x[4], x[1] - x[4]]),
        [2.5, 0.5, 2.0, -1.0, 0.5],
        0.0,
    ),
    "HS52": (
        lambda x: (4 * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        lambda x: torch.stack([x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]]),
        [2.0, 2.0, 2.0, 2.0, 2.0],
        1859 / 349,
    ),
    "HS56": (
        lambda x: -x[0] * x[1] * x[2],
        lambda x: torch.stack(
            [
                x[0] - 4.2 * torch.sin(x[3]) ** 2,
                x[1] - 4.2 * torch.sin(x[4]) ** 2,
                x[2] - 4.2 * torch.sin(x[5]) ** 2,
                x[0] + 2 * x[1] + 2 * x[2] - 7.2 * torch.sin(x[6]) ** 2,
            ]
        ),
        [1.0, 1.0, 1.0] + [math.asin(math.sqrt(1 / 4.2))] * 3 + [math.asin(math.sqrt(5 / 7.2))],
        -3.456,
    ),
    "HS61": (
        lambda x: 4 * x[0] ** 2 + 2 * x[1] ** 2 + 2 * x[2] ** 2 - 33 * x[0] + 16 * x[1] - 24 * x[2],
        lambda x: torch.stack([3 * x[0] - 2 * x[1] ** 2 - 7, 4 * x[0] - x[2] ** 2 - 11]),
        [0.0, 0.0, 0.0],
        -143.6461422,
    ),
    "HS77": (
        lambda x: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
        lambda x: torch.stack(
            [
                x[0] ** 2 * x[3] + torch.sin(x[3] - x[4]) - 2 * _R2,
                x[1] + x[2] ** 4 * x[3] ** 2 - 8 - _R2,
            ]
        ),
        [2.0] * 5,
        0.24150513,
    ),
    "HS78": (
        lambda x: x.prod(),
        lambda x: torch.stack([(x**2).sum() - 10, x[1] * x[2] - 5 * x[3] * x[4], x[0] ** 3 + x[1] ** 3 + 1]),
        [-2.0, 1.5, 2.0, -1.0, -1.0],
        -2.91970041,
    ),
    "HS79": (
        lambda x: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4,
        lambda x: torch.stack(
            [
                x[0] + x[1] ** 2 + x[2] ** 3 - 2 - 3 * _R2,
                x[1] - x[2] ** 2 + x[3] + 2 - 2 * _R2,
                x[0] * x[4] - 2,
            ]
        ),
        [2.0] * 5,
        0.0787768209,
    ),
    "HS100LNP": (
        lambda x: (
            (x[0] - 10) ** 2
            + 5 * (x[1] - 12) ** 2
            + x[2] ** 4
            + 3 * (x[3] - 11) ** 2
            + 10 * x[4] ** 6
            + 7 * x[5] ** 2
            + x[6] ** 4
            - 4 * x[5] * x[6]
            - 10 * x[5]
            - 8 * x[6]
        ),
        lambda x: torch.stack(
            [
                2 * x[0] ** 2 + 3 * x[1] ** 4 + x[2] + 4 * x[3] ** 2 + 5 * x[4] - 127,
                -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2 - 5 * x[5] + 11 * x[6],
            ]
        ),
        [1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0],
        680.6300573,
    ),
    "BT1": (
        lambda x: 100 * x[0] ** 2 + 100 * x[1] ** 2 - x[0] - 100,
        lambda x: (x[0] ** 2 + x[1] ** 2 - 1).reshape(1),
        [0.08, 0.06],
        -1.0,
    ),
    "BT2": (
        lambda x: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
        lambda x: (x[0] * (1 + x[1] ** 2) + x[2] ** 4 - 4 - 3 * _R2).reshape(1),
        [10.0, 10.0, 10.0],
        0.0325682003,
    ),
    "BT3": (
        lambda x: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        lambda x: torch.stack([x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]]),
        [20.0] * 5,
        176 / 43,
    ),
    "BT5": (
        lambda x: 1000 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - x[0] * x[1] - x[0] * x[2],
        lambda x: torch.stack([8 * x[0] + 14 * x[1] + 7 * x[2] - 56, (x**2).sum() - 25]),
        [2.0, 2.0, 2.0],
        961.715172,
    ),
    "BT10": (
        lambda x: -x[0],
        lambda x: torch.stack([x[1] - x[0] ** 3, x[1] - x[0] ** 2]),
        [2.0, 2.0],
        -1.0,
    ),
    "BOOTH": (
        lambda x: 0 * x[0],
        lambda x: torch.stack([x[0] + 2 * x[1] - 7, 2 * x[0] + x[1] - 5]),
        [0.0, 0.0],
        0.0,
    ),
    "CUBENE": (
        lambda x: 0 * x[0],
        lambda x: torch.stack([x[0] - 1, 10 * (x[1] - x[0] ** 3)]),
        [-1.2, 1.0],
        0.0,
    ),
    "RSNBRNE": (
        lambda x: 0 * x[0],
        lambda x: torch.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]]),
        [-1.2, 1.0],
        0.0,
    ),
    "HIMMELBC": (
        lambda x: 0 * x[0],
        lambda x: torch.stack([x[0] ** 2 + x[1] - 11, x[0] + x[1] ** 2 - 7]),
        [1.0, 1.0],
        0.0,
    ),
    "ZANGWIL3": (
        lambda x: 0 * x[0],
        lambda x: torch.stack([x[0] - x[1] + x[2], -x[0] + x[1] + x[2], x[0] + x[1] - x[2]]),
        [100.0, -1.0, 2.5],
        0.0,
    ),
}
HS_PROBLEMS: tuple[str, ...] = tuple(_HS)


def hs_problem(name: str) -> Problem:
    """The Hock–Schittkowski / BT / CUTEst-NE problem ``name`` (one of :data:`HS_PROBLEMS`), ``λ0 = 0``."""
    if name not in _HS:
        raise ValueError(f"name must be one of {HS_PROBLEMS}, got {name!r}")
    f, c, x0, f_star = _HS[name]
    return Problem(f, c, x0, name=name, f_star=f_star)


# the official CUTEst list (CUTEst/Parameter/problems.txt) and LIBSVM sets (ConstrainedLogisticRegression/...)
CUTEST_PROBLEMS = (
    "HS6", "BT5", "BT9", "HS28", "BT10", "HIMMELBA", "BT12", "HS40", "BT3", "BT6", "BT11", "HS7", "GENHS28",
    "HS51", "SINVALNE", "BOOTH", "HS52", "HS47", "WAYSEA1NE", "HS48", "HS50", "RSNBRNE", "CUBENE", "HS77",
    "MWRIGHT", "ZANGWIL3", "TRIGON1NE", "BA-L1SP", "HS78", "HS56", "HELIXNE", "HS42", "HS79", "ORTHREGB",
    "HS100LNP", "GOTTFR", "HIMMELBE", "MOREBVNE", "WAYSEA2NE", "DENSCHNCNE", "DENSCHNFNE", "HIMMELBC",
    "PRICE4NE", "INTEQNE", "BA-L1", "MANCINONE", "BT2",
)  # fmt: skip
LIBSVM_DATA = ("ionosphere_scale", "mushrooms", "phishing", "sonar_scale", "splice_scale", "a9a", "w8a")


class CutestProblem(Problem):
    """An equality-constrained CUTEst problem through ``pycutest`` (the official code's ``CUTEstModel``).

    Start ``(x0, λ0)`` = CUTEst's ``x0``, ``v0`` (the official ``meta.x0``, ``meta.y0``); ``f``, ``∇f``,
    ``c``, ``G`` from ``obj``/``cons``; ``∇²f`` from ``ihess`` and ``∇²ₓL`` from ``hess(x, λ)`` (CUTEst's
    Lagrangian is ``f + λᵀc``, the sign used here). ``pycutest`` needs a compiled CUTEst and SIFDecode: an
    ``ImportError`` says so when it is missing; ``ValueError`` for a problem with inequalities, bounds or
    no constraints.
    """

    def __init__(self, name: str, sif_params: dict[str, float] | None = None) -> None:
        try:
            import pycutest
        except ImportError as err:
            raise ImportError(
                "CUTEst problems need pycutest with a compiled CUTEst/SIFDecode "
                "(https://jfowkes.github.io/pycutest/); the offline test set is HS_PROBLEMS"
            ) from err
        cutest = pycutest.import_problem(name, sifParams=sif_params)
        if cutest.m == 0 or not np.all(cutest.is_eq_cons):
            raise ValueError(f"name must be an equality-constrained CUTEst problem, {name} is not")
        if np.any(cutest.bl > -1e20) or np.any(cutest.bu < 1e20):
            raise ValueError(f"name must be a problem without variable bounds, {name} has some")
        self._cutest = cutest
        self.f = self.c = None  # no torch functions: the derivatives come from CUTEst
        self.x0 = np.asarray(cutest.x0, dtype=np.float64)
        self.lam0 = np.asarray(cutest.v0, dtype=np.float64)
        self.name, self.f_star, self.tau = name, None, 1e-6
        self.n, self.m = self.x0.size, self.lam0.size

    def first_order(self, x: np.ndarray) -> FirstOrder:
        """``f(x)``, ``∇f(x)``, ``c(x)``, ``G(x)`` from CUTEst."""
        f, g = self._cutest.obj(x, gradient=True)
        c, jac = self._cutest.cons(x, gradient=True)
        return FirstOrder(float(f), np.asarray(g, np.float64), np.asarray(c, np.float64), np.asarray(jac))

    def values(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``f(x)`` and ``c(x)`` from CUTEst."""
        return float(self._cutest.obj(x)), np.asarray(self._cutest.cons(x), np.float64)

    def hessians(self, x: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``∇²f(x)`` (``ihess``) and ``∇²ₓL(x, λ)`` (``hess``, CUTEst's ``f + λᵀc``)."""
        return np.asarray(self._cutest.ihess(x)), np.asarray(self._cutest.hess(x, lam))


LOGISTIC_DATA = ("breast_cancer", "digits_binary", "wine_binary", "synthetic")


def _libsvm_features(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Features as stored (the official code does not rescale them) and ±1 labels of a binary LIBSVM file."""
    from sklearn.datasets import load_svmlight_file

    X, label = load_svmlight_file(path)
    classes = np.unique(label)
    if classes.size != 2:
        raise ValueError(f"data must be a binary LIBSVM file, {path} has {classes.size} labels")
    return np.asarray(X.todense(), dtype=np.float64), np.where(label == classes[1], 1.0, -1.0)


def _features(data: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features and ±1 labels of a scikit-learn bundled (or generated) binary data set, or the
    stored features of a LIBSVM file (``libsvm:PATH``)."""
    from sklearn import datasets

    if data.startswith("libsvm:"):
        return _libsvm_features(data.removeprefix("libsvm:"))
    if data == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif data == "digits_binary":
        X, digit = datasets.load_digits(return_X_y=True)
        y = digit % 2
    elif data == "wine_binary":
        X, label = datasets.load_wine(return_X_y=True)
        y = label == 0
    elif data == "synthetic":
        rng = np.random.default_rng(20230)
        X = rng.standard_normal((500, 40))
        y = X @ rng.standard_normal(40) + 0.5 * rng.standard_normal(500) > 0
    else:
        raise ValueError(f"data must be one of {LOGISTIC_DATA}, got {data!r}")
    X = X.astype(np.float64)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    return X, np.where(y, 1.0, -1.0)


def logistic_name(data: str) -> str:
    """The name of a logistic data set in metric keys: ``data`` itself, or a LIBSVM file's stem."""
    return Path(data.removeprefix("libsvm:")).stem if data.startswith("libsvm:") else data


def logistic_problem(data: str, n_linear: int = 10, seed: int = 2023) -> Problem:
    """Constrained logistic regression ``min (1/N)Σ log(1 + exp(−yᵢxᵢᵀw)) s.t. Aw = b, ‖w‖² = 1``.

    ``data``: one of :data:`LOGISTIC_DATA` (standardised scikit-learn data), or ``"libsvm:PATH"`` for a binary
    LIBSVM file (the paper's data sets, :data:`LIBSVM_DATA`, downloaded by the user).

    ``A ∈ R^{n_linear×n}``, ``b ∈ R^{n_linear}`` with N(0, 1) entries drawn from ``seed`` (redrawn, with the
    next generator state, until the affine set meets the unit sphere); start ``w = 1``, ``λ = 1``; the
    reduced-Hessian threshold is 1e-2 as in the official code.
    """
    check_positive_int("n_linear", n_linear)
    X, y = _features(data)
    n = X.shape[1]
    if n_linear >= n:
        raise ValueError(f"n_linear must be < the {n} features of {data}, got {n_linear}")
    rng = np.random.default_rng(seed)
    while True:
        A, b = rng.standard_normal((n_linear, n)), rng.standard_normal(n_linear)
        if np.linalg.norm(np.linalg.lstsq(A, b, rcond=None)[0]) < 1.0:
            break
    Xy = torch.from_numpy(-y[:, None] * X)
    At, bt = torch.from_numpy(A), torch.from_numpy(b)
    return Problem(
        lambda w: torch.nn.functional.softplus(Xy @ w).mean(),
        lambda w: torch.cat([At @ w - bt, (w @ w - 1).reshape(1)]),
        np.ones(n),
        np.ones(n_linear + 1),
        name=f"logistic-{data}",
        tau=1e-2,
    )


def laplacian(N: int) -> sp.csr_matrix:
    """The 5-point Laplacian ``Δ_h`` on the interior of an N×N grid, zero Dirichlet boundary, ``h = 2/(N+1)``."""
    check_positive_int("N", N)
    h = 2.0 / (N + 1)
    one_d = sp.diags([np.ones(N - 1), -2 * np.ones(N), np.ones(N - 1)], [-1, 0, 1])
    eye = sp.identity(N)
    return ((sp.kron(eye, one_d) + sp.kron(one_d, eye)) / h**2).tocsr()


def pde_problem(N: int) -> Problem:
    """``min ½(‖w − w*‖² + 0.1‖z‖²) s.t. Δ_h w + z = 0`` on an N×N grid: n = 2N², m = N².

    ``w*ᵢⱼ = sin(4 + (0.1/√15)(i − (N+1)/2)) + cos(3 + (0.1/√15)(j − (N+1)/2))``; start ``(w, z) = 1``,
    ``λ = 1`` (official code). The grid is column-major as in the Julia ``reshape``.
    """
    L = laplacian(N)
    i = np.arange(1, N + 1)
    shift = 0.1 / math.sqrt(15)
    target = np.sin(4 + shift * (i[:, None] - (N + 1) / 2)) + np.cos(3 + shift * (i[None, :] - (N + 1) / 2))
    w_star = torch.from_numpy(target.reshape(-1, order="F").copy())
    Lt = torch.from_numpy(L.toarray())
    n2 = N * N
    return Problem(
        lambda x: 0.5 * (((x[:n2] - w_star) ** 2).sum() + 0.1 * (x[n2:] ** 2).sum()),
        lambda x: Lt @ x[:n2] + x[n2:],
        np.ones(2 * n2),
        np.ones(n2),
        name=f"pde-N{N}",
    )
