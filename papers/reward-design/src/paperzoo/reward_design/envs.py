"""The two tabular environments: the chain with a distractor (ExploRS) and a small four-room grid (EXPRD, adaptive).

Both append an absorbing sink state (the last index), as the official environments do.

- :func:`chain` (ExploRS ``env_chain_n1_n2.py``): states ``0 .. n2+n1`` on a line, the start at ``n2``, the goal at
  ``n2+n1`` (the right end) where "right" pays ``R_max`` and keeps the agent there; "left" from state 0 falls into
  the sink; a distractor at ``n2 - subgoal_position`` pays ``subgoal`` for "left". With probability ``slip`` the
  move is that of a uniformly random action (the official ``randomMoveProb``).
- :func:`rooms`: a ``size x size`` grid split into four rooms by one vertical and one horizontal wall, each with
  two doorways; start in the bottom-left corner, goal in the top-right corner, where every action enters the sink
  and "right" pays ``R_max`` (the official RoomsNavEnv rewards "right" at the goal); moves into a wall or the
  border stay put; with probability ``slip`` the move is that of a uniformly random action.
"""

from __future__ import annotations

import numpy as np

from paperzoo.reward_design.mdp import TabularMDP
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

LEFT, RIGHT = 0, 1
UP, DOWN, WEST, EAST = 0, 1, 2, 3


def _slip(P_clean: np.ndarray, slip: float) -> np.ndarray:
    """``P[s, a] = (1 - slip) P_clean[s, a] + slip * mean_b P_clean[s, b]``."""
    check_range("slip", slip, 0.0, 1.0)
    return (1 - slip) * P_clean + slip * P_clean.mean(axis=1, keepdims=True)


def chain(
    n1: int = 20,
    n2: int = 40,
    subgoal: float = 0.01,
    subgoal_position: int | None = None,
    gamma: float = 0.99,
    slip: float = 0.05,
    horizon: int = 40,
    R_max: float = 1.0,
) -> TabularMDP:
    """The ExploRS chain (official defaults: n1 = 20, n2 = 40, distractor 15 left of the start, gamma 0.99,
    slip 0.05, H = 40); 2 actions (left, right); ``n1 + n2 + 2`` states including the sink.
    ``subgoal_position`` defaults to min(15, n2)."""
    check_positive_int("n1", n1)
    check_positive_int("n2", n2)
    check_non_negative("subgoal", subgoal)
    subgoal_position = min(15, n2) if subgoal_position is None else subgoal_position
    if not 0 <= subgoal_position <= n2:
        raise ValueError(f"subgoal_position must be in [0, n2={n2}], got {subgoal_position}")
    S = n1 + n2 + 2
    sink, goal = S - 1, S - 2
    P = np.zeros((S, 2, S))
    for s in range(S - 1):
        P[s, LEFT, s - 1 if s > 0 else sink] = 1.0
        P[s, RIGHT, min(s + 1, goal)] = 1.0
    P[sink, :, sink] = 1.0
    P = _slip(P, slip)
    P[sink] = 0.0
    P[sink, :, sink] = 1.0
    R = np.zeros((S, 2))
    R[goal, RIGHT] = R_max
    R[n2 - subgoal_position, LEFT] = subgoal
    init = np.zeros(S)
    init[n2] = 1.0
    return TabularMDP(P, R, gamma, init, sink=sink, horizon=horizon)


def rooms(size: int = 7, gamma: float = 0.95, slip: float = 0.05, horizon: int = 50, R_max: float = 1.0) -> TabularMDP:
    """The four-room grid (``size**2 + 1`` states, 4 actions: up, down, west, east); state ``y * size + x``."""
    if not isinstance(size, int) or size < 5:
        raise ValueError(f"size must be an integer >= 5, got {size!r}")
    n = size * size
    S, sink, goal = n + 1, n, n - 1
    mid = size // 2
    doors_v = {size // 4, size - 1 - size // 4}  # rows where the vertical wall (between x = mid-1 and mid) opens
    doors_h = {size // 4, size - 1 - size // 4}  # columns where the horizontal wall (between y = mid-1, mid) opens

    def move(x: int, y: int, a: int) -> tuple[int, int]:
        dx, dy = {UP: (0, 1), DOWN: (0, -1), WEST: (-1, 0), EAST: (1, 0)}[a]
        nx, ny = x + dx, y + dy
        if not (0 <= nx < size and 0 <= ny < size):
            return x, y
        if dx and {x, nx} == {mid - 1, mid} and y not in doors_v:
            return x, y
        if dy and {y, ny} == {mid - 1, mid} and x not in doors_h:
            return x, y
        return nx, ny

    P = np.zeros((S, 4, S))
    for s in range(n):
        x, y = s % size, s // size
        for a in range(4):
            nx, ny = move(x, y, a)
            P[s, a, ny * size + nx] = 1.0
    P = _slip(P, slip)
    P[goal] = 0.0
    P[goal, :, sink] = 1.0
    P[sink] = 0.0
    P[sink, :, sink] = 1.0
    R = np.zeros((S, 4))
    R[goal, EAST] = R_max
    init = np.zeros(S)
    init[0] = 1.0
    return TabularMDP(P, R, gamma, init, sink=sink, horizon=horizon)
