"""Data attribution: linear datamodels (Ilyas et al. 2022) fitted by ridge regression, their exact convex twin
(ridge regression with leave-k-out by Woodbury), and the forget-set builders.

A datamodel predicts model j's output on eval point x, class c, from which training points it saw:

    f_j(x)_c ~ beta_0(x, c) + sum_i beta_i(x, c) 1[i in S_j],

fitted over M models trained on random half subsets S_j. ``beta`` is stored ``[n_train, n_eval, C]`` (the official
layout). Both attributions expose ``group_effect(forget) -> [n_eval, C]``, the part of the outputs that the training
points ``forget`` contribute; DM-Direct subtracts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range


def check_forget(forget: Sequence[int] | np.ndarray | Tensor, n_train: int) -> Tensor:
    """``forget`` as a long tensor after checking its entries lie in ``[0, n_train)`` and are distinct."""
    index = torch.as_tensor(np.asarray(forget, dtype=np.int64)).reshape(-1)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_train):
        raise ValueError(
            f"forget indices must lie in [0, {n_train}), got range [{int(index.min())}, {int(index.max())}]"
        )
    if index.unique().numel() != index.numel():
        raise ValueError("forget indices must not repeat")
    return index


def half_subsets(n_models: int, n_train: int, fraction: float, seed: int) -> Tensor:
    """``[M, n_train]`` boolean inclusion masks, each row exactly ``round(fraction * n_train)`` points drawn
    uniformly without replacement (numpy ``default_rng(seed)``)."""
    check_positive_int("n_models", n_models)
    check_positive_int("n_train", n_train)
    check_range("fraction", fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    rng = np.random.default_rng(seed)
    keep = max(1, round(fraction * n_train))
    order = np.argsort(rng.random((n_models, n_train)), axis=1)[:, :keep]
    masks = np.zeros((n_models, n_train), dtype=bool)
    np.put_along_axis(masks, order, True, axis=1)
    return torch.from_numpy(masks)


@dataclass(frozen=True)
class Datamodels:
    """Fitted linear datamodels: ``beta`` ``[n_train, n_eval, C]``, ``intercept`` ``[n_eval, C]``, the ridge strength
    chosen for each target ``[n_eval, C]`` (relative to the mean diagonal of the centred Gram matrix) and the mean
    held-out squared error at the chosen strengths."""

    beta: Tensor
    intercept: Tensor
    ridge: Tensor
    holdout_mse: float

    def predict(self, masks: Tensor) -> Tensor:
        """``beta_0 + sum_i beta_i 1[i in S]`` for inclusion masks ``[M, n_train]`` -> ``[M, n_eval, C]``."""
        return self.intercept + torch.einsum("mi,iec->mec", masks.to(self.beta.dtype), self.beta)

    def group_effect(self, forget: Sequence[int] | Tensor) -> Tensor:
        """``sum_{i in forget} beta_i`` -> ``[n_eval, C]`` (zeros for an empty set)."""
        index = check_forget(forget, self.beta.shape[0])
        return self.beta[index].sum(0)


def fit_datamodels(
    masks: Tensor,
    outputs: Tensor | np.ndarray,
    ridges: Sequence[float] = (1e-3, 1e-2, 0.1, 1.0, 10.0),
    holdout: float = 0.1,
    target_chunk: int = 0,
    out: np.ndarray | None = None,
) -> Datamodels:
    """Ridge regression of every target ``outputs[:, x, c]`` (``[M, n_eval, C]``) on the inclusion ``masks``
    (``[M, n_train]``) with an unpenalised intercept: ``beta = (Xc^T Xc + lam I)^-1 Xc^T Yc`` on centred masks and
    outputs, ``lam = ridge * trace(Xc^T Xc) / n_train``. With several ``ridges``, each target gets the one with the
    lowest squared error on the last ``holdout`` fraction of the models, fitted on the rest (a regularisation path
    chosen per target on held-out models, as the official datamodels' solver does), then all are refitted on all
    models. One eigendecomposition of the Gram matrix serves every strength and every target.

    Out of core: the targets are independent given the masks' spectrum, so they are fitted ``target_chunk`` columns
    of the flattened ``[M, n_eval * C]`` outputs at a time (0: all at once). ``outputs`` may then be a numpy array
    on disk (``np.load(..., mmap_mode="r")``), read one column block at a time, and ``out`` a float32
    ``[n_train, n_eval, C]`` array (e.g. ``np.lib.format.open_memmap``) that receives ``beta`` block by block and
    backs the returned ``Datamodels.beta``. Peak memory is then the masks' spectrum (``[M, n_train]`` and
    ``[min(M, n_train)]^2`` float64 matrices) plus one block, not ``outputs`` or ``beta``."""
    if masks.dim() != 2 or len(outputs.shape) != 3 or masks.shape[0] != outputs.shape[0]:
        raise ValueError(f"masks must be [M, n_train] and outputs [M, n_eval, C], got {masks.shape}, {outputs.shape}")
    if not ridges:
        raise ValueError("ridges must be non-empty")
    for r in ridges:
        check_positive("ridges", r)
    check_range("holdout", holdout, 0.0, 1.0, high_inclusive=False)
    check_non_negative("target_chunk", target_chunk)
    m, n = masks.shape
    shape = tuple(outputs.shape[1:])
    if out is not None and (tuple(out.shape) != (n, *shape) or out.dtype != np.float32):
        raise ValueError(f"out must be a float32 array of shape {(n, *shape)}, got {out.shape} {out.dtype}")
    x = masks.to(torch.float64)
    flat = outputs.reshape(m, -1)
    n_targets = flat.shape[1]
    step = target_chunk or n_targets

    def columns(start: int) -> Tensor:
        """Targets ``start : start + step`` of every model, float32 ``[M, k]``."""
        if isinstance(flat, Tensor):
            return flat[:, start : start + step].to(torch.float32)
        return torch.from_numpy(np.ascontiguousarray(flat[:, start : start + step], dtype=np.float32))

    def spectrum(rows: slice) -> tuple[Tensor, Tensor, Tensor, Callable[[Tensor], Tensor], float]:
        """The masks' part of the fit on ``rows``: centring mean xm, eigenvalues s, basis B and the map from centred
        float64 targets Yc to z, with beta(lam) = B (z / (s + lam)): the primal form (eigenvectors V of Xc^T Xc,
        z = V^T Xc^T Yc) or, with fewer models than points, the equal dual form (K = Xc Xc^T = U S U^T,
        B = Xc^T U, z = U^T Yc)."""
        xm = x[rows].mean(0)
        xc = x[rows] - xm
        scale = float(xc.pow(2).sum() / n)  # the mean diagonal of Xc^T Xc
        if xc.shape[0] < n:
            s, u = torch.linalg.eigh(xc @ xc.T)
            return xm, s, xc.T @ u, lambda yc: u.T @ yc, scale
        s, v = torch.linalg.eigh(xc.T @ xc)
        xt = xc.T.to(torch.float32)
        return xm, s, v, lambda yc: v.T @ (xt @ yc.to(torch.float32)).to(torch.float64), scale

    def targets(y: Tensor, rows: slice, project: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """The targets' part on ``rows``: their mean ym and z."""
        ym = y[rows].mean(0).to(torch.float64)
        return ym, project((y[rows] - ym.to(torch.float32)).to(torch.float64))

    choice = torch.zeros(n_targets, dtype=torch.long)
    error = float("nan")
    if len(ridges) > 1:
        cut = m - max(1, round(holdout * m))
        if cut < 2:
            raise ValueError(f"holdout leaves {cut} models to fit; need more models or a single ridge")
        xm, s, basis, project, scale = spectrum(slice(0, cut))
        proj = (x[cut:] - xm) @ basis
        total = 0.0
        for start in range(0, n_targets, step):
            y = columns(start)
            ym, z = targets(y, slice(0, cut), project)
            errors = torch.stack(
                [((proj / (s + r * scale)) @ z + ym - y[cut:].to(torch.float64)).pow(2).mean(0) for r in ridges]
            )
            best = errors.min(0)
            choice[start : start + step] = best.indices
            total += float(best.values.sum())
        error = total / n_targets
        del basis, project, proj
    xm, s, basis, project, scale = spectrum(slice(0, m))
    lams = torch.tensor(ridges, dtype=torch.float64)
    beta_parts, intercept_parts = [], []
    for start in range(0, n_targets, step):
        ym, z = targets(columns(start), slice(0, m), project)
        strength = lams[choice[start : start + step]] * scale  # [k], one lambda per target
        beta = basis @ (z / (s[:, None] + strength))
        intercept_parts.append(ym - xm @ beta)
        if out is None:
            beta_parts.append(beta)
        else:
            out.reshape(n, -1)[:, start : start + step] = beta.to(torch.float32).numpy()
    beta_all = torch.from_numpy(out) if out is not None else torch.cat(beta_parts, 1).reshape(n, *shape)
    return Datamodels(
        beta=beta_all.to(torch.float32),
        intercept=torch.cat(intercept_parts).reshape(shape).to(torch.float32),
        ridge=lams[choice].reshape(shape),
        holdout_mse=error,
    )


class RidgeTwin:
    """The convex twin: multi-output ridge regression ``theta = (X1^T X1 + lam I)^-1 X1^T Y`` on features with a ones
    column (``X1 = [X, 1]``), whose exact leave-k-out effect comes from the Woodbury identity:

        theta_{S \\ F} = theta_S - A^-1 X1_F^T (I - X1_F A^-1 X1_F^T)^-1 (Y_F - X1_F theta_S),  A = X1^T X1 + lam I.

    ``group_effect(forget)`` is ``f_S(x) - f_{S \\ F}(x)`` on the eval inputs: an attribution for ``dm_direct`` under
    which DM-Direct's prediction is the refitted model's output exactly."""

    def __init__(self, x: Tensor, y: Tensor, x_eval: Tensor, lam: float = 1.0) -> None:
        check_non_negative("lam", lam)
        self.x1 = torch.cat([x.to(torch.float64), torch.ones(len(x), 1, dtype=torch.float64)], 1)
        self.eval1 = torch.cat([x_eval.to(torch.float64), torch.ones(len(x_eval), 1, dtype=torch.float64)], 1)
        self.y = y.to(torch.float64)
        self.lam = lam
        self.a_inv = torch.linalg.inv(self.x1.T @ self.x1 + lam * torch.eye(self.x1.shape[1], dtype=torch.float64))
        self.theta = self.a_inv @ self.x1.T @ self.y

    def refit_without(self, forget: Sequence[int] | Tensor) -> Tensor:
        """``theta`` refitted from scratch on the rows outside ``forget`` (the reference the tests compare to)."""
        keep = torch.ones(len(self.y), dtype=torch.bool)
        keep[check_forget(forget, len(self.y))] = False
        x1, y = self.x1[keep], self.y[keep]
        return torch.linalg.solve(x1.T @ x1 + self.lam * torch.eye(x1.shape[1], dtype=torch.float64), x1.T @ y)

    def theta_without(self, forget: Sequence[int] | Tensor) -> Tensor:
        """``theta_{S \\ F}`` by the Woodbury identity (no refit)."""
        index = check_forget(forget, len(self.y))
        xf = self.x1[index]
        residual = self.y[index] - xf @ self.theta
        inner = torch.eye(len(index), dtype=torch.float64) - xf @ self.a_inv @ xf.T
        return self.theta - self.a_inv @ xf.T @ torch.linalg.solve(inner, residual)

    def outputs(self, theta: Tensor | None = None) -> Tensor:
        """``X1_eval theta`` (the fitted ``theta`` by default) -> ``[n_eval, C]``."""
        return self.eval1 @ (self.theta if theta is None else theta)

    def group_effect(self, forget: Sequence[int] | Tensor) -> Tensor:
        """``f_S - f_{S \\ F}`` on the eval inputs, exact."""
        return self.outputs() - self.outputs(self.theta_without(forget))


def random_forget(n_train: int, size: int, seed: int, exclude: Sequence[int] | Tensor = ()) -> Tensor:
    """``size`` distinct training indices drawn uniformly (numpy ``default_rng(seed)``) outside ``exclude``, sorted."""
    check_positive_int("size", size)
    pool = np.setdiff1d(np.arange(n_train), np.asarray(exclude, dtype=np.int64))
    if size > len(pool):
        raise ValueError(f"size must be at most {len(pool)} (the points outside exclude), got {size}")
    return torch.from_numpy(np.sort(np.random.default_rng(seed).choice(pool, size, replace=False)))


def coherent_forget(
    datamodels: Datamodels, size: int, end: str = "top", exclude: Sequence[int] | Tensor = (), chunk: int = 0
) -> Tensor:
    """The ``size`` training points with the largest (``end="top"``) or smallest (``"bottom"``) projection on the
    first principal component of the datamodel matrix (row i = ``beta_i`` flattened over eval points and classes),
    outside ``exclude``, sorted: a coherent subpopulation, as the paper's CIFAR-10 forget sets 4-9. The component's
    sign is fixed so that its largest-magnitude projection is positive. With ``chunk`` > 0 the rows' Gram matrix
    is accumulated over blocks of ``chunk`` columns (a ``beta`` on disk is read one block at a time) and only its top
    eigenvector is computed (LOBPCG: at most the Gram matrix in float32 and float64, 12 n_train^2 bytes, where eigh
    adds its eigenvectors and workspace, ~40 n_train^2 bytes in all); 0: one block and a full ``eigh``."""
    check_positive_int("size", size)
    check_non_negative("chunk", chunk)
    if end not in ("top", "bottom"):
        raise ValueError(f"end must be 'top' or 'bottom', got {end!r}")
    rows = datamodels.beta.reshape(datamodels.beta.shape[0], -1)
    step = chunk or rows.shape[1]
    gram = torch.zeros(len(rows), len(rows))
    for start in range(0, rows.shape[1], step):
        block = rows[:, start : start + step]
        centred = block - block.mean(0)
        gram += centred @ centred.T
    gram = gram.to(torch.float64)  # the float32 accumulator is freed before the decomposition
    if chunk:  # out of core: only the top eigenvector, without eigh's [n, n] eigenvectors and workspace
        first = torch.lobpcg(gram, k=1, largest=True, tol=1e-10, niter=1000)[1][:, 0]
    else:
        first = torch.linalg.eigh(gram)[1][:, -1]  # the top eigenvector is proportional to the rows' projections
    projection = first * first[first.abs().argmax()].sign()
    order = torch.argsort(projection, descending=end == "top", stable=True)
    excluded = set(np.asarray(exclude, dtype=np.int64).tolist())
    chosen = [int(i) for i in order if int(i) not in excluded][:size]
    if len(chosen) < size:
        raise ValueError(f"size must be at most {len(chosen)} (the points outside exclude), got {size}")
    return torch.tensor(sorted(chosen))
