"""Tests of N-PG-IGT / (N-)HARPG: unbiased estimators, limiting cases, step norms, environments, bad input."""

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from paperzoo.npg_igt import tuning
from paperzoo.npg_igt.bench import BENCHMARK, CartPoleConfig, FullConfig, LQRConfig, SmokeConfig, Steps, Sweep
from paperzoo.npg_igt.envs import LQR, TabularMDP, cartpole_step, draw, sample_cartpole
from paperzoo.npg_igt.estimators import gpomdp, hessian_vector
from paperzoo.npg_igt.experiment import CARTPOLE_ARMS, LQR_ARMS, cartpole_arm, grid, lqr_arm, tabular_check
from paperzoo.npg_igt.optim import HARPG, NHARPG, NPGIGT, eta_schedule, gamma_schedule
from paperzoo.npg_igt.policies import LinearGaussianPolicy, MLPSoftmaxPolicy, SoftmaxPolicy

MDP = TabularMDP(4, 3, 6, 0.9, seed=5)


def exact_closure(theta, calls=None):
    """A deterministic closure: writes the exact grad J (or grad^2 J u) of the tabular MDP into theta.grad."""

    def closure(direction=None):
        th = theta.detach().clone().requires_grad_(True)
        if calls is not None:
            calls.append(th.detach().clone())
        (g,) = torch.autograd.grad(MDP.exact_return(th).sum(), th, create_graph=direction is not None)
        if direction is not None:
            (g,) = torch.autograd.grad((g * direction[0]).sum(), th)
        theta.grad = g.detach()
        return MDP.exact_return(th.detach())

    return closure


def normalised_pg(theta0, gamma0, iterations):
    theta = theta0.clone()
    for t in range(iterations):
        th = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(MDP.exact_return(th).sum(), th)
        theta = theta + gamma_schedule(gamma0, t) * g / g.norm()
    return theta


def start():
    return torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_estimators_unbiased_against_exact_tabular():
    z = tabular_check(dataclasses.replace(SmokeConfig(), mc_trajectories=8000), seed=3)
    assert max(z.values()) < 4.0, z


def test_estimators_detect_a_bias():
    """The same z statistic flags a biased estimator: B^u without its score term g^ (S . u)."""
    n = 8000
    g = torch.Generator().manual_seed(0)
    theta, u = start(), torch.randn(1, 4, 3, generator=g, dtype=torch.float64)
    th = theta.clone().requires_grad_(True)
    (gj,) = torch.autograd.grad(MDP.exact_return(th).sum(), th, create_graph=True)
    (hvp,) = torch.autograd.grad((gj * u).sum(), th)
    policy = SoftmaxPolicy(n, 4, 3)
    with torch.no_grad():
        policy.theta.copy_(theta.expand(n, -1, -1))
    traj = MDP.sample(policy.theta.detach(), g)
    lp = policy.log_prob(traj.inputs, traj.actions)
    (gh,) = torch.autograd.grad(
        (lp.cumsum(-1) * 0.9 ** torch.arange(6) * traj.rewards).sum(), policy.theta, create_graph=True
    )
    (hessian_only,) = torch.autograd.grad((gh * u).sum(), policy.theta)
    z = ((hessian_only.mean(0) - hvp[0]) / (hessian_only.std(0) / n**0.5)).abs().max()
    assert z > 4.0


@pytest.mark.parametrize(
    "make",
    [
        lambda p: NPGIGT(p, 0.3, eta0=1.0, eta_power=0.0, batched=True),
        lambda p: NHARPG(p, 0.3, eta0=1.0, eta_power=0.0, batched=True),
    ],
)
def test_eta_one_is_normalised_pg(make):
    theta = start().requires_grad_(True)
    opt = make([theta])
    for _ in range(6):
        opt.step(exact_closure(theta))
    torch.testing.assert_close(theta.detach(), normalised_pg(start(), 0.3, 6), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [lambda p: NPGIGT(p, 0.4), lambda p: NHARPG(p, 0.4, seed=3)])
def test_step_norm_is_gamma_t_and_method_differs_from_npg(make):
    theta = start().requires_grad_(True)
    opt = make([theta])
    for t in range(8):
        before = theta.detach().clone()
        opt.step(exact_closure(theta))
        assert math.isclose(float((theta.detach() - before).norm()), gamma_schedule(0.4, t), rel_tol=1e-12)
    assert (theta.detach() - normalised_pg(start(), 0.4, 8)).abs().max() > 1e-6


@pytest.mark.parametrize("indexing", ["paper", "code"])
def test_igt_samples_at_the_extrapolated_point(indexing):
    theta = start().requires_grad_(True)
    opt = NPGIGT([theta], 0.4, indexing=indexing)
    calls, iterates = [], [theta.detach().clone()]
    for _ in range(4):
        opt.step(exact_closure(theta, calls))
        iterates.append(theta.detach().clone())
    for t in range(1, 4):
        eta = eta_schedule(1.0, t - 1 if indexing == "code" else t, 0.8)
        expected = iterates[t] + (1 - eta) / eta * (iterates[t] - iterates[t - 1])
        torch.testing.assert_close(calls[t], expected, rtol=0, atol=1e-12)


def test_nharpg_samples_between_iterates_and_round_trips():
    theta = start().requires_grad_(True)
    opt = NHARPG([theta], 0.4, seed=7)
    for _ in range(3):
        opt.step(exact_closure(theta))
    state = opt.state_dict()
    clone = start().requires_grad_(True)
    with torch.no_grad():
        clone.copy_(theta)
    other = NHARPG([clone], 0.4, seed=99)
    other.load_state_dict(state)
    opt.step(exact_closure(theta))
    other.step(exact_closure(clone))
    torch.testing.assert_close(clone.detach(), theta.detach(), rtol=0, atol=0)


def test_hvp_matches_finite_differences_with_common_random_numbers():
    """B^u - g^ (S . u) is grad(g^ . u): finite differences of g^ along u on the same trajectory (LQR)."""
    env = LQR(3, 2, 20, 0.9, seed=0)
    policy = LinearGaussianPolicy(2, 3, 2, sigma=0.5, learn_sigma=True, sigma_min=0.1)
    with torch.no_grad():
        policy.gain.copy_(0.1 * torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0)))
    traj = env.sample(policy.gain.detach(), policy.sigma().detach(), torch.Generator().manual_seed(1))
    params = [policy.gain, policy.log_std]
    u = [torch.randn_like(p) for p in params]

    def ghat(shift):
        with torch.no_grad():
            for p, ui in zip(params, u, strict=True):
                p.add_(shift * ui)
        out = gpomdp(params, policy.log_prob(traj.inputs, traj.actions), traj.rewards, 0.9)
        with torch.no_grad():
            for p, ui in zip(params, u, strict=True):
                p.sub_(shift * ui)
        return out

    hv = hessian_vector(params, policy.log_prob(traj.inputs, traj.actions), traj.rewards, 0.9, u)
    g = ghat(0.0)
    s = torch.autograd.grad(policy.log_prob(traj.inputs, traj.actions).sum(), params)
    s_u = sum((a * b).flatten(1).sum(1) for a, b in zip(s, u, strict=True))
    eps = 1e-5
    for i, p in enumerate(params):
        fd = (ghat(eps)[i] - ghat(-eps)[i]) / (2 * eps)
        second = hv[i] - g[i] * s_u.reshape((-1,) + (1,) * (p.dim() - 1))
        torch.testing.assert_close(second, fd, rtol=1e-5, atol=1e-6)


def test_lqr_exact_return_matches_monte_carlo():
    env = LQR(3, 2, 30, 0.9, seed=2)
    n = 20000
    gain = 0.2 * torch.randn(1, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.full((1, 2), 0.3, dtype=torch.float64)
    traj = env.sample(gain.expand(n, -1, -1), sigma.expand(n, -1), torch.Generator().manual_seed(4))
    ret = (traj.rewards * 0.9 ** torch.arange(30)).sum(-1)
    assert abs(float(ret.mean() - env.exact_return(gain, sigma))) < 4 * float(ret.std()) / n**0.5


def test_cartpole_step_equals_gymnasium():
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    state = np.array(env.state, dtype=np.float64)[None]
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = int(rng.integers(2))
        obs, _, terminated, _, _ = env.step(action)
        state, done = cartpole_step(state, np.array([action]))
        np.testing.assert_array_equal(state[0].astype(np.float32), obs)
        assert bool(done[0]) == terminated
        if terminated:
            break


def test_cartpole_sampler_returns_and_policy_gradient_sign():
    """Rewards stop at termination; a policy pushing the way the pole falls earns more than its mirror."""
    theta = np.zeros((2, 5, 2))
    theta[0, 2, 1] = theta[0, 3, 1] = 10.0  # push right when the pole leans/rotates right
    theta[1, 2, 0] = theta[1, 3, 0] = 10.0
    traj = sample_cartpole(theta, [np.random.default_rng(0), np.random.default_rng(1)])
    returns = traj.rewards.sum(-1)
    assert returns[0] > 100 and returns[1] < 30
    assert torch.equal(traj.rewards.bool(), traj.alive)


def test_policies_log_prob_normalised():
    mlp = MLPSoftmaxPolicy(2, 3, 4, 2, seed=0)
    states = torch.randn(2, 5, 3, dtype=torch.float64)
    total = sum(mlp.log_prob(states, torch.full((2, 5), a)).exp() for a in range(2))
    torch.testing.assert_close(total, torch.ones(2, 5, dtype=torch.float64))


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda p: NPGIGT(p, 0.0), "gamma0"),
        (lambda p: NPGIGT(p, 0.1, eta0=1.5), "eta0"),
        (lambda p: NPGIGT(p, 0.1, eta0=0.0), "eta0"),
        (lambda p: NPGIGT(p, 0.1, indexing="garage"), "indexing"),
        (lambda p: NHARPG(p, -1.0), "gamma0"),
        (lambda p: HARPG(p, 0.0, 0.5), "lr"),
        (lambda p: TabularMDP(3, 2, 5, 1.5, seed=0), "discount"),
        (lambda p: TabularMDP(3, 2, 0, 0.9, seed=0), "horizon"),
        (lambda p: LQR(3, 2, 5, 0.0, seed=0), "discount"),
        (lambda p: LinearGaussianPolicy(1, 3, 2, 0.5, learn_sigma=True, sigma_min=0.0), "sigma_min"),
        (lambda p: LQRConfig(horizon=0), "horizon"),
        (lambda p: Steps(indexing="x"), "indexing"),
    ],
)
def test_bad_input_raises(build, name):
    with pytest.raises(ValueError, match=name):
        build([torch.zeros(2, requires_grad=True)])


def test_full_scale_runner_is_deterministic_on_a_tiny_config():
    config = FullConfig(
        lqr=LQRConfig(trajectories=40, checkpoints=5),
        cartpole=CartPoleConfig(episodes=30, random_episodes=4),
        seeds=(0, 1),
    )
    run = BENCHMARK.run["full"]
    first = run(config, 0).metrics
    np.testing.assert_equal(first, first)
    from paperzoo.npg_igt import experiment

    experiment.lqr_curves.cache_clear()
    experiment.cartpole_runs.cache_clear()
    np.testing.assert_equal(run(config, 0).metrics, first)
    assert run(config, 1).metrics != first


def test_lqr_scan_sampler_equals_the_sequential_recursion():
    """The prefix-scan rollout gives s_{h+1} = (A + B K) s_h + B eps_h + w_h step by step (same draws)."""
    env = LQR(3, 2, 37, 0.9, seed=1)
    gain = 0.4 * torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.full((4, 2), 0.3, dtype=torch.float64)
    traj = env.sample(gain, sigma, torch.Generator().manual_seed(2))
    z = draw(torch.Generator().manual_seed(2), 4, (3 + 37 * 5,), normal=True)
    eps = z[:, 3 : 3 + 74].reshape(4, 37, 2) * sigma[:, None]
    w = z[:, 3 + 74 :].reshape(4, 37, 3) * env.noise
    s, states = z[:, :3], []
    for h in range(37):
        states.append(s)
        a = torch.einsum("rad,rd->ra", gain, s) + eps[:, h]
        s = s @ env.A.T + a @ env.B.T + w[:, h]
    torch.testing.assert_close(traj.inputs, torch.stack(states, 1), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(traj.actions, torch.einsum("rad,rhd->rha", gain, traj.inputs) + eps)


def test_hvp_on_row_blocks_equals_one_parameter():
    """B^u with the rows split into parameter blocks (one per step size of a sweep) equals B^u on one parameter."""
    env = LQR(3, 2, 20, 0.9, seed=0)
    policy = LinearGaussianPolicy(6, 3, 2, sigma=0.5)
    gain = 0.1 * torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    traj = env.sample(gain, policy.sigma().detach(), torch.Generator().manual_seed(1))
    u = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    whole = gain.clone().requires_grad_(True)
    (expected,) = hessian_vector([whole], policy.log_prob(traj.inputs, traj.actions, whole), traj.rewards, 0.9, [u])
    blocks = [b.clone().requires_grad_(True) for b in gain.split([2, 4])]
    lp = policy.log_prob(traj.inputs, traj.actions, torch.cat(blocks))
    got = hessian_vector(blocks, lp, traj.rewards, 0.9, list(u.split([2, 4])))
    torch.testing.assert_close(torch.cat(got), expected, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="rows"):
        lp = policy.log_prob(traj.inputs, traj.actions, torch.cat(blocks))
        hessian_vector(blocks[:1], lp, traj.rewards, 0.9, [u[:2]])


@pytest.mark.parametrize("arm", ["npg_igt", "nharpg", "harpg", "pg10"])
def test_sweep_rows_equal_separate_runs(arm):
    """Running several step sizes as row blocks of one batch gives each the run it would have alone."""
    config = LQRConfig(trajectories=24, checkpoints=4)
    values = (0.05, 0.2) if arm in ("npg_igt", "nharpg") else (1e-8, 1e-7)
    together = lqr_arm(config, arm, values, (3, 4))
    for i, v in enumerate(values):
        torch.testing.assert_close(together[i], lqr_arm(config, arm, (v,), (3, 4))[0], rtol=1e-9, atol=1e-9)
    assert not torch.allclose(together[0], together[1])


def test_cartpole_sweep_rows_equal_separate_runs():
    config = CartPoleConfig(episodes=12, random_episodes=2)
    together = cartpole_arm(config, "nharpg", (0.1, 1.0), (5,))
    torch.testing.assert_close(together[1], cartpole_arm(config, "nharpg", (1.0,), (5,))[0])


def test_sweep_record_validation_and_interior():
    assert Sweep(0.2, (0.1, 0.2, 0.4), (3.0, 1.0, math.inf)).interior  # a diverged neighbour bounds it
    assert not Sweep(0.1, (0.1, 0.2, 0.4), (1.0, 2.0, 3.0)).interior
    assert not Sweep(0.1).interior
    with pytest.raises(ValueError, match="best point"):
        Sweep(0.4, (0.1, 0.2, 0.4), (3.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="lengths"):
        Sweep(0.1, (0.1, 0.2), (1.0,))


def test_sweep_widens_until_the_optimum_is_interior(monkeypatch):
    """A loss whose minimum lies beyond the grid's top edge: the sweep widens upwards until the best point is
    interior; one beyond reach of the widening stays at the edge (and is then not interior)."""

    def fake(target):
        return lambda experiment, config, arm, values, seeds: [abs(math.log(v / target)) for v in values]

    lowest = tuning.LOWEST["lqr"]["npg"]
    top = grid(lowest)[-1]
    monkeypatch.setattr(tuning, "losses", fake(top * 4))
    s = tuning.sweep("lqr", None, "npg", lowest, (0,))
    assert s.interior and math.isclose(s.value, top * 4, rel_tol=1e-5) and len(s.grid) == tuning.POINTS + 3
    monkeypatch.setattr(tuning, "losses", fake(lowest / 1000))
    s = tuning.sweep("lqr", None, "npg", lowest, (0,))
    assert not s.interior and s.value == min(s.grid) and len(s.grid) == tuning.POINTS + tuning.MAX_WIDEN


def test_full_scale_step_sizes_are_tuned_with_interior_optima():
    """The committed full config uses swept step sizes, each interior to its grid."""
    config = FullConfig()
    for arm in LQR_ARMS:
        assert getattr(config.lqr.steps, arm).interior, arm
    for arm in CARTPOLE_ARMS:
        assert getattr(config.cartpole.steps, arm).interior, arm


def test_sweep_reads_a_recorded_null_loss_as_diverged():
    """Records store inf as null: a Sweep rebuilt from one equals the declared one."""
    from paperzoo.npg_igt.bench import Sweep

    declared = Sweep(2.0, (1.0, 2.0, 4.0), (3.0, 1.0, math.inf))
    assert Sweep(2.0, (1.0, 2.0, 4.0), (3.0, 1.0, None)) == declared
    with pytest.raises(ValueError, match="value"):
        Sweep(4.0, (1.0, 2.0, 4.0), (3.0, 1.0, None))
