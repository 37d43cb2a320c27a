"""IWOCS (Incremental WOrst-Case Search), tabular form: a robust MDP solved as a sequence of static MDPs.

    T_0 = nominal model;  found = [T_0]
    for i = 0, 1, ...
        Q_i    = Q*_{T_i}                                 (value iteration on the static MDP T_i)
        Q^rob  = min_{j <= i} Q_j                         (:func:`robust_q`)
        π_i    = greedy(Q^rob)                            (:func:`greedy`)
        T_{i+1} = argmin_{T ∈ 𝒯} V^{π_i}_T(s0)           (the uncertainty set's ``worst_case``)
        stop if V^{π_i}_{T_{i+1}}(s0) >= max_a Q^rob(s0, a) - tol    (:func:`should_stop`)
        found.append(T_{i+1})

Why it works for sa-rectangular sets: the robust value is max_π min_T V^π_T = min_T max_π V^π_T = min_T V*_T
(static-dynamic equivalence for stationary policies, no duality gap), so max_a Q^rob(s0, a) over any found
subset upper-bounds the robust value, while V^{π_i}_{T_{i+1}}(s0) is π_i's true worst case, a lower bound: when
they meet (within tol), π_i is tol-optimal. The three rules (robust estimate, policy, stop) are the brief's
reading of the paper's Algorithm 1, each kept in one function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paperzoo.iwocs.tabular import (
    SEARCHES,
    Array,
    IntArray,
    ParametricSet,
    SARectangularSet,
    check_discount,
    check_mdp,
    value_iteration,
)
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int


def robust_q(qs: list[Array]) -> Array:
    """Q^rob(s, a) = min_j Q_j(s, a) over the optimal Q-functions of the models found so far."""
    return np.min(np.stack(qs), axis=0)


def greedy(q: Array) -> IntArray:
    """π(s) = argmax_a q(s, a) (first maximiser on ties)."""
    return np.asarray(q).argmax(-1)


def should_stop(worst_value: float, q_rob: Array, s0: int, tol: float) -> bool:
    """Stop when the policy's worst case reaches the found set's robust estimate: V^π_{T_{i+1}}(s0) >=
    max_a Q^rob(s0, a) - tol (no model in 𝒯 is worse for π than the found ones already say)."""
    return worst_value >= float(q_rob[s0].max()) - tol


@dataclass
class IWOCSResult:
    """What :func:`iwocs` returns.

    policy: an action per state; value: its worst case V^π_{T_worst}(s0); models: the found models (P arrays,
    the nominal first); iterations: static problems solved (= len(models)); bounds: per iteration the pair
    (V^{π_i}_{T_{i+1}}(s0), max_a Q^rob_i(s0, a)), a lower and an upper estimate of the robust value.
    """

    policy: IntArray
    value: float
    models: list[Array]
    iterations: int
    q: Array
    bounds: list[tuple[float, float]] = field(default_factory=list)
    converged: bool = False


def iwocs(
    uset: SARectangularSet | ParametricSet,
    P_nominal: Array,
    R: Array,
    gamma: float,
    s0: int,
    search: str = "exact",
    tol: float = 1e-9,
    max_iterations: int = 100,
    **search_options: Any,
) -> IWOCSResult:
    """Robust policy of ``uset`` by incremental worst-case search (module docstring).

    ``search``: "exact" (an :class:`SARectangularSet`: the adversary's policy iteration), "grid" or "cmaes" (a
    :class:`ParametricSet`; ``search_options`` go to its ``worst_case``: points, evaluations, seed).
    """
    check_one_of("search", search, SEARCHES)
    check_discount(gamma)
    check_non_negative("tol", tol)
    check_positive_int("max_iterations", max_iterations)
    check_mdp(P_nominal, R)
    if (search == "exact") != isinstance(uset, SARectangularSet):
        raise ValueError(f"search={search!r} does not fit a {type(uset).__name__} (exact: SARectangularSet only)")
    if not 0 <= s0 < np.shape(R)[0]:
        raise ValueError(f"s0 must be a state index in [0, {np.shape(R)[0]}), got {s0}")

    def worst(policy: IntArray) -> tuple[Array, float]:
        if isinstance(uset, SARectangularSet):
            return uset.worst_case(policy, R, gamma, s0)
        omega, value = uset.worst_case(policy, R, gamma, s0, search=search, **search_options)
        return uset.build(omega[None])[0], value

    models, qs, bounds = [np.asarray(P_nominal, dtype=np.float64)], [], []
    while True:
        qs.append(value_iteration(models[-1], R, gamma))
        q_rob = robust_q(qs)
        policy = greedy(q_rob)
        model, value = worst(policy)
        bounds.append((value, float(q_rob[s0].max())))
        done = should_stop(value, q_rob, s0, tol)
        if done or len(models) >= max_iterations:
            return IWOCSResult(policy, value, models, len(models), q_rob, bounds, converged=done)
        models.append(model)
