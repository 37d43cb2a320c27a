"""The speed figures of reward-design (``make perf-reward-design``), one run, ratios measured in one process.

- ``exprd_build_solve/speedup_over_loops``: one EXPRD LP (four rooms, S_active = {goal}) built from matrix
  constraints and solved, against the same LP built entry by entry in Python loops as the official
  ``reward_design_model_based`` does (one scalar constraint per entry, ``cp.max(cp.hstack(...))`` per state and
  H), both solved with CLARABEL;
- ``advantage_operators/speedup_over_per_H``: A_H for all of H_set from one running product, against one
  product loop per H (the official ``get_A_local_h`` called per H);
- ``greedy_resolve/speedup_over_rebuild``: one greedy round's candidate solves through the compiled parametrised
  problem, against rebuilding the (matrix) problem per candidate.
"""

from __future__ import annotations

import time

import numpy as np

from paperzoo.reward_design.design import H_SET, ExprdProblem
from paperzoo.reward_design.envs import rooms
from paperzoo.reward_design.mdp import TabularMDP


def _loop_lp(problem: ExprdProblem, active: list[int], H_set: tuple[int, ...]) -> float:
    """The EXPRD LP written entry by entry (the official construction), solved with the same solver."""
    import cvxpy as cp

    mdp = problem.mdp
    S, A = mdp.n_states, mdp.n_actions
    n = S * A
    pi, delta = problem.pi_star, problem.delta
    I_pi, P_pi = mdp.i_pi(pi), mdp.p_pi(pi)
    A_glob = (I_pi - np.eye(n)) @ np.linalg.inv(np.eye(n) - mdp.gamma * P_pi)
    R = cp.Variable(n)
    Ax = A_glob @ R
    constraints = []
    for i in range(n):
        s, a = divmod(i, A)
        constraints.append(Ax[i] >= (0.0 if problem.optimal[s, a] else delta[s]))
    terms = []
    for H in H_set:
        acc, term = np.eye(n), np.eye(n)
        for _ in range(H):
            term = mdp.gamma * (term @ P_pi)
            acc = acc + term
        AHx = ((I_pi - np.eye(n)) @ acc) @ R
        for s in range(S):
            gaps = [delta[s] - AHx[s * A + a] for a in range(A) if not problem.optimal[s, a]]
            if gaps:
                terms.append(cp.max(cp.hstack(gaps)))
    for i in range(n):
        constraints += [R[i] >= -problem.R_max, R[i] <= problem.R_max]
        if i // A not in active:
            constraints.append(R[i] == 0)
    objective = cp.Minimize(cp.sum(cp.pos(cp.hstack(terms))) / (len(H_set) * S))
    prob = cp.Problem(objective, constraints)
    prob.solve(solver=problem.solver)
    return float(prob.value)


def _time(fn, repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def perf(device: str) -> dict[str, float]:
    """Speed ratios (one run each; the loop LP's value is checked equal to the matrix LP's)."""
    mdp: TabularMDP = rooms()
    goal = mdp.n_states - 2
    ExprdProblem(mdp, 1.0).solve([goal])  # warm cvxpy's imports and caches

    def matrix() -> float:
        return ExprdProblem(mdp, 1.0).solve([goal])[1]

    t_matrix = _time(matrix)
    problem = ExprdProblem(mdp, 1.0)
    ir = problem.solve([goal])[1]
    loop_value = []
    t_loop = _time(lambda: loop_value.append(_loop_lp(problem, [goal], H_SET)))
    if not np.isclose(-loop_value[0], ir, atol=1e-6):
        raise RuntimeError(f"the loop LP ({-loop_value[0]}) and the matrix LP ({ir}) disagree")

    pi = problem.pi_star
    t_once = _time(lambda: mdp.advantage_operators(pi, H_SET), repeats=5)
    t_per_h = _time(lambda: [mdp.advantage_operators(pi, (h,)) for h in H_SET], repeats=5)

    candidates = [s for s in range(mdp.n_states - 1) if s != goal][:10]
    t_param = _time(lambda: [problem.solve([goal, s]) for s in candidates])
    t_rebuild = _time(lambda: [ExprdProblem(mdp, 1.0).solve([goal, s]) for s in candidates])
    return {
        "exprd_build_solve/matrix_s": t_matrix,
        "exprd_build_solve/loops_s": t_loop,
        "exprd_build_solve/speedup_over_loops": t_loop / t_matrix,
        "advantage_operators/speedup_over_per_H": t_per_h / t_once,
        "greedy_resolve/speedup_over_rebuild": t_rebuild / t_param,
    }
