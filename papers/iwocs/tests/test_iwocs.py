"""Tests of IWOCS: the static-dynamic equivalence on sa-rectangular sets, brute force on a non-rectangular set,
limiting cases, the closed-form inner min against an LP, the Pendulum environments, determinism, bad input."""

import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from paperzoo.iwocs import (
    BatchedPendulum,
    ParametricPendulum,
    ParametricSet,
    SARectangularSet,
    WindyWalk,
    iwocs,
    pessimistic_actions,
    policy_evaluation,
    robust_value_iteration,
    value_iteration,
)
from paperzoo.iwocs.bench import PAPER, SMOKE
from paperzoo.iwocs.deep import DeepConfig, TD3Config, on_m2td3_set, train_iwocs
from paperzoo.iwocs.experiment import deep_arm
from paperzoo.iwocs.pendulum import box_grid
from paperzoo.iwocs.robust_mujoco import (
    DEFAULTS,
    ENV_IDS,
    M2TD3_SETS,
    PARAMETERS,
    ParametricMujoco,
    m2td3_set,
    mujoco_returns,
)

GAMMA = 0.95


def test_sa_rectangular_iwocs_equals_robust_value_iteration():
    walk = WindyWalk(5, 5)
    R, s0 = walk.rewards(), walk.start
    uset = walk.interval_set(0.0, 0.4)
    V, _ = robust_value_iteration(uset, R, GAMMA)
    result = iwocs(uset, walk.transitions(0.1), R, GAMMA, s0)
    assert result.converged and result.iterations <= 10
    assert abs(result.value - V[s0]) < 1e-6
    # the value is the policy's exact worst case, below the nominal optimum (robustness costs)
    assert result.value < value_iteration(walk.transitions(0.1), R, GAMMA).max(-1)[s0] - 0.1


def test_non_rectangular_brute_force_ordering_and_iwocs_reaches_static_optimum():
    walk = WindyWalk(2, 3)  # 6 cells + sink; 4 non-terminal cells
    R, s0, low, high = walk.rewards(), walk.start, -0.3, 0.3  # the wind's direction is uncertain too
    winds = np.linspace(low, high, 61)
    models = walk.transitions(winds)  # (61, S, A, S)
    free = [s for s in range(walk.n_states) if s not in walk.terminal]
    policies = np.zeros((4 ** len(free), walk.n_states), dtype=int)
    policies[:, free] = np.array(list(itertools.product(range(4), repeat=len(free))))
    values = policy_evaluation(models[None], R, GAMMA, policies[:, None])[..., s0]  # (policies, winds)
    static_robust = values.min(1).max()
    rectangular = robust_value_iteration(walk.interval_set(low, high), R, GAMMA)[0][s0]
    nominal = value_iteration(walk.transitions(0.1), R, GAMMA).max(-1)[s0]
    # a dynamic adversary (per-cell: down in one cell, up in the next) is strictly stronger than a static one
    assert rectangular < static_robust - 1e-3 and static_robust <= nominal + 1e-12
    assert 0 < static_robust < nominal - 1e-3  # robustness costs, and reaching the goal still pays
    result = iwocs(walk.global_set(low, high), walk.transitions(0.1), R, GAMMA, s0, search="grid", points=61)
    assert result.converged
    assert abs(policy_evaluation(models, R, GAMMA, result.policy)[:, s0].min() - static_robust) < 1e-9


def test_signed_wind_transitions_and_their_rectangular_hull():
    walk = WindyWalk(3, 3)
    P = walk.transitions(np.array([-0.3, 0.0, 0.2]))
    assert np.allclose(P.sum(-1), 1.0)
    centre, right = 4, 3  # cell (1, 1) moving right lands in 5 = (1, 2); the wind pushes to 7 = (2, 1) or 1 = (0, 1)
    assert P[0, centre, right, 5] == pytest.approx(0.7) and P[0, centre, right, 1] == pytest.approx(0.3)
    assert P[1, centre, right, 5] == 1.0
    assert P[2, centre, right, 5] == pytest.approx(0.8) and P[2, centre, right, 7] == pytest.approx(0.2)
    hull = walk.interval_set(-0.3, 0.2)
    models = walk.transitions(np.linspace(-0.3, 0.2, 51))
    assert np.all(models >= hull.P_lo - 1e-12) and np.all(models <= hull.P_hi + 1e-12)
    assert np.allclose(hull.P_hi[centre, right], [0, 0.3, 0, 0, 0, 1, 0, 0.2, 0, 0])
    assert np.allclose(hull.P_lo[centre, right], [0, 0, 0, 0, 0, 0.7, 0, 0, 0, 0])


def test_singleton_sets_stop_after_one_iteration_at_value_iteration():
    walk = WindyWalk(4, 4)
    R, s0, P = walk.rewards(), walk.start, walk.transitions(0.2)
    optimum = value_iteration(P, R, GAMMA).max(-1)[s0]
    for uset, search in ((SARectangularSet(P, P), "exact"), (walk.global_set(0.2, 0.2), "grid")):
        result = iwocs(uset, P, R, GAMMA, s0, search=search)
        assert result.iterations == 1 and result.converged
        assert abs(result.value - optimum) < 1e-10


def test_inner_min_equals_linear_program():
    rng = np.random.default_rng(0)
    S = 6
    centre = rng.dirichlet(np.ones(S), size=(S, 2))
    radius = rng.uniform(0.0, 0.3, (S, 2, S))
    uset = SARectangularSet(np.clip(centre - radius, 0, 1), np.clip(centre + radius, 0, 1))
    V = rng.normal(size=S)
    value, p = uset.inner_min(V)
    for s, a in itertools.product(range(S), range(2)):
        lp = linprog(
            V, A_eq=np.ones((1, S)), b_eq=[1.0], bounds=list(zip(uset.P_lo[s, a], uset.P_hi[s, a], strict=True))
        )
        assert abs(lp.fun - value[s, a]) < 1e-9
    assert np.allclose(p.sum(-1), 1) and np.all(p >= uset.P_lo - 1e-12) and np.all(p <= uset.P_hi + 1e-12)


def test_worst_case_searches_find_the_minimum():
    walk = WindyWalk(4, 5)
    R, s0 = walk.rewards(), walk.start
    policy = value_iteration(walk.transitions(0.05), R, GAMMA).argmax(-1)
    # sa-rectangular: the exact worst case is below every model of a random sample from the set
    uset = walk.interval_set(0.0, 0.5)
    _, worst = uset.worst_case(policy, R, GAMMA, s0)
    sample = walk.transitions(np.random.default_rng(1).uniform(0.0, 0.5, (200, walk.cells)))
    assert worst <= policy_evaluation(sample, R, GAMMA, policy)[:, s0].min() + 1e-12
    # two wind zones (left and right half): CMA-ES matches the exhaustive grid
    half = np.arange(walk.cells) % walk.cols < walk.cols // 2
    zones = ParametricSet(lambda w: walk.transitions(np.where(half, w[:, :1], w[:, 1:])), (0.0, 0.0), (0.5, 0.5))
    _, grid = zones.worst_case(policy, R, GAMMA, s0, search="grid", points=21)
    _, cmaes = zones.worst_case(policy, R, GAMMA, s0, search="cmaes", evaluations=150)
    assert cmaes <= grid + 1e-6


def test_pendulum_wrapper_changes_dynamics_and_batched_env_equals_pendulum():
    actions = np.random.default_rng(0).uniform(-2, 2, (50, 1)).astype(np.float32)

    def rollout(env):
        env.reset(seed=3)
        return np.array([env.step(a)[0] for a in actions])

    base = rollout(ParametricPendulum((1.0, 1.0)))
    assert not np.allclose(base, rollout(ParametricPendulum((2.0, 1.5))))
    ms, ls = np.array([1.0, 2.0, 0.5]), np.array([1.0, 1.5, 0.7])
    batched = BatchedPendulum(ms, ls)
    batched.reset(seed=0)
    start = batched.state.copy()
    out = [batched.step(np.repeat(a[None], 3, 0)) for a in actions]
    for i in range(3):
        env = gym.make("Pendulum-v1").unwrapped
        env.reset(seed=0)
        env.m, env.l, env.state = ms[i], ls[i], start[i].copy()
        for a, (obs, reward, *_) in zip(actions, out, strict=True):
            o, r, *_ = env.step(a)
            assert np.allclose(o, obs[i], atol=1e-6) and abs(r - reward[i]) < 1e-5


def test_domain_randomisation_draws_parameters_per_episode():
    env = ParametricPendulum(sampler=lambda rng: (float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 1.5))))
    draws = {tuple(env.reset(seed=s)[1][k] for k in ("m", "l")) for s in range(5)}
    assert len(draws) == 5


def test_pessimistic_selection_acts_with_the_lowest_valued_pair():
    class Actor(torch.nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a = a

        def forward(self, obs):
            return torch.full((len(obs), 1), self.a)

    class Critic(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def q1_forward(self, obs, act):  # Q_j(s, a) = scale_j * s_0
            return self.scale * obs[:, :1]

    obs = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    actions, pick = pessimistic_actions(obs, [Actor(0.5), Actor(-0.5)], [Critic(1.0), Critic(2.0)])
    assert pick.tolist() == [0, 1]  # s_0 = 1: Q = (1, 2) -> pair 0; s_0 = -1: Q = (-1, -2) -> pair 1
    assert actions[:, 0].tolist() == [0.5, -0.5]


def test_same_seed_same_numbers():
    config = SMOKE.deep
    assert deep_arm(config, 0, "td3") == deep_arm(config, 0, "td3")
    assert deep_arm(config, 0, "td3")[0] != deep_arm(config, 1, "td3")[0]


def test_paper_scale_starts():
    small = dataclasses.replace(
        PAPER.deep,
        iterations=1,
        steps_per_iteration=60,
        search_points=2,
        search_episodes=1,
        reeval_episodes=1,
        td3=dataclasses.replace(PAPER.deep.td3, learning_starts=50, batch_size=16),
    )
    run = train_iwocs(small, 0)
    assert len(run.actors) == 1 and run.model.num_timesteps == 60


def test_bad_input_raises():
    walk = WindyWalk(3, 3)
    P = walk.transitions(0.1)
    with pytest.raises(ValueError, match="P_lo"):
        SARectangularSet(P + 0.1 * (P > 0), P)  # lower > upper
    with pytest.raises(ValueError, match="P_lo"):
        SARectangularSet(P - 0.5, P)  # outside [0, 1]
    with pytest.raises(ValueError, match="wind"):
        walk.transitions(1.5)
    with pytest.raises(ValueError, match="low"):
        walk.interval_set(0.4, 0.1)
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(P, walk.rewards(), 1.0)
    with pytest.raises(ValueError, match="search"):
        iwocs(walk.global_set(0.0, 0.2), P, walk.rewards(), GAMMA, walk.start, search="random")
    with pytest.raises(ValueError, match="m"):
        ParametricPendulum((0.0, 1.0))
    with pytest.raises(ValueError, match="l"):
        BatchedPendulum([1.0], [-1.0])
    with pytest.raises(ValueError, match="low"):
        DeepConfig(low=(2.0, 0.5), high=(1.0, 1.5))
    with pytest.raises(ValueError, match="gamma"):
        TD3Config(gamma=1.0)


def test_mujoco_wrapper_applies_the_parameters_and_defaults_match_the_models():
    for env_name, defaults in DEFAULTS.items():
        model = gym.make(ENV_IDS[env_name]).unwrapped.model
        for name, value in defaults.items():
            body = PARAMETERS[env_name][name]
            actual = model.geom_friction[0, 0] if body is None else model.body_mass[model.body(body).id]
            assert actual == pytest.approx(value, abs=1e-4)
    env = ParametricMujoco("HalfCheetah", ("worldfriction", "torsomass"), (0.1, 2.0))
    model = env.unwrapped.model
    assert np.all(model.geom_friction[:, 0] == 0.1) and model.body_mass[model.body("torso").id] == 2.0
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 6)).astype(np.float32)

    def rollout(env):
        env.reset(seed=3)
        return np.array([env.step(a[: env.action_space.shape[0]])[0] for a in actions])

    light, heavy = (ParametricMujoco("InvertedPendulum", ("polemass",), (m,)) for m in (1.0, 30.0))
    assert not np.allclose(rollout(light), rollout(heavy))  # same start, same pushes, different pole mass
    slippery, grippy = (ParametricMujoco("HalfCheetah", ("worldfriction",), (f,)) for f in (0.1, 4.0))
    assert not np.allclose(rollout(slippery), rollout(grippy))
    drawn = ParametricMujoco("Hopper", ("torsomass",), (1.0,), sampler=lambda rng: (float(rng.uniform(0.1, 3.0)),))
    assert len({drawn.reset(seed=s)[1]["torsomass"] for s in range(4)}) == 4


def test_mujoco_sets_evaluation_and_paper_scale_start():
    assert set(PAPER.mujoco) == set(M2TD3_SETS)
    for name in PAPER.mujoco:
        config = on_m2td3_set(PAPER.mujoco_deep, name)
        assert all(lo <= x <= hi for lo, x, hi in zip(config.low, config.nominal, config.high, strict=True))
    assert box_grid((0, 0, 0), (1, 2, 3), 3).shape == (27, 3)
    env, names, low, high, nominal = m2td3_set("InvertedPendulum-2")
    push = lambda obs: np.full((len(obs), 1), 0.5)  # noqa: E731
    omegas = np.array([low, high])
    assert nominal == pytest.approx((DEFAULTS[env]["polemass"], DEFAULTS[env]["cartmass"]))  # inside the box
    chunked = mujoco_returns(env, names, push, omegas, 3, 0, batch=2)
    assert np.array_equal(chunked, mujoco_returns(env, names, push, omegas, 3, 0))  # batching changes nothing
    assert chunked[0] != chunked[1]  # a light pole falls at another time than a heavy one
    small = dataclasses.replace(
        on_m2td3_set(PAPER.mujoco_deep, "InvertedPendulum-2"),
        iterations=1,
        steps_per_iteration=60,
        search_points=2,
        search_episodes=1,
        reeval_episodes=1,
        td3=TD3Config(net_arch=(16,), learning_starts=50, batch_size=16),
    )
    run = train_iwocs(small, 0)
    assert len(run.actors) == 1 and run.model.num_timesteps == 60 and len(run.omegas) == 1
    with pytest.raises(ValueError, match="env"):
        ParametricMujoco("Humanoid", ("torsomass",), (1.0,))
    with pytest.raises(ValueError, match="names"):
        ParametricMujoco("Hopper", ("polemass",), (1.0,))
    with pytest.raises(ValueError, match="torsomass"):
        ParametricMujoco("Hopper", ("torsomass",), (0.0,))
    with pytest.raises(ValueError, match="names"):
        DeepConfig(env="Hopper", names=("m", "l"))
    with pytest.raises(ValueError, match="mujoco"):
        dataclasses.replace(PAPER, mujoco=("Humanoid-3",))
