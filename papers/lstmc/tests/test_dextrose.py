"""The plant: kinetics, the moment ODE, the PBE, the samplers."""

import numpy as np
import pytest

from paperzoo.lstmc.dextrose import (
    KV,
    RHO_C,
    TAU,
    Grid,
    InitialConditions,
    MomentModel,
    PopulationBalance,
    Solver,
    advance,
    growth_rate,
    nucleation_rate,
    sample_initial_conditions,
    sample_jacket_profiles,
    simulate_moments,
    simulate_pbe,
    solubility,
    supersaturation,
)


def test_kinetics_vanish_at_or_below_saturation():
    S = np.array([0.5, 0.99, 1.0])
    assert np.all(growth_rate(S, 30.0) == 0.0)
    assert np.all(nucleation_rate(S, 0.2) == 0.0)
    assert growth_rate(1.2, 30.0) > 0 and nucleation_rate(1.2, 0.2) > 0


def test_growth_arrhenius_ratio_uses_kelvin():
    ratio = growth_rate(1.3, 40.0) / growth_rate(1.3, 30.0)
    assert ratio == pytest.approx(np.exp(29549 / 8.314 * (1 / 303.15 - 1 / 313.15)), rel=1e-12)


def test_hand_computed_kinetics():
    assert solubility(38.0) == pytest.approx((0.804 * 38 + 29.94) / 100)
    # slurry basis -> solution basis: c / (1 - M_T)
    assert supersaturation(0.70, 38.0, 0.15) == pytest.approx(0.70 / 0.85 / solubility(38.0))
    assert growth_rate(1.5, 25.0) == pytest.approx(1.14e-3 * np.exp(-29549 / (8.314 * 298.15)) * 0.5**1.05)
    assert nucleation_rate(1.5, 0.2) == pytest.approx(4.5e4 * 0.2**0.49 * 0.5**1.41)


def test_seed_csd_has_the_seed_mass(reference_ic):
    grid = Grid(250)
    F = reference_ic.seed_csd(grid)
    assert KV * RHO_C * grid.moments(F)[0, 3] == pytest.approx(0.15, rel=1e-12)
    assert grid.centres[0] == pytest.approx(1e-6) and grid.centres[-1] == pytest.approx(500e-6)


def test_reference_run_regression_and_mass_conservation(reference_ic, reference_profile):
    tr = simulate_moments(reference_ic, reference_profile, Solver(rtol=1e-8))
    L = tr.hourly()[0, :, 0]
    assert L[0] == pytest.approx(103, abs=1) and L[-1] == pytest.approx(170, abs=1)
    M_T = KV * RHO_C * tr.moments[0, :, 3]
    S = supersaturation(tr.c[0], tr.T[0], M_T)
    assert S[0] == pytest.approx(1.36, abs=0.01) and S[-1] == pytest.approx(1.02, abs=0.01)
    mass = tr.c[0] + M_T
    assert np.ptp(mass) / mass[0] < 1e-6
    assert np.all(np.diff(tr.moments[0, :, 0]) >= 0)  # mu_0 never decreases
    assert np.all(np.diff(L) > 0)  # growth under cooling


def test_pbe_moments_match_the_moment_ode(reference_ic, reference_profile):
    exact = simulate_moments(reference_ic, reference_profile, Solver(rtol=1e-8))
    pbe = simulate_pbe(reference_ic, reference_profile)
    gap = np.abs(pbe.moments[0, -1, :4] / exact.moments[0, -1, :4] - 1.0)
    assert gap.max() < 0.02
    assert abs(pbe.c[0, -1] - exact.c[0, -1]) < 1e-3


def test_undersaturated_batch_at_constant_jacket_is_stationary():
    ic = InitialConditions(c0=0.40, seed_fraction=0.15, seed_mean_um=100.0, seed_sd_um=10.0, T0=38.0)
    model = PopulationBalance(Grid(40))
    y0 = model.initial_state(ic)
    out = advance(model, y0, np.array([38.0]))
    np.testing.assert_array_equal(out[-1], y0)


def test_energy_balance_time_constant():
    # no crystallisation (undersaturated at both temperatures): first-order response with tau = m Cp / (U A)
    assert TAU == pytest.approx(2091, abs=1)
    ic = InitialConditions(c0=0.30, seed_fraction=0.10, seed_mean_um=100.0, seed_sd_um=10.0, T0=38.0)
    tr = simulate_moments(ic, np.array([[20.0]]), Solver(rtol=1e-9))
    t = np.arange(7) * 600.0
    np.testing.assert_allclose(tr.T[0], 20.0 + 18.0 * np.exp(-t / 2091.0), rtol=1e-5)


def test_pbe_jacobian_pattern_misses_only_the_rank_one_total_mass_coupling(reference_ic):
    model = PopulationBalance(Grid(20))
    y = model.initial_state(reference_ic)  # supersaturated: S = 1.36
    scale = model.scale(y)
    J = np.empty((22, 22))
    for j in range(22):  # central differences
        step = np.zeros_like(y)
        step[0, j] = 1e-5 * scale[j]
        diff = model.rhs(y + step, np.array([30.0])) - model.rhs(y - step, np.array([30.0]))
        J[:, j] = diff[0] / (2 * step[0, j])
    pattern = model.block_pattern().toarray().astype(bool)
    assert np.all(pattern[20:] | (J[20:] == 0))  # the c and T rows are complete
    # every omitted entry is dF_i/dM_T x dM_T/dF_j with dM_T/dF_j = k_v rho_c L_j^3 dL_j: one factor per row
    per_row = J[:20, :20] / (KV * RHO_C * model.grid.centres**3 * model.grid.widths)[None, :]
    off = ~pattern[:20, :20]
    for i in range(20):
        row = per_row[i, off[i]]
        assert np.ptp(row) <= 1e-4 * np.abs(row).max()
    assert np.abs(np.diagonal(J[:20, :20], 1)).max() > 0  # neighbour couplings are in the pattern


def test_jac_sparsity_is_the_block_diagonal_of_the_batch_pattern_and_built_once():
    model = PopulationBalance(Grid(5))
    block = model.block_pattern().toarray()
    full = model.jac_sparsity(3)
    assert model.jac_sparsity(3) is full  # kept on the plant across hours
    expected = np.zeros((21, 21))
    for b in range(3):
        expected[7 * b : 7 * b + 7, 7 * b : 7 * b + 7] = block
    np.testing.assert_array_equal(full.toarray(), expected)
    assert model.jac_sparsity(1).shape == (7, 7)


def test_lsoda_moment_path_matches_the_bdf_path_to_its_tolerance():
    # the moment ODE's default integrator (ODEPACK LSODA) against the previous one (scipy's BDF), both at rtol 1e-6,
    # and both against a tight BDF reference (rtol 1e-9): same results within a few tolerances, LSODA no less accurate
    rng = np.random.default_rng(3)
    ic = sample_initial_conditions(3, rng)
    profiles = sample_jacket_profiles(ic.T0, 24, rng)
    default = simulate_moments(ic, profiles)
    lsoda = simulate_moments(ic, profiles, Solver(method="LSODA"))
    bdf = simulate_moments(ic, profiles, Solver(method="BDF"))
    tight = simulate_moments(ic, profiles, Solver(rtol=1e-9, method="BDF")).hourly()
    np.testing.assert_array_equal(default.moments, lsoda.moments)  # LSODA is the moment model's default
    assert not np.array_equal(lsoda.moments, bdf.moments)  # ... and a different integrator from BDF
    errors = {}
    for name, tr in (("lsoda", lsoda.hourly()), ("bdf", bdf.hourly())):
        errors[name] = np.abs(tr[..., 0] / tight[..., 0] - 1.0).max()
        assert np.abs(tr[..., 1] - tight[..., 1]).max() < 2e-5  # c, kg/kg slurry
    assert max(errors.values()) < 2e-5 and errors["lsoda"] <= 2 * errors["bdf"]
    np.testing.assert_allclose(lsoda.hourly()[..., 0], bdf.hourly()[..., 0], rtol=2e-5)
    mass = lsoda.c + KV * RHO_C * lsoda.moments[..., 3]  # Adams steps keep the linear invariant too
    assert np.ptp(mass, axis=1).max() / mass[:, 0].min() < 1e-6


def test_pbe_keeps_bdf_by_default_and_lsoda_agrees(reference_ic, reference_profile):
    grid = Grid(40)
    default = simulate_pbe(reference_ic, reference_profile[:, :6], grid=grid)
    bdf = simulate_pbe(reference_ic, reference_profile[:, :6], Solver(method="BDF"), grid)
    lsoda = simulate_pbe(reference_ic, reference_profile[:, :6], Solver(method="LSODA"), grid)
    np.testing.assert_array_equal(default.moments, bdf.moments)
    assert not np.array_equal(lsoda.moments, bdf.moments)
    np.testing.assert_allclose(lsoda.hourly(), bdf.hourly(), rtol=2e-5)


def test_samplers_respect_their_ranges():
    rng = np.random.default_rng(1)
    ic = sample_initial_conditions(500, rng)
    assert np.all((ic.c0 >= 0.6) & (ic.c0 <= 0.85))
    assert np.all((ic.seed_fraction >= 0.05) & (ic.seed_fraction <= 0.25))
    assert np.all(ic.c0 + ic.seed_fraction <= 0.95)
    assert np.all((ic.T0 >= 35) & (ic.T0 <= 40))
    walks = sample_jacket_profiles(ic.T0, 24, rng)
    assert np.all(walks[:, 0] == ic.T0) and walks.min() >= 5 and walks.max() <= 40
    steps = np.diff(walks, axis=1)
    assert steps.max() <= 0.6 * 5 + 1e-12 and steps.min() >= -5 - 1e-12
    assert steps.mean() < 0  # a cooling walk on average


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Grid(2), "n_cells"),
        (lambda: InitialConditions(0.7, 1.0, 100.0, 10.0, 38.0), "seed_fraction"),
        (lambda: InitialConditions(0.7, 0.0, 100.0, 10.0, 38.0), "seed_fraction"),
        (lambda: simulate_moments(InitialConditions(0.7, 0.1, 100.0, 10.0, 38.0), np.array([[45.0]])), "T_j"),
        (lambda: MomentModel() and advance(MomentModel(), np.ones((1, 7)), 30.0, seconds=0.0), "seconds"),
        (lambda: Solver(method="RK45"), "method"),
        (lambda: Solver(method="bdf"), "method"),
        (lambda: Solver(rtol=0.0), "rtol"),
        (lambda: Solver(atol_scale=-1e-3), "atol_scale"),
        (lambda: Solver(outputs_per_hour=0), "outputs_per_hour"),
    ],
)
def test_bad_plant_arguments_raise(make, name):
    with pytest.raises(ValueError, match=name):
        make()
