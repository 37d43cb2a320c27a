"""Tabular MDPs in the (state, action)-vector form of the reward-design papers.

Vectors live over the |S||A| pairs, index ``s * |A| + a``. For a deterministic policy pi:

- ``P_pi[(s,a), (s',a')] = T(s'|s,a) * 1[a' = pi(s')]``;
- ``I_pi[(s,a), (s,a')] = 1[a' = pi(s)]``;
- ``Q^pi_R = (I - gamma P_pi)^{-1} R``; the advantage vector ``(I_pi - I) Q = Q(s, pi(s)) - Q(s, a)`` (>= 0
  when pi(s) is at least as good as a: the sign convention of EXPRD's constraints);
- the H-step advantage operator ``A_H = (I_pi - I) sum_{h=0}^{H} gamma^h P_pi^h`` (EXPRD's ``get_A_local_h``
  sums h = 0..H; the AAMAS-2024 repository sums h = 0..H-1: ``last="H-1"``).

An absorbing *sink* state (the official environments append one) ends episodes; it is excluded from
counts, bonuses and the occupancy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

__all__ = ["TabularMDP"]


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """``(P, R, gamma, init)`` with ``P`` of shape (S, A, S) (rows sum to 1), ``R`` (S, A), ``init`` (S,).

    ``sink``: index of the absorbing terminal state (None: no sink); ``horizon``: the episode length cap.
    """

    P: np.ndarray
    R: np.ndarray
    gamma: float
    init: np.ndarray
    sink: int | None = None
    horizon: int = 50

    def __post_init__(self) -> None:
        P, R, init = (np.asarray(x, dtype=np.float64) for x in (self.P, self.R, self.init))
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        if np.any(P < 0) or not np.allclose(P.sum(axis=2), 1.0, atol=1e-9):
            raise ValueError("P: every transition row P[s, a, :] must be non-negative and sum to 1")
        if R.shape != P.shape[:2]:
            raise ValueError(f"R must have shape {P.shape[:2]}, got {R.shape}")
        if init.shape != (P.shape[0],) or np.any(init < 0) or not np.isclose(init.sum(), 1.0):
            raise ValueError("init must be a distribution over the S states")
        check_range("gamma", self.gamma, 0.0, 1.0, high_inclusive=False)
        check_positive_int("horizon", self.horizon)
        if self.sink is not None and not 0 <= self.sink < P.shape[0]:
            raise ValueError(f"sink must be a state index in [0, {P.shape[0]}), got {self.sink}")
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "init", init)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def with_reward(self, R: np.ndarray) -> TabularMDP:
        """The same dynamics with reward ``R`` (S, A)."""
        return TabularMDP(self.P, R, self.gamma, self.init, self.sink, self.horizon)

    # ------------------------------------------------------------------ policy matrices
    def p_pi(self, pi: np.ndarray) -> np.ndarray:
        """``P_pi`` (SA x SA) of a deterministic ``pi`` (S,) or a stochastic ``pi`` (S, A)."""
        S, A = self.n_states, self.n_actions
        pi_s = _as_stochastic(pi, A)
        # P[s, a, s'] * pi(a'|s'), flattened over (s, a) and (s', a')
        return (self.P[:, :, :, None] * pi_s[None, None, :, :]).reshape(S * A, S * A)

    def i_pi(self, pi: np.ndarray) -> np.ndarray:
        """``I_pi`` (SA x SA): row (s, a) picks (s, pi(s)); for a stochastic pi, the weights pi(.|s)."""
        S, A = self.n_states, self.n_actions
        pi_s = _as_stochastic(pi, A)
        # block (s, s) holds pi(.|s) in each of its A rows
        return np.einsum("st,tb,a->satb", np.eye(S), pi_s, np.ones(A)).reshape(S * A, S * A)

    def q_values(self, pi: np.ndarray, R: np.ndarray | None = None) -> np.ndarray:
        """``Q^pi_R = (I - gamma P_pi)^{-1} R`` as an (S, A) array (``R`` defaults to the MDP's reward)."""
        R = self.R if R is None else np.asarray(R, dtype=np.float64)
        n = self.n_states * self.n_actions
        q = np.linalg.solve(np.eye(n) - self.gamma * self.p_pi(pi), R.reshape(n))
        return q.reshape(self.n_states, self.n_actions)

    def advantage_operators(
        self, pi: np.ndarray, H_set: Sequence[int], last: str = "H"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(A_inf, A_H for every H in H_set)``: ``A_inf = (I_pi - I)(I - gamma P_pi)^{-1}`` (SA x SA) and a stack
        (len(H_set), SA, SA) of ``(I_pi - I) sum_{h=0}^{H} gamma^h P_pi^h`` (``last="H-1"``: up to H-1), all from one
        running product ``gamma^h P_pi^h`` (one matrix product per horizon step up to max(H_set))."""
        check_one_of("last", last, ("H", "H-1"))
        if not H_set or any(not isinstance(h, int) or h < 1 for h in H_set):
            raise ValueError(f"H_set must be non-empty positive integers, got {list(H_set)}")
        n = self.n_states * self.n_actions
        P = self.p_pi(pi)
        D = self.i_pi(pi) - np.eye(n)
        top = max(H_set) - (last == "H-1")
        wanted = {h - (last == "H-1"): i for i, h in enumerate(H_set)}
        stack = np.empty((len(H_set), n, n))
        term, total = np.eye(n), np.eye(n)
        for i in [i for h, i in wanted.items() if h == 0]:
            stack[i] = D @ total
        for h in range(1, top + 1):
            term = self.gamma * (term @ P)  # gamma^h P_pi^h
            total = total + term
            for i in [i for k, i in wanted.items() if k == h]:
                stack[i] = D @ total
        A_inf = D @ np.linalg.inv(np.eye(n) - self.gamma * P)
        return A_inf, stack

    # ------------------------------------------------------------------ planning and evaluation
    def value_iteration(self, R: np.ndarray | None = None, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """``(Q*, pi*)`` of the infinite-horizon discounted MDP: Q <- R + gamma P max_a Q, to ``tol``.

        ``pi*`` is the first maximiser in every state (deterministic, (S,))."""
        R = self.R if R is None else np.asarray(R, dtype=np.float64)
        Q = np.zeros_like(R)
        for _ in range(100_000):
            Q_new = R + self.gamma * self.P @ Q.max(axis=1)
            if np.max(np.abs(Q_new - Q)) < tol:
                Q = Q_new
                break
            Q = Q_new
        return Q, Q.argmax(axis=1)

    def occupancy(self, pi: np.ndarray) -> np.ndarray:
        """Normalised discounted state occupancy ``mu^pi`` from ``init`` (sink zeroed, then renormalised):
        ``mu = (1 - gamma)(I - gamma T_pi^T)^{-1} init``."""
        T = np.einsum("sa,sat->st", _as_stochastic(pi, self.n_actions), self.P)
        mu = (1 - self.gamma) * np.linalg.solve(np.eye(self.n_states) - self.gamma * T.T, self.init)
        if self.sink is not None:
            mu[self.sink] = 0.0
        return mu / mu.sum()

    def episode_return(self, pi: np.ndarray, R: np.ndarray | None = None) -> float:
        """Expected discounted return ``E[sum_{t<horizon} gamma^t R(s_t, a_t)]`` from ``init`` (exact)."""
        R = self.R if R is None else np.asarray(R, dtype=np.float64)
        pi_s = _as_stochastic(pi, self.n_actions)
        T = np.einsum("sa,sat->st", pi_s, self.P)
        r = (pi_s * R).sum(axis=1)
        d, total = self.init.copy(), 0.0
        for t in range(self.horizon):
            total += self.gamma**t * d @ r
            d = d @ T
        return float(total)


def _as_stochastic(pi: np.ndarray, n_actions: int) -> np.ndarray:
    pi = np.asarray(pi)
    if pi.ndim == 1:
        return np.eye(n_actions)[pi.astype(np.int64)]
    return pi.astype(np.float64)


def action_gaps(mdp: TabularMDP, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pi*, optimal mask (S, A), delta_s)``: pi*'s action gap ``delta_s = min_{a non-optimal} Q*(s, pi*(s)) -
    Q*(s, a)`` under the MDP's reward (0 where every action is optimal), as the official
    ``get_delta_s_given_policy``; actions within ``tol`` of the best count as optimal (ties)."""
    Q, pi = mdp.value_iteration()
    best = Q.max(axis=1, keepdims=True)
    optimal = Q >= best - tol
    gap = np.where(optimal, np.inf, best - Q).min(axis=1)
    return pi, optimal, np.where(np.isfinite(gap), gap, 0.0)
