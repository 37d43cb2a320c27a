"""Tests of reward-design: EXPRD's LP and its guarantees, A_H, the adaptive design, ExploRS's update by hand,
the learners' updates by hand, limiting cases, determinism, bad arguments."""

from dataclasses import replace

import numpy as np
import pytest

from paperzoo.reward_design import (
    SORS,
    AdaptiveDesigner,
    ExploRS,
    ExprdProblem,
    FixedReward,
    QLearning,
    Reinforce,
    TabularMDP,
    action_gaps,
    chain,
    exprd,
    invariance,
    pbrs,
    rooms,
    teach,
)
from paperzoo.reward_design.bench import BENCHMARK, FullConfig
from paperzoo.reward_design.design import DELTA_SCALE, H_SET, global_constraint
from paperzoo.reward_design.experiment import run_full


@pytest.fixture(scope="module")
def small_mdp() -> TabularMDP:
    """A 9-state chain with a distractor and slip (18 state-action pairs: fast LPs and matrix powers)."""
    return chain(n1=4, n2=3, subgoal=0.01, subgoal_position=2, slip=0.1)


def informativeness(mdp: TabularMDP, R: np.ndarray, H_set=H_SET) -> float:
    """IR(R) evaluated directly (numpy, loops over states): -(1/|H|)(1/|S|) sum ReLU(max_a [delta_s - A_H R])."""
    pi, optimal, gaps = action_gaps(mdp)
    delta = gaps / DELTA_SCALE
    _, A_H = mdp.advantage_operators(pi, H_set)
    total = 0.0
    for k in range(len(H_set)):
        adv = (A_H[k] @ R.reshape(-1)).reshape(R.shape)
        for s in range(mdp.n_states):
            gaps_s = [delta[s] - adv[s, a] for a in range(mdp.n_actions) if not optimal[s, a]]
            total += max(0.0, max(gaps_s)) if gaps_s else 0.0
    return -total / (len(H_set) * mdp.n_states)


def test_exprd_keeps_pi_star_optimal_with_margins_bounded_and_sparse(small_mdp):
    mdp, goal = small_mdp, small_mdp.n_states - 2
    problem = ExprdProblem(mdp, R_max=1.0)
    R, ir = problem.solve([goal, 3])
    pi, optimal, gaps = action_gaps(mdp)
    Q = mdp.q_values(pi, R)
    margins = Q[np.arange(mdp.n_states), pi][:, None] - Q
    assert np.all(margins[~optimal] >= np.broadcast_to(gaps[:, None], Q.shape)[~optimal] / DELTA_SCALE - 1e-6)
    assert np.abs(R).max() <= 1.0 + 1e-6
    assert np.all(R[[s for s in range(mdp.n_states) if s not in (goal, 3)]] == 0.0)
    # the LP's IR is IR(R) evaluated directly, and beats the true reward (feasible for S_active = {goal})
    assert ir == pytest.approx(informativeness(mdp, R), abs=1e-6)
    R_goal, ir_goal = problem.solve([goal])
    assert ir_goal >= informativeness(mdp, mdp.R) - 1e-7
    assert ir_goal == pytest.approx(informativeness(mdp, R_goal), abs=1e-6)


def test_greedy_active_set_picks_the_best_candidate(small_mdp):
    mdp, goal = small_mdp, small_mdp.n_states - 2
    _R, ir, active = exprd(mdp, 1.0, B=1, goal=goal)
    problem = ExprdProblem(mdp, 1.0)
    others = [problem.solve([goal, s])[1] for s in range(mdp.n_states - 1) if s != goal]
    assert active[0] == goal and len(active) == 2
    assert ir == pytest.approx(max(others), abs=1e-7)
    assert ir >= problem.solve([goal])[1] - 1e-9


def test_invariance_lp_feasible_at_true_reward(small_mdp):
    mdp = small_mdp
    pi, optimal, delta = action_gaps(mdp)
    A, b = global_constraint(mdp, pi, optimal, delta)
    assert (A @ mdp.R.reshape(-1) - b).min() >= -1e-9
    R = invariance(mdp, R_max=1.0)
    assert (A @ R.reshape(-1) - b).min() >= -1e-6


def test_advantage_operators_limits(small_mdp):
    mdp = small_mdp
    pi, _, _ = action_gaps(mdp)
    n = mdp.n_states * mdp.n_actions
    A_inf, A_H = mdp.advantage_operators(pi, (1, 4, 3000))
    np.testing.assert_allclose(A_H[-1], A_inf, atol=1e-10)
    D = mdp.i_pi(pi) - np.eye(n)
    np.testing.assert_allclose(A_H[0], D @ (np.eye(n) + mdp.gamma * mdp.p_pi(pi)), atol=1e-12)
    _, first = mdp.advantage_operators(pi, (1,), last="H-1")  # AAMAS: h = 0 only, (I_pi - I) R
    np.testing.assert_allclose(first[0], D, atol=0)
    # the advantage vector's sign: Q(s, pi(s)) - Q(s, a) >= 0 for the optimal pi
    assert (A_inf @ mdp.R.reshape(-1)).min() >= -1e-9


def test_adaptive_design_improves_its_objective_and_keeps_pi_star(small_mdp):
    mdp = small_mdp
    designer = AdaptiveDesigner(mdp, R_max=1.0)
    pi_L = np.random.default_rng(0).dirichlet(np.ones(2), size=mdp.n_states)
    R = designer.design(pi_L)
    assert designer.c.value @ R.reshape(-1) > designer.c.value @ mdp.R.reshape(-1) + 1e-6
    _, greedy = mdp.value_iteration(R)
    _, optimal, _ = action_gaps(mdp)
    assert optimal[np.arange(mdp.n_states), greedy].all()


def test_pbrs_keeps_the_optimal_policy(small_mdp):
    _, pi = small_mdp.value_iteration(pbrs(small_mdp))
    _, optimal, _ = action_gaps(small_mdp)
    assert optimal[np.arange(small_mdp.n_states), pi].all()


def test_explors_bonus_cap_and_decay():
    t = ExploRS(4, 2, 0.9, lam=1.0, B=0.5, sink=3)
    assert t.bonus(0) == pytest.approx(0.5)
    values = []
    for _ in range(5):
        t.reward(0, 0, 0.0, 1)
        values.append(t.bonus(0))
    assert all(a > b for a, b in zip([0.5, *values], values, strict=False))
    assert values[-1] == pytest.approx(1.0 / np.sqrt(4.0 + 5.0))
    assert t.bonus(3) == 0.0 and t.N[3] == 0.0


def test_explors_phi_update_by_hand():
    t = ExploRS(2, 2, gamma=0.5, lam=0.0, eta_phi=0.01, eta_c=0.01)
    episode = [(0, 1, 0.0, np.array([0.5, 0.5])), (1, 0, 1.0, np.array([0.25, 0.75]))]
    t.update([episode])
    # G = [0.5, 1.0]; weights pi(a|s) G = [0.25, 0.25]
    np.testing.assert_allclose(t.phi, 0.01 * np.array([[-0.125, 0.125], [0.1875, -0.1875]]), atol=1e-15)
    np.testing.assert_allclose(t.V, 0.01 * np.array([0.5, 1.0]) / 2, atol=1e-15)


def test_orig_is_explors_with_zero_lambda_and_eta_bit_for_bit():
    mdp = chain(n1=5, n2=5)
    curves, thetas = [], []
    for teacher in (ExploRS(mdp.n_states, 2, mdp.gamma, lam=0.0, eta_phi=0.0, sink=mdp.sink), FixedReward(mdp.R)):
        learner = Reinforce(mdp.n_states, 2, mdp.gamma, eta=0.1)
        curves.append(teach(mdp, learner, teacher, 60, 10, np.random.default_rng(3)))
        thetas.append(learner.theta)
    assert np.array_equal(curves[0], curves[1]) and np.array_equal(thetas[0], thetas[1])
    assert np.abs(thetas[0]).max() > 0


def test_explors_learns_and_sink_is_never_counted():
    mdp = chain(n1=3, n2=1, subgoal_position=0, horizon=12)
    teacher = ExploRS(mdp.n_states, 2, mdp.gamma, sink=mdp.sink)
    teach(mdp, Reinforce(mdp.n_states, 2, mdp.gamma), teacher, 100, 50, np.random.default_rng(0))
    assert teacher.N[mdp.sink] == 0 and teacher.N.sum() > 0
    assert np.abs(teacher.phi).sum() > 0
    assert mdp.occupancy(np.full((mdp.n_states, 2), 0.5))[mdp.sink] == 0.0


def test_sors_moves_phi_towards_the_better_episode():
    t = SORS(2, 2, gamma=0.5, eta_phi=0.1)
    good = [(0, 1, 1.0, None)]
    bad = [(0, 0, 0.0, None)]
    t.update([good, bad])
    # one pair, sigma(0) = 0.5: phi += 0.1 * 0.5 * (psi_good - psi_bad)
    np.testing.assert_allclose(t.phi, [[-0.05, 0.05], [0.0, 0.0]])


def test_reinforce_update_by_hand():
    learner = Reinforce(2, 2, gamma=0.5, eta=0.1)
    learner.update([[(0, 1, 1.0), (1, 0, 2.0)]])
    # G = [1 + 0.5 * 2, 2] = [2, 2]; grad[s, a] += G, grad[s, :] -= G pi(.|s) (pi uniform); / 2 steps
    np.testing.assert_allclose(learner.theta, 0.1 * np.array([[-1.0, 1.0], [1.0, -1.0]]) / 2)


def test_q_learning_step_by_hand():
    learner = QLearning(3, 2, gamma=0.9, alpha=0.5, epsilon=0.1)
    learner.Q[1] = [0.0, 2.0]
    learner.learn(0, 1, 1.0, 1)
    assert learner.Q[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 2.0))
    assert list(learner.policy) == [1, 1, 0]


def test_value_iteration_matches_policy_evaluation(small_mdp):
    Q, pi = small_mdp.value_iteration()
    np.testing.assert_allclose(small_mdp.q_values(pi), Q, atol=1e-9)


def test_full_runner_on_a_small_stand_in():
    config = replace(
        FullConfig(), rooms_size=5, B_values=(1,), q_episodes=20, pg_episodes=20, K=10, chain_n1=3, chain_n2=3,
        chain_episodes=20, eval_every=10,
    )  # fmt: skip
    result = run_full(config, 0)
    for arm in ("q_orig", "q_pbrs", "q_exprd_b1", "pg_invariance", "pg_exprd", "pg_adaptive", "chain_explors"):
        assert 0.0 <= result.metrics[f"{arm}/auc"] <= 1.05
    assert result.metrics["pg_adaptive/reward_change"] > 0.0
    assert result.metrics == run_full(config, 0).metrics


def test_smoke_is_deterministic_and_passes():
    config = BENCHMARK.scales["smoke"]
    first = BENCHMARK.run["smoke"](config, 0).metrics
    assert first == BENCHMARK.run["smoke"](config, 0).metrics
    assert first["exprd/pi_star_kept"] == 1.0 and first["exprd/zero_outside_active"] == 1.0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: chain(gamma=1.0), "gamma"),
        (lambda: rooms(horizon=0), "horizon"),
        (lambda: TabularMDP(np.full((2, 1, 2), 0.4), np.zeros((2, 1)), 0.9, np.array([1.0, 0.0])), "P"),
        (lambda: ExprdProblem(chain(n1=2, n2=2), R_max=0.0), "R_max"),
        (lambda: exprd(chain(n1=2, n2=2), 1.0, B=0, goal=4), "B"),
        (lambda: exprd(chain(n1=2, n2=2), 1.0, B=7, goal=4), "B"),
        (lambda: chain(n1=2, n2=2).advantage_operators(np.zeros(6, dtype=int), (0, 4)), "H_set"),
        (lambda: FullConfig(K=0), "K"),
        (lambda: FullConfig(B_values=(0,)), "B"),
        (lambda: ExploRS(3, 2, 0.9, lam=-1.0), "lam"),
    ],
)
def test_bad_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()
