"""The classroom toy environment of Meta-ACL (official ``teachDRL/toy_env/classroom_toy_env.py``).

The task space ``[0, 1]^2`` is cut into ``n_cells x n_cells`` cells, each with a competence ``c`` in
``[0, 100]``. An episode on task ``p`` lands in cell ``x = floor(n p)`` (clipped to the grid) and

    c(x) <- min(c(x) + 1, 100)   iff x is the start cell or a "previous" neighbour x' of x has c(x') >= 75,

and returns the reward ``c(x) / 100`` (after the update). The score is the percentage of cells with
``c > 75``. Two student families, as the official code:

- v1 (``rotation=r``, 4 student types): the task is rotated by ``r x 90`` degrees counter-clockwise about the
  centre before it is binned; the start cell is ``(0, 0)`` of the rotated frame and the previous neighbours
  of ``(i, j)`` are ``(i-1, j)``, ``(i, j-1)``, ``(i-1, j-1)``;
- v2 (``start_cell=s``, ``n_cells^2`` types): no rotation; the start cell is the official numbering's
  ``(s mod n, s div n)`` and the previous neighbours are the four adjacent cells.
"""

from __future__ import annotations

import numpy as np

from paperzoo.shared.validate import check_positive_int, check_range

MAX_COMPETENCE = 100
MASTERED = 75  # a neighbour unlocks a cell at c >= 75; a cell counts as mastered at c > 75 (official)


def rotate_cell(i: int, j: int, n: int, quarter_turns: int) -> tuple[int, int]:
    """The cell that ``(i, j)`` moves to when the task space rotates by ``quarter_turns x 90`` degrees CCW.

    A 90-degree CCW turn about ``(0.5, 0.5)`` maps ``(x, y)`` to ``(1 - y, x)``, hence cell ``(i, j)`` to
    ``(n - 1 - j, i)``.
    """
    for _ in range(quarter_turns % 4):
        i, j = n - 1 - j, i
    return i, j


class ClassroomToyEnv:
    """One toy student (its competence grid); ``episode(task) -> reward``, ``score()``, ``kc_vector()``."""

    def __init__(self, n_cells: int = 10, rotation: int = 0, start_cell: int | None = None) -> None:
        check_positive_int("n_cells", n_cells)
        check_range("rotation", rotation, 0, 3)
        if int(rotation) != rotation:
            raise ValueError(f"rotation must be an integer in [0, 3], got {rotation!r}")
        if start_cell is not None:
            check_range("start_cell", start_cell, 0, n_cells * n_cells - 1)
            if rotation:
                raise ValueError("rotation must be 0 for a v2 student (one with a start_cell)")
        self.n_cells = n_cells
        self.rotation = int(rotation)
        self.start_cell = start_cell
        if start_cell is None:
            self._start = (0, 0)
            offsets = ((-1, 0), (0, -1), (-1, -1))
        else:
            self._start = (start_cell % n_cells, start_cell // n_cells)
            offsets = ((-1, 0), (1, 0), (0, -1), (0, 1))
        # Previous neighbours of every cell, precomputed (indices out of the grid dropped).
        self._previous = [
            [
                [(i + di, j + dj) for di, dj in offsets if 0 <= i + di < n_cells and 0 <= j + dj < n_cells]
                for j in range(n_cells)
            ]
            for i in range(n_cells)
        ]
        # Task-frame cell -> internal (rotated) cell.
        self._to_internal = [
            [rotate_cell(i, j, n_cells, self.rotation) for j in range(n_cells)] for i in range(n_cells)
        ]
        self._kc_order = np.array([i * n_cells + j for row in self._to_internal for i, j in row])
        self.competence = np.zeros((n_cells, n_cells), dtype=np.int64)  # internal frame

    @property
    def student_param(self) -> int:
        """The student type: the rotation (v1) or the start cell index (v2)."""
        return self.rotation if self.start_cell is None else int(self.start_cell)

    def reset(self) -> None:
        """Forget everything: all competences back to 0."""
        self.competence[:] = 0

    def cell_of(self, task: np.ndarray) -> tuple[int, int]:
        """The internal-frame cell the task falls in (after the student's rotation)."""
        task = np.asarray(task, dtype=np.float64)
        if task.shape != (2,):
            raise ValueError(f"task must have shape (2,), got {task.shape}")
        if not (np.all(task >= 0.0) and np.all(task <= 1.0)):
            raise ValueError(f"task must lie in [0, 1]^2, got {task}")
        n = self.n_cells
        i, j = min(int(task[0] * n), n - 1), min(int(task[1] * n), n - 1)
        return self._to_internal[i][j]

    def episode(self, task: np.ndarray) -> float:
        """Train on ``task`` once; the reward is the cell's competence after the update, divided by 100."""
        i, j = self.cell_of(task)
        c = self.competence
        if (i, j) == self._start or any(c[p] >= MASTERED for p in self._previous[i][j]):
            c[i, j] = min(c[i, j] + 1, MAX_COMPETENCE)
        return float(c[i, j]) / MAX_COMPETENCE

    def score(self) -> float:
        """Percentage of mastered cells (competence above 75), as the official ``get_score``."""
        return 100.0 * float(np.mean(self.competence > MASTERED))

    def kc_vector(self) -> np.ndarray:
        """The knowledge-component test vector: the competence grid in the task frame, flattened (int)."""
        return self.competence.ravel()[self._kc_order]
