"""Tabular MDPs: the windy-walk grid, exact solvers and the uncertainty sets IWOCS searches.

Conventions: P has shape (..., S, A, S) (P[s, a, s'] = T(s' | s, a)), R has shape (S, A) (expected reward of
taking a in s), a deterministic policy is an int array (S,) of actions, γ ∈ [0, 1).

- value iteration: Q(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) max_a' Q(s', a'), iterated to a fixed point;
- policy evaluation (exact): V^π = (I - γ P_π)^{-1} R_π, batched over leading model axes;
- sa-rectangular interval set U = ×_{s,a} {p ∈ Δ(S) : P_lo(s, a) <= p <= P_hi(s, a)}; its inner problem
  min_{p ∈ U_{s,a}} p·V has the closed form "start at P_lo, pour the remaining mass 1 - Σ P_lo into the
  successors in increasing order of V, each up to its P_hi"; robust value iteration
  V(s) = max_a [R(s, a) + γ min_{p ∈ U_{s,a}} p·V];
- parametric sets {T_ω : ω ∈ [low, high]} (not rectangular in general), searched by a grid or CMA-ES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Grid actions: up, down, left, right as (row, column) offsets.
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])
SEARCHES = ("exact", "grid", "cmaes")


def check_discount(gamma: float) -> float:
    """``ValueError`` unless 0 <= gamma < 1."""
    return check_range("gamma", gamma, 0.0, 1.0, high_inclusive=False)


def check_mdp(P: Array, R: Array) -> None:
    """``ValueError`` unless P is (..., S, A, S) of probabilities summing to one and R is (S, A)."""
    P, R = np.asarray(P), np.asarray(R)
    if P.ndim < 3 or P.shape[-1] != P.shape[-3] or R.shape != P.shape[-3:-1]:
        raise ValueError(f"P must be (..., S, A, S) and R (S, A), got P {P.shape} and R {R.shape}")
    if np.any(P < -1e-12) or np.any(P > 1 + 1e-12) or not np.allclose(P.sum(-1), 1.0, atol=1e-9):
        raise ValueError("P must hold probabilities in [0, 1] summing to one over the next state")


# ----------------------------------------------------------------------------------------------- solvers
def bellman_q(P: Array, R: Array, gamma: float, V: Array) -> Array:
    """Q(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) V(s'), batched over leading axes of P and V."""
    return R + gamma * np.einsum("...ijk,...k->...ij", P, V)


def value_iteration(P: Array, R: Array, gamma: float, tol: float = 1e-6, max_iterations: int = 100_000) -> Array:
    """Q* of the model P (batched over leading axes of P): value iteration Q ← R + γ P max_a Q until
    ‖ΔQ‖_∞ <= tol, then policy iteration from its greedy policy (evaluate exactly, improve) until the greedy
    policy is stable, which makes Q* exact (to the linear solve) whatever ``tol``."""
    check_discount(gamma)
    Q = np.zeros(np.shape(P)[:-1])
    for _ in range(max_iterations):
        new = bellman_q(P, R, gamma, Q.max(-1))
        done = np.max(np.abs(new - Q)) <= tol
        Q = new
        if done:
            break
    policy = Q.argmax(-1)
    while True:
        Q = bellman_q(P, R, gamma, policy_evaluation(P, R, gamma, policy))
        improved = Q.max(-1) > np.take_along_axis(Q, policy[..., None], -1)[..., 0] + 1e-12
        if not improved.any():
            return Q
        policy = np.where(improved, Q.argmax(-1), policy)


def policy_evaluation(P: Array, R: Array, gamma: float, policy: IntArray) -> Array:
    """V^π = (I - γ P_π)^{-1} R_π, exactly (a linear solve); leading axes of P and policy (S,) broadcast."""
    check_discount(gamma)
    P, policy = np.asarray(P, dtype=np.float64), np.asarray(policy)
    S = P.shape[-1]
    batch = np.broadcast_shapes(P.shape[:-3], policy.shape[:-1])
    P, policy = np.broadcast_to(P, batch + P.shape[-3:]), np.broadcast_to(policy, (*batch, S))
    P_pi = np.take_along_axis(P, policy[..., None, None], axis=-2)[..., 0, :]
    R_pi = np.take_along_axis(np.broadcast_to(R, P.shape[:-1]), policy[..., None], axis=-1)[..., 0]
    return np.linalg.solve(np.eye(S) - gamma * P_pi, R_pi[..., None])[..., 0]


# ----------------------------------------------------------------------------------------- uncertainty sets
class SARectangularSet:
    """U = ×_{s,a} {p ∈ Δ(S) : P_lo[s, a] <= p <= P_hi[s, a]} (an interval, hence sa-rectangular, set)."""

    def __init__(self, P_lo: Array, P_hi: Array) -> None:
        lo, hi = np.asarray(P_lo, dtype=np.float64), np.asarray(P_hi, dtype=np.float64)
        if lo.shape != hi.shape or lo.ndim != 3 or lo.shape[0] != lo.shape[2]:
            raise ValueError(f"P_lo and P_hi must both be (S, A, S), got {lo.shape} and {hi.shape}")
        for name, bound in (("P_lo", lo), ("P_hi", hi)):
            if np.any(bound < 0) or np.any(bound > 1):
                raise ValueError(f"{name} must hold probabilities in [0, 1]")
        if np.any(lo > hi):
            raise ValueError("P_lo must be <= P_hi elementwise (lower bound above upper bound)")
        if np.any(lo.sum(-1) > 1 + 1e-9) or np.any(hi.sum(-1) < 1 - 1e-9):
            raise ValueError("P_lo, P_hi: need sum(P_lo) <= 1 <= sum(P_hi) for every (s, a) (else the set is empty)")
        self.P_lo, self.P_hi = lo, hi

    def inner_min(self, V: Array) -> tuple[Array, Array]:
        """min_{p ∈ U_{s,a}} p·V for every (s, a), and the minimising p (S, A, S), in closed form.

        p = P_lo, then the free mass 1 - Σ P_lo goes to successors in increasing order of V, each taking up to
        P_hi - P_lo: with successors sorted, successor k takes clip(free - Σ_{j<k} width_j, 0, width_k).
        """
        order = np.argsort(V, kind="stable")
        width = (self.P_hi - self.P_lo)[..., order]
        free = 1.0 - self.P_lo.sum(-1, keepdims=True)
        before = np.cumsum(width, axis=-1) - width
        p = self.P_lo.copy()
        p[..., order] += np.clip(free - before, 0.0, width)
        return p @ V, p

    def worst_case(self, policy: IntArray, R: Array, gamma: float, s0: int) -> tuple[Array, float]:
        """(T, V^π_T(s0)) with T = argmin_{T ∈ U} V^π_T: the adversary's policy iteration (exact, finite).

        Evaluate π under T exactly, replace T(·|s, a) by the inner minimiser for that V wherever it is strictly
        lower, repeat until no (s, a) improves. For a stationary π the worst dynamic adversary is this static T
        (static-dynamic equivalence), so V^π_T is also π's dynamic-model robust value.
        """
        check_discount(gamma)
        T = self.inner_min(np.zeros(self.P_lo.shape[0]))[1]
        while True:
            V = policy_evaluation(T, R, gamma, policy)
            value, new = self.inner_min(V)
            improves = value < T @ V - 1e-12
            if not improves.any():
                return T, float(V[s0])
            T = np.where(improves[..., None], new, T)


def robust_value_iteration(
    uset: SARectangularSet, R: Array, gamma: float, tol: float = 1e-6, max_iterations: int = 100_000
) -> tuple[Array, IntArray]:
    """(V, π) of V(s) = max_a [R(s, a) + γ min_{p ∈ U_{s,a}} p·V] (Iyengar 2005; Nilim & El Ghaoui 2005).

    Robust value iteration until ‖ΔV‖_∞ <= tol, then robust policy iteration from its greedy policy (exact worst
    case of π by ``uset.worst_case``, improve greedily on R + γ min_p p·V^π) until π is stable: V is exact.
    """
    check_discount(gamma)
    V = np.zeros(uset.P_lo.shape[0])
    for _ in range(max_iterations):
        new = (R + gamma * uset.inner_min(V)[0]).max(-1)
        done = np.max(np.abs(new - V)) <= tol
        V = new
        if done:
            break
    policy = (R + gamma * uset.inner_min(V)[0]).argmax(-1)
    while True:
        T = uset.worst_case(policy, R, gamma, 0)[0]
        V = policy_evaluation(T, R, gamma, policy)
        Q = R + gamma * uset.inner_min(V)[0]
        improved = Q.max(-1) > Q[np.arange(len(V)), policy] + 1e-12
        if not improved.any():
            return V, policy
        policy = np.where(improved, Q.argmax(-1), policy)


@dataclass(frozen=True)
class ParametricSet:
    """{T_ω : ω ∈ [low, high]} for a model builder ``build(ω (n, k)) -> P (n, S, A, S)`` (non-rectangular)."""

    build: Callable[[Array], Array]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.low, dtype=np.float64), np.asarray(self.high, dtype=np.float64)
        if lo.shape != hi.shape or lo.ndim != 1 or lo.size == 0:
            raise ValueError(f"low and high must be equal-length 1-d, got {lo.shape} and {hi.shape}")
        if np.any(lo > hi):
            raise ValueError(f"low must be <= high elementwise (lower bound above upper bound), got {lo} > {hi}")

    def grid(self, points: int) -> Array:
        """The full-factorial grid with ``points`` values per dimension (one where low == high), (n, k)."""
        check_positive_int("points", points)
        axes = [np.linspace(a, b, points if b > a else 1) for a, b in zip(self.low, self.high, strict=True)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))

    def values(self, policy: IntArray, R: Array, gamma: float, s0: int, omegas: Array) -> Array:
        """V^π_{T_ω}(s0) for each row of ``omegas`` (one batched solve)."""
        return policy_evaluation(self.build(np.atleast_2d(omegas)), R, gamma, policy)[:, s0]

    def worst_case(
        self,
        policy: IntArray,
        R: Array,
        gamma: float,
        s0: int,
        search: str = "grid",
        points: int = 51,
        evaluations: int = 200,
        seed: int = 0,
    ) -> tuple[Array, float]:
        """(ω*, V^π_{T_ω*}(s0)) with ω* ≈ argmin_ω V^π_{T_ω}(s0), by an exhaustive grid or CMA-ES (``cma``).

        CMA-ES searches the box rescaled to [0, 1]^k (k >= 2: ``cma`` has no 1-d search) from its centre with
        σ0 = 0.3 and ``evaluations`` fitness calls; the grid's corners are evaluated too (box optima sit there).
        """
        check_one_of("search", search, ("grid", "cmaes"))
        if search == "grid":
            omegas = self.grid(points)
        else:
            omegas = self._cmaes(policy, R, gamma, s0, evaluations, seed)
        values = self.values(policy, R, gamma, s0, omegas)
        best = int(np.argmin(values))
        return omegas[best], float(values[best])

    def _cmaes(self, policy: IntArray, R: Array, gamma: float, s0: int, evaluations: int, seed: int) -> Array:
        import cma

        lo, hi = np.asarray(self.low), np.asarray(self.high)
        if lo.size < 2:
            raise ValueError("search='cmaes' needs a parameter box of dimension >= 2 (use search='grid')")
        check_positive_int("evaluations", evaluations)
        options = {"bounds": [0.0, 1.0], "maxfevals": evaluations, "seed": seed + 1, "verbose": -9}
        es = cma.CMAEvolutionStrategy(np.full(lo.size, 0.5), 0.3, options)
        seen = [self.grid(2)]
        while not es.stop():
            x = np.clip(np.asarray(es.ask()), 0.0, 1.0)
            omegas = lo + x * (hi - lo)
            es.tell(list(x), list(self.values(policy, R, gamma, s0, omegas)))
            seen.append(omegas)
        return np.concatenate(seen)


# ------------------------------------------------------------------------------------------- windy walk
@dataclass(frozen=True)
class WindyWalk:
    """The windy walk: a rows x cols grid, start S bottom-left, goal G bottom-right, a cliff between them.

    Moves (up, down, left, right) succeed with probability 1 - |w(s)|; with probability |w(s)| the wind pushes
    the agent one cell down (towards the cliff) if w(s) > 0, or one cell up if w(s) < 0, instead; walls block.
    G pays +1 and the cliff -1, on the step taken from them, which leads to an absorbing sink (one extra state,
    reward 0): R(s, a) = r(s) does not depend on the model. A global wind w (one number, for all cells) or a
    per-cell wind w(s) (rows * cols numbers), each in [-1, 1] (the sign is the wind's direction).
    """

    rows: int = 5
    cols: int = 5

    def __post_init__(self) -> None:
        check_positive_int("rows", self.rows)
        check_positive_int("cols", self.cols)
        if self.rows < 2 or self.cols < 3:
            raise ValueError(f"rows must be >= 2 and cols >= 3, got {self.rows} x {self.cols}")

    @property
    def cells(self) -> int:
        """Grid cells (the sink is state ``cells``)."""
        return self.rows * self.cols

    @property
    def n_states(self) -> int:
        return self.cells + 1

    @property
    def start(self) -> int:
        return (self.rows - 1) * self.cols

    @property
    def goal(self) -> int:
        return self.cells - 1

    @property
    def cliff(self) -> IntArray:
        return np.arange(self.start + 1, self.goal)

    @property
    def terminal(self) -> IntArray:
        """G, the cliff cells and the sink: states whose transitions no wind changes."""
        return np.r_[self.goal, self.cliff, self.cells]

    def rewards(self) -> Array:
        """R (S, A): +1 in G, -1 in the cliff, 0 elsewhere."""
        R = np.zeros((self.n_states, len(MOVES)))
        R[self.goal], R[self.cliff] = 1.0, -1.0
        return R

    def transitions(self, wind: Array | float) -> Array:
        """P (..., S, A, S) for a wind w ∈ [-1, 1] (w > 0 pushes down with probability w, w < 0 up with
        probability -w): a scalar (global), (cells,) (per cell), or either batched in front."""
        wind = np.asarray(wind, dtype=np.float64)
        if np.any(np.abs(wind) > 1) or np.any(np.isnan(wind)):
            raise ValueError("wind must be in [-1, 1] (its magnitude is a probability, its sign the direction)")
        per_cell = wind.ndim >= 1 and wind.shape[-1] == self.cells
        w = (wind if per_cell else wind[..., None] * np.ones(self.cells))[..., None, None]
        r, c = np.divmod(np.arange(self.cells), self.cols)
        move = np.clip(r[:, None] + MOVES[:, 0], 0, self.rows - 1) * self.cols + np.clip(
            c[:, None] + MOVES[:, 1], 0, self.cols - 1
        )
        down = np.minimum(r + 1, self.rows - 1) * self.cols + c
        up = np.maximum(r - 1, 0) * self.cols + c
        eye = np.eye(self.n_states)
        P = np.zeros((*w.shape[:-3], self.n_states, len(MOVES), self.n_states))
        pushed = np.maximum(w, 0) * eye[down][:, None] + np.maximum(-w, 0) * eye[up][:, None]
        P[..., : self.cells, :, :] = (1 - np.abs(w)) * eye[move] + pushed
        P[..., self.terminal, :, :] = eye[self.cells]
        return P

    def interval_set(self, low: float, high: float) -> SARectangularSet:
        """The sa-rectangular hull of the winds in [low, high]: each T(·|s, a) independently within the
        elementwise bounds of {T_w(·|s, a) : w ∈ [low, high]} (the rectangularisation of the global-wind set).
        T_w is affine in w on each side of 0, so the bounds are attained at low, high and 0 (if inside)."""
        check_range("low", low, -1.0, 1.0)
        check_range("high", high, -1.0, 1.0)
        if low > high:
            raise ValueError(f"low must be <= high (lower bound above upper bound), got {low} > {high}")
        models = self.transitions(np.array([low, high, min(max(0.0, low), high)]))
        return SARectangularSet(models.min(0), models.max(0))

    def global_set(self, low: float, high: float) -> ParametricSet:
        """{T_w : w ∈ [low, high]}, one wind for every cell (not rectangular)."""
        return ParametricSet(lambda omega: self.transitions(omega[:, 0]), (low,), (high,))
