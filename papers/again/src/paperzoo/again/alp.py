"""Absolute learning progress from the nearest previously seen task (ALP-GMM's ``EmpiricalALPComputer``).

For an episode on task ``p`` with reward ``r``, once at least 6 (task, reward) pairs are stored,

    ALP(p) = |r - r_old|,   r_old = the reward of the stored task nearest to p (Euclidean),

and ``(p, r)`` is stored afterwards. As the official buffered kd-tree, the stored tasks live in a kd-tree
rebuilt every ``buffer_size`` additions plus a small buffer of the latest tasks searched by brute force, so
one lookup costs ``O(log n + buffer_size)`` instead of ``O(n)``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from paperzoo.shared.validate import check_positive_int

MIN_STORED = 6  # the official computer answers 0 until more than 5 pairs are stored


class ALPComputer:
    """``compute(task, reward) -> ALP``: the reward change against the nearest stored task, then store it."""

    def __init__(self, task_dim: int, buffer_size: int = 500) -> None:
        check_positive_int("task_dim", task_dim)
        check_positive_int("buffer_size", buffer_size)
        self.task_dim = task_dim
        self.buffer_size = buffer_size
        self._tasks = np.empty((1024, task_dim))
        self._rewards = np.empty(1024)
        self._size = 0
        self._tree: cKDTree | None = None
        self._tree_size = 0  # the first _tree_size stored tasks are in the tree, the rest in the buffer

    def __len__(self) -> int:
        return self._size

    def nearest(self, task: np.ndarray) -> int:
        """Index of the stored task nearest to ``task`` (the older one on a tie); needs one stored task."""
        if self._size == 0:
            raise ValueError("no task is stored yet")
        best, best_d = -1, np.inf
        if self._tree is not None:
            best_d, best = self._tree.query(task)
        if self._size > self._tree_size:
            diff = self._tasks[self._tree_size : self._size] - task
            d2 = np.einsum("ij,ij->i", diff, diff)
            k = int(np.argmin(d2))
            if np.sqrt(d2[k]) < best_d:
                best = self._tree_size + k
        return int(best)

    def compute(self, task: np.ndarray, reward: float) -> float:
        """The ALP of ``(task, reward)`` (0 while fewer than 6 pairs are stored); the pair is then stored."""
        task = np.asarray(task, dtype=np.float64)
        alp = 0.0
        if self._size >= MIN_STORED:
            alp = abs(float(reward) - float(self._rewards[self.nearest(task)]))
        self._store(task, float(reward))
        return alp

    def _store(self, task: np.ndarray, reward: float) -> None:
        if self._size == len(self._tasks):
            self._tasks = np.concatenate([self._tasks, np.empty_like(self._tasks)])
            self._rewards = np.concatenate([self._rewards, np.empty_like(self._rewards)])
        self._tasks[self._size] = task
        self._rewards[self._size] = reward
        self._size += 1
        if self._size - self._tree_size >= self.buffer_size:
            self._tree = cKDTree(self._tasks[: self._size].copy())
            self._tree_size = self._size
