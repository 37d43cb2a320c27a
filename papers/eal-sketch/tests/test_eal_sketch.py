"""Tests of AdaSketch-Newton: sketch steps, the merit gradient, the Newton step, Hessian modification,
adaptation, published optima, the baselines, bad input and determinism."""

import dataclasses
import importlib.util
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import NonlinearConstraint, minimize

from paperzoo.eal_sketch import AdaSketchNewton, CutestProblem, Problem, hs_problem
from paperzoo.eal_sketch.baselines import L1SQPGMRES, AugmentedLagrangian
from paperzoo.eal_sketch.bench import BENCHMARK, Config, claims
from paperzoo.eal_sketch.experiment import kkt_at_flops, run
from paperzoo.eal_sketch.problems import HS_PROBLEMS, logistic_name, logistic_problem, pde_problem
from paperzoo.eal_sketch.sketch import SketchSolver, rk_per_step
from paperzoo.eal_sketch.solver import DELTA_FLOOR, merit_gradient, modified_hessian

warnings.filterwarnings("ignore", category=FutureWarning)


def _kkt_matrix(seed: int, n: int = 6, m: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    G = rng.standard_normal((m, n))
    K = np.block([[A + A.T + n * np.eye(n), G.T], [G, np.zeros((m, m))]])
    return K, rng.standard_normal(n + m)


@pytest.mark.parametrize("kind", ["rk", "gv"])
def test_every_sketch_step_is_non_expansive_towards_the_solution(kind):
    K, b = _kkt_matrix(0)
    z_star = np.linalg.solve(K, b)
    errors = []
    for t in range(0, 3000, 61):  # the prefix of the same sketch sequence, cut inside and across blocks
        z, r, steps, _ = SketchSolver(K, kind, np.random.default_rng(1), block=16).run(np.zeros_like(b), b, 0.0, t)
        assert steps == t and np.allclose(r, K @ z - b)
        errors.append(np.linalg.norm(z - z_star))
    assert all(e1 <= e0 + 1e-12 for e0, e1 in itertools.pairwise(errors))
    assert errors[-1] < 0.5 * errors[0]


def test_blocked_rk_matches_the_per_step_form_in_distribution_of_accuracy():
    K, b = _kkt_matrix(2)
    tol = 1e-8 * np.linalg.norm(b)
    z_block, r, steps, _ = SketchSolver(K, "rk", np.random.default_rng(3)).run(np.zeros_like(b), b, tol, 10**6)
    z_step, steps_ref = rk_per_step(K, b, np.zeros_like(b), tol, 10**6, np.random.default_rng(3))
    assert np.linalg.norm(K @ z_block - b) <= tol * (1 + 1e-6) and np.linalg.norm(r) <= tol * (1 + 1e-6)
    assert np.allclose(z_block, z_step, atol=1e-6)
    assert 0.5 < steps / steps_ref < 2.0


@pytest.mark.parametrize("kind", ["rk", "gv"])
def test_sketch_stops_at_the_first_step_that_meets_the_tolerance(kind):
    K, b = _kkt_matrix(6)
    tol = 5e-2 * np.linalg.norm(b)

    def solver(seed):  # block 4 < n+m = 9: RK screens each block before forming its per-step residuals
        return SketchSolver(K, kind, np.random.default_rng(seed), block=4)

    for seed in range(4):
        _, _, steps, _ = solver(seed).run(np.zeros_like(b), b, tol, 10**6)
        # the exact residual after each of the last 12 steps (prefixes of the same sketch sequence)
        residuals = [
            np.linalg.norm(solver(seed).run(np.zeros_like(b), b, 0.0, t)[1]) for t in range(steps - 12, steps + 1)
        ]
        assert 12 < steps and residuals[-1] <= tol * (1 + 1e-9) and min(residuals[:-1]) > tol, seed


def test_code_form_takes_the_first_step_with_the_wrong_sign():
    K, b = _kkt_matrix(4)
    first = SketchSolver(K, "rk", np.random.default_rng(5)).run(np.zeros_like(b), b, 0.0, 1)[0]
    flipped = SketchSolver(K, "rk", np.random.default_rng(5)).run(np.zeros_like(b), b, 0.0, 1, flip_first=True)[0]
    assert np.allclose(flipped, -first) and np.linalg.norm(first) > 0


def _merit_torch(problem, x, lam, eta1, eta2):
    fx = problem.f(x)
    cx = problem.c(x)
    grad_f = torch.autograd.grad(fx, x, create_graph=True)[0]
    jac = torch.autograd.functional.jacobian(problem.c, x, create_graph=True)
    grad_l = grad_f + jac.T @ lam
    return fx + lam @ cx + 0.5 * eta1 * cx @ cx + 0.5 * eta2 * grad_l @ grad_l


@pytest.mark.parametrize("name", ["HS40", "HS78", "BT2"])
def test_merit_gradient_equals_autograd(name):
    problem = hs_problem(name)
    rng = np.random.default_rng(0)
    x, lam = problem.x0 + 0.1 * rng.standard_normal(problem.n), rng.standard_normal(problem.m)
    xt, lt = torch.tensor(x, requires_grad=True), torch.tensor(lam, requires_grad=True)
    auto = torch.autograd.grad(_merit_torch(problem, xt, lt, 1.7, 0.3), (xt, lt))
    expected = np.concatenate([a.numpy() for a in auto])
    hess_f, hess_l = problem.hessians(x, lam)
    ours = merit_gradient(problem.first_order(x), lam, hess_l, 1.7, 0.3)
    np.testing.assert_allclose(ours, expected, rtol=1e-8, atol=1e-8)
    code = merit_gradient(problem.first_order(x), lam, hess_f, 1.7, 0.3)  # the official code's ∇²f form
    assert not np.allclose(code, expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["HS28", "HS48", "HS51", "BT3"])
def test_exact_solve_takes_one_unit_step_on_a_convex_qp(name):
    out = AdaSketchNewton(solver="exact").solve(hs_problem(name))
    assert out.converged and out.alpha == [1.0] and out.kkt[-1] < 1e-9


@pytest.mark.parametrize("name", ["HS28", "HS51", "HS48", "HS7"])
def test_exact_direction_passes_the_descent_test_at_default_eta(name):
    problem = hs_problem(name)
    x, lam = problem.x0, problem.lam0
    p = problem.first_order(x)
    _, hess_l = problem.hessians(x, lam)
    B, _ = modified_hessian(hess_l, p.jac, 0.1, problem.tau)
    K = np.block([[B, p.jac.T], [p.jac, np.zeros((problem.m, problem.m))]])
    b = -np.concatenate([p.grad + p.jac.T @ lam, p.c])
    z = np.linalg.solve(K, b)
    assert merit_gradient(p, lam, hess_l, 1.0, 0.1) @ z <= -0.05 * b @ b


def test_hessian_modification_makes_the_reduced_hessian_positive_definite():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, m = 7, 3
        A = rng.standard_normal((n, n))
        H, G = A + A.T - 3 * np.eye(n), rng.standard_normal((m, n))
        B, modified = modified_hessian(H, G, 0.1, 1e-6)
        Z = np.linalg.qr(G.T, mode="complete")[0][:, m:]
        assert np.linalg.eigvalsh(Z.T @ B @ Z)[0] > 0
        assert modified == (np.linalg.eigvalsh(Z.T @ H @ Z)[0] < 1e-6)


def test_hs_solutions_match_published_optima():
    for name in HS_PROBLEMS:
        problem = hs_problem(name)
        out = AdaSketchNewton(solver="exact", tol=1e-9).solve(problem)
        if out.status == "singular":  # HS61 starts where G has rank 1
            assert name == "HS61"
            continue
        assert out.converged, name
        f = problem.values(out.x)[0]
        assert abs(f - problem.f_star) <= 1e-6 * max(1.0, abs(problem.f_star)), (name, f, problem.f_star)


@pytest.mark.parametrize("name", ["HS7", "HS40", "HS77"])
def test_trust_constr_agrees(name):
    problem = hs_problem(name)
    ours = problem.values(AdaSketchNewton(solver="rk", tol=1e-8).solve(problem).x)[0]
    cons = NonlinearConstraint(lambda x: problem.values(x)[1], 0.0, 0.0)
    ref = minimize(lambda x: problem.values(x)[0], problem.x0, method="trust-constr", constraints=[cons], tol=1e-10)
    assert abs(ours - ref.fun) <= 1e-5 * max(1.0, abs(ref.fun))


def test_eta_adaptation_keeps_z_and_delta_floor_ends_the_inner_loop(monkeypatch):
    calls = []
    original = SketchSolver.run

    def spy(self, z, b, tol, cap, flip_first=False):
        out = original(self, z, b, tol, cap, flip_first)
        calls.append((id(self), z.copy(), out[0].copy(), tol, out[2]))
        return out

    monkeypatch.setattr(SketchSolver, "run", spy)
    out = AdaSketchNewton(solver="rk", seed=0).solve(hs_problem("BT1"))  # η adapts at the first iteration
    assert out.converged and out.eta1[0] > 1.0
    same = [(a, b) for a, b in itertools.pairwise(calls) if a[0] == b[0]]  # same K: η changed
    assert same
    for before, after in same:
        np.testing.assert_array_equal(after[1], before[2])  # continued from the current z, not reset
        assert after[3] <= before[3]  # the accuracy threshold only tightens
    assert min(out.delta) >= DELTA_FLOOR


def test_delta_floor_ends_the_inner_loop():
    out = AdaSketchNewton(solver="rk", seed=0).solve(hs_problem("HS28"))
    # δ_trial ≈ 1e-11 here: without the floor the threshold would sit below rounding; with it, RK stops early
    assert out.delta == [DELTA_FLOOR] and 0 < out.inner_steps[0] < 100_000 and out.converged


def test_a_step_below_rounding_stops_the_run_as_stalled(monkeypatch):
    # what GV met on HS27 (seed 2): η at its caps, Armijo accepting α = 2⁻⁵³ forever; we stop, the code loops
    monkeypatch.setattr(AdaSketchNewton, "_armijo", lambda self, *args: 2.0**-53)
    out = AdaSketchNewton(solver="exact").solve(hs_problem("HS28"))
    assert out.status == "stalled" and len(out.kkt) == 1 and not out.converged
    monkeypatch.setattr(AdaSketchNewton, "_armijo", lambda self, *args: 2.0**-20)  # small but real: keeps going
    assert AdaSketchNewton(solver="exact", max_iter=3).solve(hs_problem("HS28")).status == "max_iter"


def test_baselines_reach_the_optimum():
    for solver in (L1SQPGMRES(), AugmentedLagrangian()):
        problem = hs_problem("HS7")
        out = solver.solve(problem)
        assert out.converged and abs(problem.values(out.x)[0] + math.sqrt(3)) < 1e-3
        assert sum(out.flops) > 0


def test_same_seed_same_iterates_other_seed_other_steps():
    problem = hs_problem("HS40")
    a, b = (AdaSketchNewton(solver="gv", seed=7).solve(problem) for _ in range(2))
    c = AdaSketchNewton(solver="gv", seed=8).solve(problem)
    assert a.kkt == b.kkt and a.inner_steps == b.inner_steps and np.array_equal(a.x, b.x)
    assert a.inner_steps != c.inner_steps


def test_runner_records_every_arm_on_a_tiny_config():
    config = Config(hs=("HS28",), logistic=(), pde_sizes=(3,), hs_arms=("rk", "al"), pde_arms=("rk",), workers=1)
    metrics = run(config, 0).metrics
    assert metrics["rk/hs_success_rate"] == 1.0 and metrics["al/hs_success_rate"] == 1.0
    assert metrics["rk/pde3_converged"] == 1.0 and metrics["rk/pde3_log10_kkt"] <= -4


def test_kkt_at_flops_is_the_last_iterate_within_the_budget():
    kkt, flops = [10.0, 5.0, 1.0, 0.1], [0.0, 100.0, 250.0, 400.0]
    assert kkt_at_flops(kkt, flops, 99.0) == (10.0, 0)
    assert kkt_at_flops(kkt, flops, 250.0) == (1.0, 2)
    assert kkt_at_flops(kkt, flops, 1e9) == (0.1, 3)


def test_runner_compares_rk_and_l1sqp_at_equal_flops():
    config = Config(hs=(), logistic=(), pde_sizes=(3,), pde_arms=("rk", "l1sqp"), pde_max_iter=(("l1sqp", 40),))
    result = run(dataclasses.replace(config, workers=1), 0)
    m, s = result.metrics, result.series
    assert m["l1sqp/pde3_iterations"] == 40 and m["rk/pde3_converged"] == 1.0
    budget = min(s["rk/flops_pde3"][-1], s["l1sqp/flops_pde3"][-1])
    for arm in ("rk", "l1sqp"):
        k = int(m[f"{arm}/pde3_iterations_at_equal_flops"])
        assert s[f"{arm}/flops_pde3"][k] <= budget and math.isclose(
            m[f"{arm}/pde3_log10_kkt_at_equal_flops"], math.log10(s[f"{arm}/kkt_pde3"][k])
        )


def test_problem_library_shapes():
    assert pde_problem(3).n == 18 and pde_problem(3).m == 9
    logistic = logistic_problem("wine_binary")
    assert logistic.m == 11 and logistic.tau == 1e-2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"eta1": 0.0}, "eta1"),
        ({"eta2": -1.0}, "eta2"),
        ({"delta": 0.0}, "delta"),
        ({"beta": 0.5}, "beta"),
        ({"beta": 0.0}, "beta"),
        ({"nu": 1.0}, "nu"),
        ({"solver": "cg"}, "solver"),
    ],
)
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaSketchNewton(**kwargs)


def test_more_constraints_than_variables_raises():
    with pytest.raises(ValueError, match="c has m=3"):
        Problem(lambda x: x.sum(), lambda x: torch.stack([x[0], x[1], x[0] + x[1]]), [1.0, 2.0])


def test_bad_config_raises():
    with pytest.raises(ValueError, match="hs"):
        Config(hs=("HS999",), logistic=(), pde_sizes=())
    with pytest.raises(ValueError, match="arms"):
        Config(hs=(), logistic=(), pde_sizes=(), hs_arms=("newton",))
    with pytest.raises(ValueError, match="pde_max_iter"):
        Config(hs=(), logistic=(), pde_sizes=(), pde_max_iter=(("rk", 0),))
    assert Config(hs=(), logistic=(), pde_sizes=(), pde_max_iter=(("gv", 3),)).pde_iterations("gv") == 3
    with pytest.raises(ValueError, match="pde_max_n"):
        Config(hs=(), logistic=(), pde_sizes=(), pde_max_n=(("al", 0),))
    capped = Config(hs=(), logistic=(), pde_sizes=(8, 16), pde_arms=("rk", "al", "l1sqp"), pde_max_n=(("al", 8),))
    assert capped.pde_arms_at(8) == ("rk", "al", "l1sqp") and capped.pde_arms_at(16) == ("rk", "l1sqp")
    assert BENCHMARK.scales["full"].pde_sizes == (8, 16)


class _FakeCutest:
    """pycutest's interface (obj, cons, ihess, hess, x0, v0, bounds) over one of our torch problems."""

    def __init__(self, problem: Problem) -> None:
        self.p, self.n, self.m = problem, problem.n, problem.m
        self.x0, self.v0 = problem.x0, np.full(problem.m, 0.5)
        self.is_eq_cons = np.ones(problem.m, dtype=bool)
        self.bl, self.bu = np.full(problem.n, -1e20), np.full(problem.n, 1e20)

    def obj(self, x, gradient=False):
        point = self.p.first_order(x)
        return (point.f, point.grad) if gradient else point.f

    def cons(self, x, gradient=False):
        point = self.p.first_order(x)
        return (point.c, point.jac) if gradient else point.c

    def ihess(self, x):
        return self.p.hessians(x, np.zeros(self.m))[0]

    def hess(self, x, v):
        return self.p.hessians(x, v)[1]


def test_cutest_adapter_takes_cutest_derivatives_and_signs(monkeypatch):
    import sys
    import types

    if importlib.util.find_spec("pycutest") is None:
        with pytest.raises(ImportError, match="pycutest"):
            CutestProblem("HS28")
    fake = types.ModuleType("pycutest")
    fake.import_problem = lambda name, sifParams=None: _FakeCutest(hs_problem(name))
    monkeypatch.setitem(sys.modules, "pycutest", fake)
    ours, theirs = hs_problem("HS7"), CutestProblem("HS7")
    assert theirs.tau == 1e-6 and np.array_equal(theirs.lam0, np.full(1, 0.5))  # CUTEst's v0, not zeros
    x, lam = np.array([0.3, -1.2]), np.array([0.7])
    for got, want in zip(theirs.hessians(x, lam), ours.hessians(x, lam), strict=True):  # (∇²f, ∇²f + λ∇²c)
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert theirs.values(x)[0] == ours.values(x)[0] and np.array_equal(
        theirs.first_order(x).jac, ours.first_order(x).jac
    )
    a = AdaSketchNewton(solver="exact", tol=1e-10).solve(ours)
    b = AdaSketchNewton(solver="exact", tol=1e-10).solve(theirs)
    assert b.converged and abs(b.kkt[-1] - theirs.kkt(b.x, b.lam)) < 1e-12
    np.testing.assert_allclose(b.x, a.x, atol=1e-8)  # same optimum, found from CUTEst's derivatives
    bounded = _FakeCutest(hs_problem("HS28"))
    bounded.bl = np.zeros(3)
    fake.import_problem = lambda name, sifParams=None: bounded
    with pytest.raises(ValueError, match="bounds"):
        CutestProblem("HS28")


def test_libsvm_files_load_as_stored_with_pm1_labels(tmp_path):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    X, label = rng.standard_normal((40, 12)), rng.choice([1.0, 2.0], 40)  # mushrooms-style labels
    path = tmp_path / "toy_scale"
    dump_svmlight_file(X, label, str(path))
    problem = logistic_problem(f"libsvm:{path}")
    assert problem.n == 12 and problem.m == 11 and logistic_name(f"libsvm:{path}") == "toy_scale"
    # f(0) = log 2, and the gradient at 0 is -(1/N) Σ yᵢxᵢ with y = +1 for the larger label (features not rescaled)
    point = problem.first_order(np.zeros(12))
    y = np.where(label == 2.0, 1.0, -1.0)
    np.testing.assert_allclose(point.grad, -0.5 * (y[:, None] * X).mean(0), atol=1e-6)
    dump_svmlight_file(X, rng.integers(0, 3, 40), str(tmp_path / "three"))
    with pytest.raises(ValueError, match="binary"):
        logistic_problem(f"libsvm:{tmp_path / 'three'}")


def test_paper_config_lists_the_official_test_sets():
    paper = BENCHMARK.scales["paper"]
    assert len(paper.cutest) == 47 and paper.hs == () and len(paper.logistic) == 7
    solves = next(c for c in claims(paper) if c.text.startswith("AdaSketch-Newton-RK solves"))
    assert solves.guards[0].rhs == 47 / 2  # the singular-problem guard counts the CUTEst list
    with pytest.raises(ValueError, match="cutest"):
        Config(hs=(), logistic=(), pde_sizes=(), cutest=("NOPE",))
