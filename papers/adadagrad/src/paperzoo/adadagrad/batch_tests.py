"""The adaptive-sampling tests that choose the next batch size from per-sample gradients.

Each test takes the per-sample gradients of one batch B_k (b = |B_k| ≥ 2) at the pre-step parameters θ_k, as
``torch.func``'s ``vmap(grad)`` returns them — a dict ``name -> (b, *shape)`` — and gives the batch size b̃
the test asks for, a float before ceil and cap (:func:`next_batch_size` applies those). With g_i the
per-sample gradient, ḡ = mean_i g_i, and Var the unbiased (b − 1) sample variance over i:

- norm test (Byrd et al. 2012), η > 0:                b̃ = Σ_j Var_i(g_{i,j}) / (η²·‖ḡ‖²)
- inner-product test (Bollapragada et al. 2018), ϑ:   b̃ = Var_i(⟨g_i, ḡ⟩) / (ϑ²·‖ḡ‖⁴)
- orthogonality test, ν:                              b̃ = Σ_j Var_i(g_i − (⟨g_i, ḡ⟩/‖ḡ‖²)·ḡ)_j / (ν²·‖ḡ‖²)
- augmented inner-product test:                       b̃ = max(inner-product b̃, orthogonality b̃)

The inner products are over all parameters (the exact tests, the default). ``blockwise=True`` is the official
code's form (timlautk/AdAdaGrad ``tests.py``): each parameter tensor t uses its own block ḡ^t, the variances
Var_i(⟨g_i^t, ḡ^t⟩) and Σ_j Var_i(g_i^t − (⟨g_i^t, ḡ^t⟩/‖ḡ^t‖²)·ḡ^t)_j are summed over tensors (the
cross-tensor covariances dropped) and divided by ϑ²·(Σ_t‖ḡ^t‖²)² and ν²·Σ_t‖ḡ^t‖². The norm test is a sum
over coordinates, so both forms agree; for a model with one tensor all forms agree.

:func:`coordinatewise_test` is this code's reading of the paper's coordinate-wise test for AdAdaGrad (the
norm-test condition per coordinate); the official code does not implement it: UNVERIFIED.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from paperzoo.shared.validate import check_one_of, check_range

__all__ = [
    "TEST_NAMES",
    "BatchTest",
    "augmented_ip_test",
    "coordinatewise_test",
    "inner_product_test",
    "next_batch_size",
    "norm_test",
    "orthogonality_test",
]

PerSample = Mapping[str, Tensor]


def _check_positive(name: str, value: float) -> None:
    check_range(name, value, 0.0, math.inf, low_inclusive=False, high_inclusive=False)


def _flat(g: PerSample) -> list[Tensor]:
    """Each tensor as (b, numel), checking that every tensor has the same b ≥ 2."""
    if not g:
        raise ValueError("g must hold at least one per-sample gradient tensor")
    sizes = {t.shape[0] for t in g.values()}
    if len(sizes) != 1 or min(sizes) < 2:
        raise ValueError(f"g must hold one batch of b >= 2 per-sample gradients per tensor, got sizes {sorted(sizes)}")
    return [t.detach().reshape(t.shape[0], -1) for t in g.values()]


def _means(blocks: list[Tensor]) -> tuple[list[Tensor], Tensor]:
    """The blocks of ḡ and the per-block ‖ḡ^t‖² (a vector)."""
    means = [b.mean(dim=0) for b in blocks]
    return means, torch.stack([m.double().square().sum() for m in means])


def norm_test(g: PerSample, eta: float) -> float:
    """The norm test's b̃ = Σ_j Var_i(g_{i,j}) / (η²·‖ḡ‖²) (exact; the same blockwise)."""
    _check_positive("eta", eta)
    blocks = _flat(g)
    _, squared = _means(blocks)
    variance = sum(b.var(dim=0, correction=1).double().sum() for b in blocks)
    return float(variance / (eta**2 * squared.sum()))


def _inner_products(blocks: list[Tensor], means: list[Tensor]) -> Tensor:
    """⟨g_i^t, ḡ^t⟩ for every sample i and block t: (b, blocks), in float64."""
    return torch.stack([(b @ m).double() for b, m in zip(blocks, means, strict=True)], dim=1)


def _ip_variance(blocks: list[Tensor], means: list[Tensor], blockwise: bool) -> Tensor:
    """Var_i(⟨g_i, ḡ⟩), or Σ_t Var_i(⟨g_i^t, ḡ^t⟩) blockwise."""
    products = _inner_products(blocks, means)
    if blockwise:
        return products.var(dim=0, correction=1).sum()
    return products.sum(dim=1).var(correction=1)


def _orthogonal_variance(blocks: list[Tensor], means: list[Tensor], squared: Tensor, blockwise: bool) -> Tensor:
    """Σ_j Var_i of the part of g_i orthogonal to ḡ (ḡ^t per block when blockwise)."""
    products = _inner_products(blocks, means)
    # the projection coefficient of each sample: per block, or one over all blocks
    if blockwise:
        coefficients = products / squared
    else:
        coefficients = (products.sum(dim=1) / squared.sum())[:, None].expand_as(products)
    total = torch.zeros((), dtype=torch.float64, device=blocks[0].device)
    for t, (b, m) in enumerate(zip(blocks, means, strict=True)):
        residual = b.double() - coefficients[:, t, None] * m.double()
        total = total + residual.var(dim=0, correction=1).sum()
    return total


def inner_product_test(g: PerSample, theta: float, blockwise: bool = False) -> float:
    """The inner-product test's b̃ = Var_i(⟨g_i, ḡ⟩) / (ϑ²·‖ḡ‖⁴) (``blockwise``: the official per-tensor form)."""
    _check_positive("theta", theta)
    blocks = _flat(g)
    means, squared = _means(blocks)
    return float(_ip_variance(blocks, means, blockwise) / (theta**2 * squared.sum() ** 2))


def orthogonality_test(g: PerSample, nu: float, blockwise: bool = False) -> float:
    """The orthogonality test's b̃ = Σ_j Var_i(g_i − (⟨g_i,ḡ⟩/‖ḡ‖²)ḡ)_j / (ν²·‖ḡ‖²) (``blockwise``: per tensor)."""
    _check_positive("nu", nu)
    blocks = _flat(g)
    means, squared = _means(blocks)
    return float(_orthogonal_variance(blocks, means, squared, blockwise) / (nu**2 * squared.sum()))


def augmented_ip_test(g: PerSample, theta: float, nu: float, blockwise: bool = False) -> float:
    """The augmented inner-product test: max of the inner-product (ϑ) and orthogonality (ν) tests' b̃."""
    return max(inner_product_test(g, theta, blockwise), orthogonality_test(g, nu, blockwise))


def coordinatewise_test(g: PerSample, eta: float) -> float:
    """UNVERIFIED (absent from the official code): b̃ = max_j Var_i(g_{i,j}) / (η²·ḡ_j²).

    The smallest b with Var_i(g_{i,j})/b ≤ η²·ḡ_j² for every coordinate j — this code's reading of the paper's
    coordinate-wise test for AdAdaGrad. A coordinate with ḡ_j = 0 and variance 0 asks for nothing; one with
    ḡ_j = 0 and variance > 0 asks for b̃ = ∞ (capped at b_max by :func:`next_batch_size`).
    """
    _check_positive("eta", eta)
    blocks = _flat(g)
    worst = 0.0
    for b in blocks:
        variance, mean = b.var(dim=0, correction=1).double(), b.mean(dim=0).double()
        ratio = (variance / (eta**2 * mean.square())).nan_to_num(nan=0.0, posinf=math.inf)
        worst = max(worst, float(ratio.max()))
    return worst


def next_batch_size(b: int, b_tilde: float, b_max: int) -> int:
    """b_{k+1} = min(b_max, max(b_k, ⌈b̃⌉)): the batch never shrinks and never exceeds b_max."""
    if math.isnan(b_tilde):
        return b  # ḡ = 0 and no variance: nothing to ask for
    return min(b_max, max(b, math.ceil(b_tilde) if math.isfinite(b_tilde) else b_max))


TEST_NAMES: tuple[str, ...] = ("norm", "inner_product", "augmented_ip", "coordinatewise")


@dataclass(frozen=True)
class BatchTest:
    """One test with its hyperparameters, as the training loop calls it: ``BatchTest("norm", eta=0.1)(g)``.

    ``test`` is one of :data:`TEST_NAMES`; ``eta`` is the norm and coordinate-wise tests' η, ``theta`` and
    ``nu`` the (augmented) inner-product tests' ϑ and ν; ``blockwise`` selects the official per-tensor form.
    """

    test: str
    eta: float = 0.1
    theta: float = 0.5
    nu: float = 1.0
    blockwise: bool = False

    def __post_init__(self) -> None:
        check_one_of("test", self.test, TEST_NAMES)
        for name in ("eta", "theta", "nu"):
            _check_positive(name, getattr(self, name))

    def __call__(self, g: PerSample) -> float:
        """b̃ of this test on the per-sample gradients ``g``."""
        if self.test == "norm":
            return norm_test(g, self.eta)
        if self.test == "inner_product":
            return inner_product_test(g, self.theta, self.blockwise)
        if self.test == "augmented_ip":
            return augmented_ip_test(g, self.theta, self.nu, self.blockwise)
        return coordinatewise_test(g, self.eta)
