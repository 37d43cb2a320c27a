"""Saturation, alignment and realism metrics of generated samples (numpy/scipy; features come from torch).

Images (digits in [-1, 1]): mean ``|x|`` and the fraction of pixels with ``|x| > 0.98`` before the final clip
(saturation), the 1-D Wasserstein distance between generated and real pixel values, the Frechet distance between
Gaussians fitted to classifier features, and k-NN precision/recall (Kynkaanniemi et al., 2019).
Points (2-D blobs): the mean radius over the data's (overshoot), the fraction beyond a radius, the fraction
nearest their own class centre, and the sliced Wasserstein distance to each class's distribution.
"""

from __future__ import annotations

import numpy as np

from paperzoo.shared.validate import check_positive_int

CLIP_LEVEL = 0.98  # a pixel with |x| above this counts as saturated (the final clip to [-1, 1] reaches it)


def saturation(x: np.ndarray) -> dict[str, float]:
    """``mean_abs``: mean ``|x|``; ``clip_fraction``: fraction of values with ``|x| > CLIP_LEVEL`` (unclipped ``x``)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    return {"mean_abs": float(a.mean()), "clip_fraction": float((a > CLIP_LEVEL).mean())}


def pixel_wasserstein(x: np.ndarray, real: np.ndarray) -> float:
    """1-D Wasserstein-1 distance between the histograms of all values of ``x`` and of ``real``."""
    from scipy import stats

    return float(stats.wasserstein_distance(np.ravel(x), np.ravel(real)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` between Gaussian fits of rows of ``a`` and ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"a and b must be (n, d) arrays with n >= 2 and the same d, got {a.shape} and {b.shape}")
    mu = a.mean(0) - b.mean(0)
    from scipy import linalg

    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(sa @ sb)
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2.0 * np.trace(np.real(root)))


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return np.partition(cdist(x, x), k, axis=1)[:, k]  # the k+1-th smallest: column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """k-NN precision (fake inside some real point's k-NN ball) and recall (real inside some fake point's ball)."""
    check_positive_int("k", k)
    from scipy.spatial.distance import cdist

    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    d = cdist(fake, real)  # (n_fake, n_real)
    precision = (d <= _knn_radius(real, k)[None]).any(axis=1).mean()
    recall = (d <= _knn_radius(fake, k)[:, None]).any(axis=0).mean()
    return {"precision": float(precision), "recall": float(recall)}


def blob_centres(n_classes: int = 4, radius: float = 1.0) -> np.ndarray:
    """Class centres at ``radius``, angles ``2 pi c / n_classes`` (0, 90, 180, 270 degrees for 4)."""
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: np.ndarray) -> float:
    """Mean over unit ``projections`` (rows) of the 1-D Wasserstein-1 distance between the projected point sets."""
    from scipy import stats

    pa, pb = np.asarray(a) @ projections.T, np.asarray(b) @ projections.T
    return float(np.mean([stats.wasserstein_distance(pa[:, i], pb[:, i]) for i in range(len(projections))]))


def point_metrics(
    x: np.ndarray, labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray, projections: np.ndarray, far: float
) -> dict[str, float]:
    """Overshoot (mean radius / the real data's), fraction beyond radius ``far``, fraction nearest their class
    centre, and the sliced Wasserstein distance to the real points of the same class (mean over classes)."""
    x, real = np.asarray(x, dtype=np.float64), np.asarray(real, dtype=np.float64)
    radius = np.linalg.norm(x, axis=1)
    centres = blob_centres(int(real_labels.max()) + 1)
    nearest = np.argmin(((x[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    classes = np.unique(labels)
    swd = [sliced_wasserstein(x[labels == c], real[real_labels == c], projections) for c in classes]
    return {
        "overshoot": float(radius.mean() / np.linalg.norm(real, axis=1).mean()),
        "outside": float((radius > far).mean()),
        "correct": float((nearest == labels).mean()),
        "swd": float(np.mean(swd)),
    }
