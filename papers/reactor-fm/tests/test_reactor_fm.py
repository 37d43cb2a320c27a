"""Tests of reactor-fm: simulators against a scalar loop and the steady state, task filters and scalers, the
physics residuals, Reptile's limiting cases, the model's initialisation, few-shot adaptation, bad arguments, and
the smoke / paper runners."""

import dataclasses

import numpy as np
import pytest
import torch

from paperzoo.reactor_fm import (
    ReactorRNN,
    batch_residual,
    build_model,
    cstr_residual,
    draw_shots,
    few_shot,
    inner_epoch,
    kinetics_for,
    parameters,
    pfr_residual,
    reptile,
    sample_task,
    simulate,
    simulate_cstr,
    simulate_pfr,
    simulate_scalar,
    task_residual,
    time_derivative,
    unseen_cstr_task,
)
from paperzoo.reactor_fm.bench import BENCHMARK, PAPER, SMOKE
from paperzoo.reactor_fm.experiment import ExperimentConfig, run
from paperzoo.reactor_fm.reactors import C_AS, OUTPUT_DT, T_S


@pytest.fixture(scope="module")
def unseen():
    return unseen_cstr_task(np.random.default_rng(3))


@pytest.fixture(scope="module")
def small_tasks():
    rng = np.random.default_rng(0)
    return [sample_task(r, rng, n_traj=96) for r in ("cstr", "batch", "pfr")]


# ------------------------------------------------------------------------------------------- simulators
@pytest.mark.parametrize("reactor", ["cstr", "batch", "pfr"])
@pytest.mark.parametrize("flag", [False, True])
def test_vectorised_simulators_equal_the_scalar_loop_bit_for_bit(reactor, flag):
    rng = np.random.default_rng(1)
    n = 12
    if reactor == "pfr":
        c0, t0, u = rng.uniform(0.5, 3, n), rng.uniform(300, 500, n), rng.uniform(100, 300, n)
        kw = {"official_rk": flag}
    else:
        c0, t0 = rng.uniform(0, 6, n), rng.uniform(300, 600, n)
        u = (rng.uniform(-3.5, 3.5, n), rng.uniform(-5e5, 5e5, n)) if reactor == "cstr" else rng.uniform(-5e5, 5e5, n)
        kw = {"meta_spacing": flag}
    params = {"k0": parameters(reactor)["k0"] * 0.97}
    vec = simulate(reactor, c0, t0, u, params, **kw)
    ref = simulate_scalar(reactor, c0, t0, u, params, **kw)
    for a, b in zip(vec, ref, strict=True):
        assert a.shape == (n, 10)
        assert np.array_equal(a, b, equal_nan=True)


def test_cstr_steady_state_and_recording_spacing():
    p = parameters("cstr")
    # The right-hand side at (C_As, T_s) with nominal inputs is small relative to its scale (F/V C ~ 10 kmol/m3/h).
    rate = p["k0"] * np.exp(-p["E"] / (8.314 * T_S)) * C_AS**2
    dc = p["F"] / p["V"] * (p["C_A0s"] - C_AS) - rate
    dt = p["F"] / p["V"] * (p["T0"] - T_S) - p["dH"] / (p["rho"] * p["Cp"]) * rate
    assert abs(dc) < 0.01 * p["F"] / p["V"] * C_AS and abs(dt) < 0.01 * p["F"] / p["V"] * T_S
    c, t = simulate_cstr(0.0, 0.0, 0.0, 0.0, deviation=True)
    assert np.abs(c).max() < 0.01 and np.abs(t).max() < 0.5
    # Default records after Euler steps 5, 10, ..., 50; meta_spacing after 1, 6, ..., 46.
    c0, t0, u1 = 1.0, 350.0, 1.0
    full_c, _ = simulate_cstr(c0, t0, u1, 0.0, steps=50, every=1)
    default_c, _ = simulate_cstr(c0, t0, u1, 0.0)
    meta_c, _ = simulate_cstr(c0, t0, u1, 0.0, meta_spacing=True)
    assert np.array_equal(default_c[0], full_c[0, 4::5])
    assert np.array_equal(meta_c[0], full_c[0, 0::5])


def test_official_rk_differs_from_rk4_which_converges_faster():
    c0, t0, u = np.array([2.0]), np.array([400.0]), np.array([200.0])
    fine = simulate_pfr(c0, t0, u, dt=0.0005, steps=200)[1][:, 19::20]
    rk4 = simulate_pfr(c0, t0, u)[1]
    official = simulate_pfr(c0, t0, u, official_rk=True)[1]
    assert not np.array_equal(rk4, official)
    assert np.abs(rk4 - fine).max() < np.abs(official - fine).max()


# ------------------------------------------------------------------------------------------- tasks and scalers
def test_tasks_pass_the_filters_and_the_scalers_round_trip(small_tasks):
    for task in small_tasks:
        assert task.x.shape == (96, 10, 4) and task.y.shape == (96, 10, 2)
        assert np.abs(task.y).max() <= 10.0
        assert np.allclose(task.x[:, 0], task.x[:, 5])  # the inputs repeat over time
        raw = task.destandardise_y(task.y)
        assert np.abs(raw).min() >= 1e-3 * 0.999 and np.abs(raw).max() <= 1e4
        back = task.scaler_y.transform(raw.reshape(-1, 2)).reshape(raw.shape)
        assert np.allclose(back, task.y, atol=1e-5)
    batch, pfr = small_tasks[1], small_tasks[2]
    assert np.allclose(batch.x[..., 2], batch.x[..., 3]) and np.allclose(pfr.x[..., 2], pfr.x[..., 3])


def test_unseen_task_is_the_official_stability_region_set(unseen):
    assert len(unseen) == 11800  # the notebook prints 11800 trajectories
    raw = unseen.destandardise_y(unseen.y)
    c, t = simulate_cstr(*unseen.destandardise_x(unseen.x)[:5, 0, [1, 0, 3, 2]].T, unseen.params, deviation=True)
    assert np.allclose(raw[:5, :, 0], t, atol=1e-3) and np.allclose(raw[:5, :, 1], c, atol=1e-5)
    assert abs(float(np.mean(unseen.y.astype(np.float64) ** 2)) - 1.0) < 1e-6  # mean predictor: MSE 1


# ------------------------------------------------------------------------------------------- physics residuals
def test_time_derivative_is_exact_on_a_line():
    y0, dt = np.array([1.0]), 0.5
    y = y0[:, None] + 3.0 * dt * np.arange(1, 11)[None]
    assert np.allclose(time_derivative(y, y0, dt), 3.0)


def test_cstr_residual_vanishes_on_true_trajectories_with_own_kinetics(unseen):
    x, y = unseen.x.astype(np.float64), unseen.y.astype(np.float64)
    own = task_residual(unseen, x, y, kinetics_for(unseen, "task"))
    shuffled = task_residual(unseen, x, y[:, np.random.default_rng(0).permutation(10)], kinetics_for(unseen, "task"))
    nominal = task_residual(unseen, x, y, kinetics_for(unseen, "nominal"))
    for i in range(2):
        rms = [float(np.sqrt(np.mean(r[i] ** 2))) for r in (own, shuffled, nominal)]
        assert rms[0] < 0.05 * rms[1], rms
        assert rms[0] < 0.2 * rms[2], rms  # the official nominal kinetics do not fit a perturbed reaction
    # Torch and numpy agree.
    rt = task_residual(unseen, torch.from_numpy(x[:50]), torch.from_numpy(y[:50]), kinetics_for(unseen, "task"))
    assert np.allclose(rt[0].numpy(), own[0][:50])


def test_batch_and_pfr_residuals_vanish_on_true_trajectories():
    rng = np.random.default_rng(2)
    perm = rng.permutation(10)
    c0, t0, u = rng.uniform(0.5, 3, 50), rng.uniform(300, 340, 50), rng.uniform(-5e4, 5e4, 50)
    p = parameters("batch")
    c, t = simulate("batch", c0, t0, u)
    true = batch_residual(c, t, c0, t0, u, p, p, OUTPUT_DT["batch"])
    bad = batch_residual(c[:, perm], t[:, perm], c0, t0, u, p, p, OUTPUT_DT["batch"])
    assert all(np.sqrt(np.mean(a**2)) < 0.05 * np.sqrt(np.mean(b**2)) for a, b in zip(true, bad, strict=True))
    c0, t0, u = rng.uniform(0.5, 3, 50), rng.uniform(300, 500, 50), rng.uniform(100, 300, 50)
    p = parameters("pfr")
    c, t = simulate("pfr", c0, t0, u)
    true = pfr_residual(c, t, c0, t0, u + p["T_cs"], p, p, OUTPUT_DT["pfr"])
    bad = pfr_residual(c[:, perm], t[:, perm], c0, t0, u + p["T_cs"], p, p, OUTPUT_DT["pfr"])
    assert all(np.sqrt(np.mean(a**2)) < 0.05 * np.sqrt(np.mean(b**2)) for a, b in zip(true, bad, strict=True))


def test_cstr_residual_sign_matches_the_ode():
    # A state whose concentration rises faster than the ODE says has a positive r_C.
    p = parameters("cstr")
    conc = np.full((1, 10), 2.0) + np.arange(1, 11) * 0.01
    temp = np.full((1, 10), 400.0)
    r_c, _ = cstr_residual(conc, temp, np.array([2.0]), np.array([400.0]), np.array([2.0]), np.array([0.0]), p, p, 5e-4)
    assert r_c[0, 3] > 0


# ------------------------------------------------------------------------------------------- model and Reptile
def test_model_initialised_like_keras():
    m = ReactorRNN()
    w = m.rnn.weight_hh_l0.detach()
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-5)
    assert all(float(b.detach().abs().max()) == 0 for n, b in m.named_parameters() if "bias" in n)
    bound = (6 / (4 + 64)) ** 0.5
    assert float(m.rnn.weight_ih_l0.detach().abs().max()) <= bound
    assert m(torch.zeros(3, 10, 4)).shape == (3, 10, 2)
    assert torch.equal(build_model(5).head.weight, build_model(5).head.weight)


def test_reptile_eps_one_is_plain_training_and_eps_zero_changes_nothing(small_tasks):
    task = small_tasks[0]
    plain = build_model(1)
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    inner_epoch(plain, task, opt, 32, torch.Generator().manual_seed(7))
    meta = build_model(1)
    reptile(meta, [task], 1, eps=1.0, seed=7)
    for a, b in zip(plain.parameters(), meta.parameters(), strict=True):
        assert torch.equal(a, b)
    still = build_model(1)
    history = reptile(still, small_tasks, 3, eps=0.0, seed=7)
    assert history.reactors == ["cstr", "batch", "pfr"] and history.eps == [0.0, 0.0, 0.0]
    for a, b in zip(still.parameters(), build_model(1).parameters(), strict=True):
        assert torch.equal(a, b)


def test_reptile_interpolates_and_anneals(small_tasks):
    task = small_tasks[2]
    before = build_model(2)
    inner = build_model(2)
    inner_epoch(inner, task, torch.optim.Adam(inner.parameters(), lr=1e-3), 32, torch.Generator().manual_seed(3))
    meta = build_model(2)
    history = reptile(meta, [task], 1, eps=0.3, seed=3)
    for b, w, m in zip(before.parameters(), inner.parameters(), meta.parameters(), strict=True):
        assert torch.allclose(m, b + 0.3 * (w - b), atol=1e-6)
    history = reptile(build_model(2), [task], 4, eps=0.2, seed=3)
    assert np.allclose(history.eps, [0.2, 0.15, 0.1, 0.05])


def test_reptile_shares_one_adam_across_tasks(small_tasks):
    model = build_model(4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    reptile(model, small_tasks, 3, eps=0.5, optimizer=opt, seed=0)
    steps = {int(s["step"]) for s in opt.state.values()}
    assert steps == {3 * 3}  # 96 trajectories / 32 per batch = 3 steps per task, moments carried across tasks


# ------------------------------------------------------------------------------------------- few-shot
def test_physics_loss_pulls_the_adapted_model_toward_the_ode(unseen):
    kw = {"epochs": 60, "seed": 0}
    pi = few_shot("pi", 2, unseen, **kw)
    data = few_shot("data", 2, unseen, **kw)
    assert pi.residual_c < 0.5 * data.residual_c
    assert pi.test_mse < data.test_mse
    # With zero physics weights, PI training is data training (up to the 1e3 scale Adam is almost blind to).
    flat = few_shot("pi", 2, unseen, weights=(1.0, 0.0, 0.0), **kw)
    assert flat.test_mse == pytest.approx(data.test_mse, rel=1e-3)


def test_shots_are_inside_the_test_set_and_deterministic(unseen):
    a = draw_shots(unseen, 5, np.random.default_rng(0))
    assert np.array_equal(a, draw_shots(unseen, 5, np.random.default_rng(0)))
    assert len(set(a.tolist())) == 5 and a.max() < len(unseen)


# ------------------------------------------------------------------------------------------- bad input
def test_bad_arguments_raise_value_error_naming_the_argument(unseen, small_tasks):
    with pytest.raises(ValueError, match="eps"):
        reptile(build_model(0), small_tasks, 1, eps=1.5)
    with pytest.raises(ValueError, match="eps"):
        reptile(build_model(0), small_tasks, 1, eps=-0.1)
    with pytest.raises(ValueError, match="iterations"):
        reptile(build_model(0), small_tasks, 0)
    with pytest.raises(ValueError, match="k must"):
        draw_shots(unseen, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="k must"):
        few_shot("data", len(unseen) + 1, unseen)
    with pytest.raises(ValueError, match="method"):
        few_shot("maml", 1, unseen)
    with pytest.raises(ValueError, match="reactor"):
        simulate("tubular", 1.0, 300.0, 0.0)
    with pytest.raises(ValueError, match="reactor"):
        sample_task("tubular", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        few_shot("pi", 1, unseen, weights=(1.0, -1.0, 0.0))
    with pytest.raises(ValueError, match="epochs"):
        few_shot("pi", 1, unseen, epochs=0)
    with pytest.raises(ValueError, match="steps"):
        simulate_cstr(1.0, 300.0, 0.0, 0.0, steps=-1)
    with pytest.raises(ValueError, match="overrides"):
        parameters("cstr", {"volume": 2.0})
    with pytest.raises(ValueError, match="claim_shots"):
        ExperimentConfig(shots=(1, 5), claim_shots=(10,))
    with pytest.raises(ValueError, match="weights"):
        ExperimentConfig(weights=(1.0, -1.0, 0.0))


# ------------------------------------------------------------------------------------------- runners
def test_paper_scale_starts_on_a_tiny_stand_in():
    assert PAPER.iterations == 1500 and PAPER.n_traj is None and PAPER.epochs == 500 and PAPER.shots[-1] == 50
    tiny = dataclasses.replace(PAPER, iterations=3, n_traj=64, n_unseen=1, shots=(1,), claim_shots=(1,), epochs=2)
    result = run(dataclasses.replace(tiny, device="cpu"), 0)
    assert np.isfinite(result.metrics["pi_reptile/test_mse_k1"])
    assert len(result.series["reptile/inner_loss"]) == 3


def test_runner_is_deterministic_and_the_smoke_claims_hold():
    # The smoke pipeline on a smaller budget (the smoke claims read only the sanity metrics it computes).
    tiny = dataclasses.replace(SMOKE, iterations=3, n_traj=64, epochs=3)
    first, second = run(tiny, 0), run(tiny, 0)
    assert first.metrics == second.metrics
    summary = BENCHMARK.summarize("smoke", [first.metrics])
    assert all(c["verdict"] == "reproduced" for c in summary["claims"]), summary["claims"]
