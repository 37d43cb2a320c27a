"""Incremental PCA in torch (mean-centred, as ``sklearn.decomposition.IncrementalPCA``) and EVA's convergence test.

EVA decomposes each layer's input activations batch by batch (Paischer et al., 2024, Sec. 3.1). The
decomposition is the incremental PCA of Ross et al. (2008) that scikit-learn implements: after batches
X_1..X_t (n_t rows each, N = sum n_t), keep the running mean mu, the per-feature variance, and the top-k right
singular vectors V (``components_``, k x d) with singular values S of the centred data seen so far. A new batch
X (n x d, batch mean m) is folded in by one SVD of the stacked matrix

    Z = [ diag(S) V ;  X - 1 m^T ;  sqrt(N n / (N + n)) (mu - m)^T ]          ((k + n + 1) x d)

    Z = U' S' V'^T,   components_ <- V'[:k],   singular_values_ <- S'[:k]

(the last row corrects for the shift of the mean). With N + n samples seen:

    explained_variance_       = S'^2 / (N + n - 1)
    explained_variance_ratio_ = S'^2 / sum_j (N + n) var_j          (the layer's own total variance)

Signs are made deterministic as scikit-learn's ``svd_flip(u_based_decision=False)`` does: each row of V'^T is
flipped so that its largest-magnitude entry is positive.

The SVD is either exact (``svd="full"``, ``torch.linalg.svd``; equals scikit-learn) or randomized
(``svd="lowrank"``, ``torch.svd_lowrank`` with q = 2k, 4 subspace iterations and a fixed seed 42: the choice of
peft's EVA, whose defaults we follow). Everything is computed in ``dtype`` (float64 by default: scikit-learn
accumulates in float64, and peft's stacked matrix becomes float64 after the first batch by type promotion).

Convergence (Sec. 3.1 of the paper; peft's ``SVDHook``): after each batch, component c is converged if the cosine
similarity between its new and previous vector is >= tau.
"""

from __future__ import annotations

from typing import Literal

import torch

from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

SvdMethod = Literal["full", "lowrank"]
SVD_METHODS = ("full", "lowrank")
# peft's EVA: IncrementalPCA(lowrank=True, lowrank_seed=42), q = 2 n_components, niter = 4.
LOWRANK_SEED = 42
LOWRANK_NITER = 4


def svd_flip_rows(u: torch.Tensor, vt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip the sign of each right singular vector (row of ``vt``, and the matching column of ``u``) so that its
    largest-magnitude entry is positive: scikit-learn's ``svd_flip(u, v, u_based_decision=False)``."""
    rows = torch.arange(vt.shape[0], device=vt.device)
    signs = torch.sign(vt[rows, vt.abs().argmax(dim=1)])
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return u * signs[: u.shape[1]], vt * signs[:, None]


class IncrementalPCA:
    """Mean-centred incremental PCA of a stream of batches (rows = samples), fitted with :meth:`partial_fit`.

    Args:
        n_components: k, the number of principal components kept (<= the number of features, and <= the number of
            rows of every batch).
        svd: ``"full"`` (exact ``torch.linalg.svd``) or ``"lowrank"`` (randomized ``torch.svd_lowrank``, peft's choice).
        lowrank_q: the randomized SVD's oversampled rank q (default 2k, as peft); ``lowrank_niter``: its subspace
            iterations (4); ``lowrank_seed``: the torch seed it runs under (42, as peft; the global RNG state is
            restored afterwards).
        dtype: the working precision (float64 default; float32 halves the cost on large layers).

    Attributes (after the first ``partial_fit``): ``components_`` (k x d, orthonormal rows), ``singular_values_``,
    ``explained_variance_``, ``explained_variance_ratio_`` (k), ``mean_``, ``var_`` (d, float64),
    ``n_samples_seen_``.
    """

    def __init__(
        self,
        n_components: int,
        svd: SvdMethod = "lowrank",
        lowrank_q: int | None = None,
        lowrank_niter: int = LOWRANK_NITER,
        lowrank_seed: int | None = LOWRANK_SEED,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        check_positive_int("n_components", n_components)
        check_one_of("svd", svd, SVD_METHODS)
        if lowrank_q is not None and lowrank_q < n_components:
            raise ValueError(f"lowrank_q must be >= n_components={n_components}, got {lowrank_q}")
        check_range("lowrank_niter", lowrank_niter, 0, 1000)
        self.n_components = n_components
        self.svd = svd
        self.lowrank_q = 2 * n_components if lowrank_q is None else lowrank_q
        self.lowrank_niter = lowrank_niter
        self.lowrank_seed = lowrank_seed
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.dtype = dtype
        self.n_samples_seen_ = 0
        self.components_: torch.Tensor | None = None
        self.singular_values_: torch.Tensor | None = None
        self.explained_variance_: torch.Tensor | None = None
        self.explained_variance_ratio_: torch.Tensor | None = None
        self.mean_: torch.Tensor | None = None
        self.var_: torch.Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.components_ is not None

    def _decompose(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.svd == "full":
            return torch.linalg.svd(z, full_matrices=False)
        q = min(self.lowrank_q, *z.shape)
        with torch.random.fork_rng(devices=[z.device] if z.device.type == "cuda" else []):
            if self.lowrank_seed is not None:
                torch.manual_seed(self.lowrank_seed)
            u, s, v = torch.svd_lowrank(z, q=q, niter=self.lowrank_niter)
        return u, s, v.mT

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor) -> IncrementalPCA:
        """Fold one batch ``x`` (n x d, any float dtype; cast to ``dtype``) into the decomposition (the module's
        equations)."""
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D (samples x features), got shape {tuple(x.shape)}")
        x = x.to(self.dtype)
        n, d = x.shape
        if self.n_components > d:
            raise ValueError(f"n_components={self.n_components} must be <= the number of features {d}")
        if self.n_components > n:
            raise ValueError(f"n_components={self.n_components} must be <= the number of samples {n} in a batch")
        if self.mean_ is not None and d != self.mean_.shape[0]:
            raise ValueError(f"x has {d} features, the previous batches had {self.mean_.shape[0]}")
        n_old = self.n_samples_seen_
        n_total = n_old + n
        batch_mean = x.mean(dim=0, dtype=torch.float64)
        # Unnormalised variance of the batch: sum (x - m)^2, in float64 (scikit-learn's _incremental_mean_and_var).
        batch_ssd = (x.double() - batch_mean).square().sum(dim=0)
        if self.mean_ is None:
            mean, ssd = batch_mean, batch_ssd
            z = x - batch_mean.to(x.dtype)
        else:
            # Chan et al.'s pairwise update of the mean and the sum of squared deviations.
            delta = batch_mean - self.mean_
            mean = self.mean_ + delta * (n / n_total)
            ssd = self.var_ * n_old + batch_ssd + delta.square() * (n_old * n / n_total)
            correction = (n_old * n / n_total) ** 0.5 * (self.mean_ - batch_mean)
            z = torch.cat(
                [
                    self.singular_values_[:, None] * self.components_,
                    x - batch_mean.to(x.dtype),
                    correction[None].to(x.dtype),
                ]
            )
        u, s, vt = self._decompose(z)
        u, vt = svd_flip_rows(u, vt)
        k = self.n_components
        self.components_ = vt[:k]
        self.singular_values_ = s[:k]
        self.explained_variance_ = s[:k].square() / max(n_total - 1, 1)
        # The ratio is w.r.t. the total variance of everything seen: sum_j (N + n) var_j = sum_j ssd_j.
        self.explained_variance_ratio_ = (s[:k].double().square() / ssd.sum()).to(s.dtype)
        self.mean_, self.var_ = mean, ssd / n_total
        self.n_samples_seen_ = n_total
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``x`` on the components: (x - mu) V^T."""
        if self.components_ is None:
            raise ValueError("the PCA is not fitted yet: call partial_fit first")
        return (x - self.mean_.to(x.dtype)) @ self.components_.to(x.dtype).T


def converged_components(current: torch.Tensor, previous: torch.Tensor, tau: float) -> torch.Tensor:
    """EVA's convergence test: ``cos(v_c^(t), v_c^(t-1)) >= tau`` for each component row c (a bool vector)."""
    return torch.nn.functional.cosine_similarity(current, previous, dim=1) >= tau
