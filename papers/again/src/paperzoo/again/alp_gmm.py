"""ALP-GMM (Portelas et al., 2019): a Gaussian mixture over (task, ALP), sampled in proportion to its ALP.

Every episode stores ``[p, ALP(p)]`` (:mod:`paperzoo.again.alp`). Every ``fit_rate`` episodes (once the first
``fit_rate`` bootstrap episodes are done) GMMs with ``k = 2..k_max`` full-covariance components (``n_em_init``
EM runs each) are fitted on the last ``fit_rate`` points and the one with the lowest AIC is kept. A task is

- uniform in ``[lower, upper]`` during the bootstrap and with probability ``random_task_ratio``;
- otherwise drawn from Gaussian ``g`` chosen with probability ``mu_g[ALP] / sum_h mu_h[ALP]`` (uniform when
  every mean ALP is 0), its ALP coordinate dropped and the task clipped to the bounds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from paperzoo.again.alp import ALPComputer
from paperzoo.shared.validate import check_positive_int, check_range


def check_bounds(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of the task space's box; ``ValueError`` unless ``lower < upper`` in every dimension."""
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    if lo.ndim != 1 or lo.shape != hi.shape or len(lo) == 0:
        raise ValueError(f"lower and upper must be 1-D of one length, got shapes {lo.shape} and {hi.shape}")
    if not np.all(lo < hi):
        raise ValueError(f"lower must be below upper in every dimension, got lower={lo}, upper={hi}")
    return lo, hi


def proportional_choice(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index ``i`` with probability ``values[i] / sum(values)``; uniform when the sum is 0."""
    values = np.asarray(values, dtype=np.float64)
    total = values.sum()
    if total <= 0.0:
        return int(rng.integers(len(values)))
    cumulative = np.cumsum(values / total)
    return int(min(np.searchsorted(cumulative, rng.random(), side="right"), len(values) - 1))


@dataclass
class Mixture:
    """Gaussians over ``[task, ALP]``: ``means (G, d+1)``, ``covariances (G, d+1, d+1)``; sampled by ALP."""

    means: np.ndarray
    covariances: np.ndarray
    _chol: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.means = np.asarray(self.means, dtype=np.float64).reshape(-1, self.means.shape[-1])
        self.covariances = np.asarray(self.covariances, dtype=np.float64).reshape(-1, *self.means.shape[-1:] * 2)
        self._chol = np.linalg.cholesky(self.covariances) if len(self.means) else self.covariances

    def __len__(self) -> int:
        return len(self.means)

    def sample(self, rng: np.random.Generator, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, int]:
        """(task, Gaussian index): the Gaussian by :func:`proportional_choice` on the mean ALPs, then a draw."""
        g = proportional_choice(self.means[:, -1], rng)
        draw = self.means[g] + self._chol[g] @ rng.standard_normal(self.means.shape[1])
        return np.clip(draw[:-1], lower, upper), g

    @staticmethod
    def concat(*parts: Mixture) -> Mixture:
        """The union of the parts' Gaussians, in order."""
        return Mixture(np.concatenate([p.means for p in parts]), np.concatenate([p.covariances for p in parts]))


RANDOM_ORIGIN = -1  # task origin of a uniform task


class ALPGMM:
    """The ALP-GMM teacher: ``sample_task()``, ``update(task, reward) -> refitted``.

    History (for a classroom): ``fit_episodes``, ``fit_means``, ``fit_covariances`` (one entry per refit),
    ``origins`` (per episode: the Gaussian index, or ``RANDOM_ORIGIN``) and ``rewards``, ``alps``.
    """

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        seed: int | np.random.Generator = 0,
        *,
        fit_rate: int = 250,
        k_max: int = 10,
        random_task_ratio: float = 0.2,
        n_em_init: int = 1,
    ) -> None:
        self.lower, self.upper = check_bounds(lower, upper)
        check_range("random_task_ratio", random_task_ratio, 0.0, 1.0)
        check_positive_int("k_max", k_max)
        if k_max < 2:
            raise ValueError(f"k_max must be >= 2 (GMMs with k = 2..k_max are compared), got {k_max}")
        check_positive_int("fit_rate", fit_rate)
        if fit_rate < k_max:
            raise ValueError(f"fit_rate must be >= k_max={k_max} (a GMM needs a point per component), got {fit_rate}")
        check_positive_int("n_em_init", n_em_init)
        self.fit_rate, self.k_max, self.random_task_ratio = fit_rate, k_max, random_task_ratio
        self.rng = np.random.default_rng(seed)
        state = int(self.rng.integers(2**31 - 1))  # one sklearn random_state for every fit, as the official seed
        self._candidates = [
            GaussianMixture(k, covariance_type="full", n_init=n_em_init, random_state=state)
            for k in range(2, k_max + 1)
        ]
        dim = len(self.lower)
        self.alp_computer = ALPComputer(dim)
        self._points = np.empty((fit_rate, dim + 1))  # ring of the last fit_rate [task, ALP] points
        self.episodes = 0
        self.gmm: Mixture | None = None
        self.fit_episodes: list[int] = []
        self.fit_means: list[np.ndarray] = []
        self.fit_covariances: list[np.ndarray] = []
        self.origins: list[int] = []
        self.rewards: list[float] = []
        self.alps: list[float] = []

    def sample_task(self) -> np.ndarray:
        """A uniform task (bootstrap, or with probability ``random_task_ratio``), else one from the GMM."""
        if self.gmm is None or self.rng.random() < self.random_task_ratio:
            self.origins.append(RANDOM_ORIGIN)
            return self.rng.uniform(self.lower, self.upper)
        task, g = self.gmm.sample(self.rng, self.lower, self.upper)
        self.origins.append(g)
        return task

    def update(self, task: np.ndarray, reward: float) -> bool:
        """Store ``[task, ALP]``; refit the GMM every ``fit_rate`` episodes. Returns whether it refitted."""
        task = np.asarray(task, dtype=np.float64)
        if task.shape != self.lower.shape:
            raise ValueError(f"task must have shape {self.lower.shape}, got {task.shape}")
        alp = self.alp_computer.compute(task, reward)
        self.alps.append(alp)
        self.rewards.append(float(reward))
        self._points[self.episodes % self.fit_rate, :-1] = task
        self._points[self.episodes % self.fit_rate, -1] = alp
        self.episodes += 1
        if self.episodes % self.fit_rate:
            return False
        self.fit()
        return True

    def fit(self) -> None:
        """Fit every candidate GMM on the last ``fit_rate`` points; keep the one with the lowest AIC."""
        points = self._points
        with warnings.catch_warnings():  # a 2-component EM on 250 points may stop at max_iter: harmless
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits = [g.fit(points) for g in self._candidates]
        best = fits[int(np.argmin([g.aic(points) for g in fits]))]
        self.gmm = Mixture(best.means_.copy(), best.covariances_.copy())
        self.fit_episodes.append(self.episodes)
        self.fit_means.append(self.gmm.means)
        self.fit_covariances.append(self.gmm.covariances)
