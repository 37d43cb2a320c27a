"""The random curriculum: every task uniform in the task space's box."""

from __future__ import annotations

import numpy as np

from paperzoo.again.alp_gmm import check_bounds


class RandomTeacher:
    """``sample_task()`` draws ``U[lower, upper]``; ``update`` ignores the reward."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, seed: int | np.random.Generator = 0) -> None:
        self.lower, self.upper = check_bounds(lower, upper)
        self.rng = np.random.default_rng(seed)

    def sample_task(self) -> np.ndarray:
        """A uniform task."""
        return self.rng.uniform(self.lower, self.upper)

    def update(self, task: np.ndarray, reward: float) -> bool:
        """Nothing to learn; returns False (no curriculum update)."""
        return False
