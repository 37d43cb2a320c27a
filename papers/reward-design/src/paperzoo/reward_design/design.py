"""Teacher-driven reward design: EXPRD (NeurIPS 2021), the invariance-only LP, the adaptive learner-aware design
(AAMAS 2024, code name ``Ada_TL``) and potential-based shaping (PBRS).

EXPRD solves the linear program (R a vector over the |S||A| pairs)

    max_R  IR(R) = -(1/|H_set|)(1/|S|) sum_{H in H_set} sum_s ReLU( max_{a non-optimal} [delta_s - (A_H R)(s, a)] )
    s.t.   (I_pi* - I)(I - gamma P_pi*)^{-1} R >= b      (pi* stays optimal with margin b(s,a) = delta_s, 0 for
                                                         optimal a; delta_s = pi*'s action gap under R-bar / (1+1e-5))
           |R(s, a)| <= R_max,   R(s, .) = 0 for s not in S_active,

built here from matrix constraints (the ReLU(max) through epigraph variables u_{H,s} >= 0,
u_{H,s} >= delta_s - (A_H R)(s, a)), with the sparsity pattern as a cvxpy *parameter* (``|R| <= R_max * mask``),
so the greedy search over S_active (start from {goal}; B - 1 rounds, each adding the candidate whose inclusion
gives the lowest objective) re-solves one compiled problem. The official code builds one scalar constraint per
entry in Python loops and solves with ECOS; the LP is the same (``perf.py`` times both with CLARABEL).

The adaptive design (``Ada_TL``) solves, every K learner episodes with the learner's current policy pi_L,

    max_R  sum_{s,a} mu^{pi_T}(s) mu^{pi_L}(s) pi_L(a|s)^2 [Adv(s,a) - sum_b pi_L(b|s) Adv(s,b)]
                                                           [R(s,a) - sum_b pi_L(b|s) R(s,b)]

subject to the same global-optimality and R_max constraints (no sparsity), with ``Adv = Q^{pi_T}_{R-bar} - V``
(the code's ``calculate_ADV``: Q(s,a) - Q(s, pi_T(s)), <= 0 for non-optimal a), the pi_L(a|s)^2 weight of the
code (one pi_L from its objective, one from mu^{pi_L}(s, a) = mu^{pi_L}(s) pi_L(a|s)), and mu^{pi_T} the occupancy
of the teacher's policy smoothed epsilon-greedily with epsilon = 0.4 (the code's
``compute_teacher_quantities_given_env_pi``; sink zeroed, renormalised). The official teacher re-solves at every
teacher update (every 5 episodes); ``K`` sets the period here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperzoo.reward_design.mdp import TabularMDP, action_gaps
from paperzoo.shared.validate import check_positive, check_range

H_SET = (1, 4, 8, 16, 32)  # EXPRD's H_set (paper and code)
DELTA_SCALE = 1 + 1e-5  # the code divides delta_s by 1 + 1e-5: the LP stays feasible at R = R-bar
_TOL = 1e-8  # entries below this are zeroed after solving (the code zeroes |R| <= tol)


def _solve(problem, solver: str):
    import cvxpy as cp

    problem.solve(solver=solver)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"the reward-design LP ended with status {problem.status!r}")
    return problem.value


def _clean(R: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    R = np.round(np.asarray(R, dtype=np.float64), 8)
    R[np.abs(R) <= _TOL] = 0.0
    return R.reshape(shape)


def global_constraint(mdp: TabularMDP, pi_star: np.ndarray, optimal: np.ndarray, delta: np.ndarray):
    """``(A, b)`` of the invariance constraint ``A R >= b``: ``A = (I_pi* - I)(I - gamma P_pi*)^{-1}``,
    ``b(s, a) = delta_s`` for non-optimal a and 0 otherwise."""
    n = mdp.n_states * mdp.n_actions
    A = (mdp.i_pi(pi_star) - np.eye(n)) @ np.linalg.inv(np.eye(n) - mdp.gamma * mdp.p_pi(pi_star))
    b = np.where(optimal, 0.0, delta[:, None]).reshape(n)
    return A, b


class ExprdProblem:
    """The EXPRD LP of one MDP and expert policy, compiled once; :meth:`solve` takes the active set.

    ``mdp`` carries the true reward R-bar; pi*, its optimal-action mask and delta_s (its action gap / (1 + 1e-5))
    come from value iteration on it. ``last``: ``"H"`` (EXPRD's sum over h = 0..H) or ``"H-1"`` (AAMAS code).
    """

    def __init__(
        self,
        mdp: TabularMDP,
        R_max: float,
        H_set: Sequence[int] = H_SET,
        last: str = "H",
        solver: str = "CLARABEL",
    ) -> None:
        import cvxpy as cp

        check_positive("R_max", R_max)
        self.mdp, self.R_max, self.solver = mdp, float(R_max), solver
        self.pi_star, self.optimal, gaps = action_gaps(mdp)
        self.delta = gaps / DELTA_SCALE
        S, A = mdp.n_states, mdp.n_actions
        A_glob, b = global_constraint(mdp, self.pi_star, self.optimal, self.delta)
        _, A_H = mdp.advantage_operators(self.pi_star, H_set, last)
        rows = np.flatnonzero(~self.optimal.reshape(-1))  # the non-optimal (s, a) pairs
        row_state = rows // A
        states = np.unique(row_state)  # states with a non-optimal action: one u per (H, state)
        E = (row_state[:, None] == states[None, :]).astype(np.float64)  # row -> its state's u
        self.R = cp.Variable(S * A)
        self.bound = cp.Parameter(S * A, nonneg=True)  # R_max on active states, 0 elsewhere
        u = cp.Variable((len(H_set), len(states)), nonneg=True)
        d = self.delta[row_state]
        constraints = [A_glob @ self.R >= b, self.R <= self.bound, -self.R <= self.bound]
        constraints += [E @ u[i] >= d - A_H[i][rows] @ self.R for i in range(len(H_set))]
        # minimise -IR: (1/|H_set|)(1/|S|) sum u (u = ReLU(max_a [delta_s - A_H R]) at the optimum)
        self.problem = cp.Problem(cp.Minimize(cp.sum(u) / (len(H_set) * S)), constraints)

    def solve(self, s_active: Sequence[int]) -> tuple[np.ndarray, float]:
        """``(R (S, A), IR)`` for the active set ``s_active``; IR = -(the LP's optimal value) <= 0."""
        mask = np.zeros((self.mdp.n_states, self.mdp.n_actions))
        mask[list(s_active)] = self.R_max
        self.bound.value = mask.reshape(-1)
        value = _solve(self.problem, self.solver)
        return _clean(self.R.value, mask.shape), -float(value)


def exprd(
    mdp: TabularMDP,
    R_max: float,
    B: int,
    goal: int,
    H_set: Sequence[int] = H_SET,
    candidates: Sequence[int] | None = None,
    solver: str = "CLARABEL",
) -> tuple[np.ndarray, float, list[int]]:
    """EXPRD with the greedy active-set search: ``(R (S, A), IR, S_active)``.

    Start from ``{goal}``; for ``B`` rounds add the candidate state (default: every state but the goal and the
    sink) whose inclusion gives the best (lowest) LP objective, i.e. the highest IR. As in the official
    ``fourroom_run.py`` (``n_nonzero_states = B + 1``), B counts the states *besides* the goal (the brief's
    "B - 1 rounds" would make B = 1 the goal alone). ``B`` must be in [1, |S|].
    """
    if not isinstance(B, int) or not 1 <= B <= mdp.n_states:
        raise ValueError(f"B must be an integer in [1, {mdp.n_states}], got {B!r}")
    problem = ExprdProblem(mdp, R_max, H_set, solver=solver)
    if candidates is None:
        candidates = [s for s in range(mdp.n_states) if s not in (mdp.sink, goal)]
    active = [goal]
    R, ir = problem.solve(active)
    for _ in range(min(B, len(candidates))):
        trials = {s: problem.solve([*active, s]) for s in candidates if s not in active}
        best = max(trials, key=lambda s: trials[s][1])  # highest IR = lowest objective (first on ties)
        active.append(best)
        R, ir = trials[best]
    return R, ir, active


def invariance(mdp: TabularMDP, R_max: float, solver: str = "CLARABEL") -> np.ndarray:
    """The invariance-only design (AAMAS code ``Invariance``): any R with pi* optimal by margins delta_s and
    |R| <= R_max (constant objective: the point the solver returns). delta_s is the action gap, undivided."""
    import cvxpy as cp

    check_positive("R_max", R_max)
    pi_star, optimal, delta = action_gaps(mdp)
    A, b = global_constraint(mdp, pi_star, optimal, delta)
    R = cp.Variable(A.shape[0])
    _solve(cp.Problem(cp.Minimize(0), [A @ R >= b, cp.abs(R) <= R_max]), solver)
    return _clean(R.value, mdp.R.shape)


class AdaptiveDesigner:
    """The adaptive learner-aware teacher (``Ada_TL``): :meth:`design` re-solves its LP for a learner policy.

    The LP is compiled once with the learner-dependent weights as parameters (pi_T, Adv and mu^{pi_T} are fixed).
    """

    def __init__(self, mdp: TabularMDP, R_max: float, teacher_epsilon: float = 0.4, solver: str = "CLARABEL") -> None:
        import cvxpy as cp

        check_positive("R_max", R_max)
        check_range("teacher_epsilon", teacher_epsilon, 0.0, 1.0)
        self.mdp, self.solver = mdp, solver
        self.pi_star, optimal, delta = action_gaps(mdp)
        A_glob, b = global_constraint(mdp, self.pi_star, optimal, delta)
        Q = mdp.q_values(self.pi_star)
        self.adv = Q - Q[np.arange(mdp.n_states), self.pi_star][:, None]  # Q - V (the code's sign)
        pi_T = np.eye(mdp.n_actions)[self.pi_star]
        self.mu_T = mdp.occupancy((1 - teacher_epsilon) * pi_T + teacher_epsilon / mdp.n_actions)
        S, A = mdp.R.shape
        self.R = cp.Variable(S * A)
        # the objective is linear in R: c . R with c = (I - I_piL)^T (w * centred Adv), one parameter
        self.c = cp.Parameter(S * A)
        objective = cp.Maximize(self.c @ self.R)
        self.problem = cp.Problem(objective, [A_glob @ self.R >= b, cp.abs(self.R) <= R_max])

    def design(self, pi_L: np.ndarray) -> np.ndarray:
        """The designed reward (S, A) for the learner's stochastic policy ``pi_L`` (S, A)."""
        pi_L = np.asarray(pi_L, dtype=np.float64)
        if pi_L.shape != self.mdp.R.shape:
            raise ValueError(f"pi_L must have shape {self.mdp.R.shape}, got {pi_L.shape}")
        mu_L = self.mdp.occupancy(pi_L)
        w = self.mu_T[:, None] * mu_L[:, None] * pi_L**2
        centred_adv = self.adv - (pi_L * self.adv).sum(axis=1, keepdims=True)
        centre = np.eye(pi_L.size) - self.mdp.i_pi(pi_L)  # R -> R(s,a) - sum_b pi_L(b|s) R(s,b)
        self.c.value = centre.T @ (w * centred_adv).reshape(-1)
        _solve(self.problem, self.solver)
        return _clean(self.R.value, pi_L.shape)


def pbrs(mdp: TabularMDP) -> np.ndarray:
    """Potential-based shaping with potential V*: ``R(s, a) = R-bar(s, a) + gamma sum_s' T(s'|s,a) V*(s') - V*(s)``."""
    Q, _ = mdp.value_iteration()
    V = Q.max(axis=1)
    return mdp.R + mdp.gamma * mdp.P @ V - V[:, None]
