"""Tests of MetaDE: decoding, the PDE generation against hand-built trials, crossover laws, FE counts, the batched
CEC2022 against evox's, baselines, determinism and bad arguments."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats

from paperzoo.metade import experiment
from paperzoo.metade.baselines import AdaptiveDE
from paperzoo.metade.bench import BENCHMARK, Config, full_claims, paper_config
from paperzoo.metade.cec2022 import BIAS, CEC2022, suite
from paperzoo.metade.metade import MetaDE
from paperzoo.metade.pde import (
    DE_RAND_1_BIN,
    DEFAULT_THETA,
    PDE,
    THETA_LB,
    THETA_UB,
    _exp_length,
    crossover_mask,
    decode,
    draw_indices,
    pbest_count,
    pde_trial,
)

torch.set_num_threads(1)
LB, UB = -5.0, 5.0


def _sphere(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(-1)


def _population(E=3, NP=12, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    pop = torch.rand((E, NP, D), generator=g, dtype=torch.float64) * 8 - 4
    return pop, _sphere(pop)


# ------------------------------------------------------------------------------------------------ decoding
def test_decode_floors_into_the_menus_and_the_upper_bound_never_overflows():
    g = torch.Generator().manual_seed(0)
    theta = THETA_LB + (THETA_UB - THETA_LB) * torch.rand((10_000, 6), generator=g, dtype=torch.float64)
    theta = torch.cat([theta, THETA_LB[None], THETA_UB[None]])
    d = decode(theta)
    for name, low, high in (("bl", 0, 3), ("br", 0, 3), ("dn", 1, 4), ("cs", 0, 2)):
        values = getattr(d, name)
        assert values.min() == low and values.max() == high, name
        assert set(values.unique().tolist()) == set(range(low, high + 1)), name
    assert torch.equal(d.F, theta[:, 0]) and torch.equal(d.CR, theta[:, 1])
    default = decode(DEFAULT_THETA)
    assert (int(default.bl), int(default.br), int(default.dn), int(default.cs)) == (0, 2, 3, 2)


# ------------------------------------------------------------------------------------- one PDE generation
def _expected_mutant(pop, fitness, theta, g):
    """The mutant rebuilt from the same random draws (index draw first, then the pbest pick)."""
    E, NP, _ = pop.shape
    d = decode(theta)
    pairs = int(d.dn.max())
    idx = draw_indices(E, NP, 1 + 2 * pairs, g).permute(1, 2, 0)
    top = fitness.topk(pbest_count(NP), dim=1, largest=False).indices
    pick = torch.randint(0, top.shape[1], (E, NP), generator=g)
    out = torch.empty_like(pop)
    for e in range(E):
        for i in range(NP):
            menu = [pop[e, idx[e, i, 0]], pop[e, top[e, 0]], pop[e, top[e, pick[e, i]]], pop[e, i]]
            bl, br, F = menu[int(d.bl[e])], menu[int(d.br[e])], float(d.F[e])
            diff = sum(pop[e, idx[e, i, 2 * k + 1]] - pop[e, idx[e, i, 2 * k + 2]] for k in range(int(d.dn[e])))
            out[e, i] = bl + F * (br - bl) + F * diff
    return out, g


@pytest.mark.parametrize("bl,br,dn", [(0, 2, 3), (1, 1, 1), (3, 3, 4), (2, 0, 2)])
def test_pde_trial_matches_the_mutation_formula(bl, br, dn):
    """Arithmetic crossover with CR = 1 returns the mutant: it must equal b + F sum of dn differences, with
    b = v_bl + F (v_br - v_bl) (so b = v_bl exactly when bl = br)."""
    pop, fit = _population()
    theta = torch.tensor([[0.4, 1.0, bl, br, dn, 2.0]] * 3, dtype=torch.float64)
    trial = pde_trial(pop, fit, theta, -100.0, 100.0, torch.Generator().manual_seed(3))
    expected, _ = _expected_mutant(pop, fit, theta, torch.Generator().manual_seed(3))
    assert (trial - expected).abs().max() <= 1e-12


def test_rand_rand_1_bin_is_de_rand_1_bin():
    """(rand, rand, 1, bin): u_j = x_r0 + F (x_r1 - x_r2) where U_j < CR or j = j_rand, else x_ij."""
    pop, fit = _population()
    E, NP, D = pop.shape
    theta = DE_RAND_1_BIN.expand(E, 6)
    trial = pde_trial(pop, fit, theta, -100.0, 100.0, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    idx = draw_indices(E, NP, 3, g)
    torch.randint(0, pbest_count(NP), (E, NP), generator=g)  # the pbest pick (unused here)
    cr, cs = torch.full((E, 1, 1), 0.9, dtype=torch.float64), torch.zeros((E, 1, 1), dtype=torch.long)
    binomial = crossover_mask(cr, cs, (E, NP, D), g)
    take = lambda k: pop[torch.arange(E).view(E, 1), idx[k]]  # noqa: E731
    de = take(0) + 0.5 * (take(1) - take(2))
    assert (trial - torch.where(binomial, de, pop)).abs().max() <= 1e-12


def test_crossover_limits():
    pop, fit = _population(E=2, NP=20, D=8)
    g = torch.Generator().manual_seed(1)
    arith_one = torch.tensor([[0.5, 1.0, 1, 0, 2, 2.0]] * 2, dtype=torch.float64)
    mutant = pde_trial(pop, fit, arith_one, -100.0, 100.0, g)
    arith_zero = arith_one.clone()
    arith_zero[:, 1] = 0.0
    assert torch.equal(pde_trial(pop, fit, arith_zero, -100.0, 100.0, g), pop)  # CR = 0: x itself
    assert not torch.equal(mutant, pop)
    bin_zero = torch.tensor([[0.5, 0.0, 1, 0, 2, 0.0]] * 2, dtype=torch.float64)
    changed = (pde_trial(pop, fit, bin_zero, -100.0, 100.0, g) != pop).sum(-1)
    assert torch.equal(changed, torch.ones_like(changed))  # exactly the j_rand coordinate
    exp_one = torch.tensor([[0.5, 1.0, 1, 0, 2, 1.0]] * 2, dtype=torch.float64)
    assert ((pde_trial(pop, fit, exp_one, -100.0, 100.0, g) != pop).sum(-1) == 8).all()  # CR = 1: the whole block


def test_mixed_crossovers_in_one_call():
    """Executors with different crossovers in one tensor op: binomial with CR = 0 takes exactly j_rand, exponential
    with CR = 1 the whole vector, arithmetic with CR = 0 returns x itself."""
    pop, fit = _population(E=3, NP=20, D=8)
    theta = torch.tensor([[0.5, 0.0, 0, 1, 2, 0.0], [0.5, 1.0, 0, 1, 2, 1.0], [0.5, 0.0, 0, 1, 2, 2.0]])
    changed = (pde_trial(pop, fit, theta.double(), -100.0, 100.0, torch.Generator().manual_seed(2)) != pop).sum(-1)
    assert torch.equal(changed, torch.tensor([1, 8, 0]).view(3, 1).expand(3, 20))


def test_index_draw_is_sequential_sampling_without_replacement():
    """The decoded picks equal taking, for j = 0..k-1, the r_j-th value still available (the same r_j draws), then
    replacing the individual's own index by NP - 1; with replacement when k > NP."""
    E, NP, k = 3, 7, 5
    picks = draw_indices(E, NP, k, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    r = [torch.randint(0, NP - j, (E, NP), generator=g) for j in range(k)]
    for e in range(E):
        for i in range(NP):
            available = list(range(NP))
            expected = [available.pop(int(r[j][e, i])) for j in range(k)]
            expected = [NP - 1 if v == i else v for v in expected]
            assert picks[:, e, i].tolist() == expected
    assert draw_indices(E, 4, 9, g).shape == (9, E, 4)


def test_exponential_block_length_follows_cr_powers():
    """P(L = k) = CR^{k-1} (1 - CR) for k < D and P(L = D) = CR^{D-1} (chi-square on 1e5 draws); the port's log1p
    length does not follow it."""
    D, CR, n = 10, 0.7, 100_000
    cr = torch.full((n, 1, 1), CR, dtype=torch.float64)
    law = np.array([CR ** (k - 1) * (1 - CR) for k in range(1, D)] + [CR ** (D - 1)]) * n
    for port, should_fit in ((False, True), (True, False)):
        L = _exp_length(cr, (n, 1, 1), D, port, torch.Generator().manual_seed(0)).flatten().long()
        counts = np.array([(L == k).sum().item() for k in range(1, D + 1)])
        fits = counts.sum() == n and stats.chisquare(counts, law).pvalue > 1e-3
        assert fits == should_fit


def test_executors_stay_in_bounds_and_best_so_far_never_increases():
    g = torch.Generator().manual_seed(0)
    theta = THETA_LB + (THETA_UB - THETA_LB) * torch.rand((1, 16, 6), generator=g, dtype=torch.float64)
    executor = PDE(lambda x: _sphere(x - 4.9), 6, LB, UB, NP=10)  # optimum near the upper bound
    state, curve = executor.run(theta, 1, 16, 60, g, record_every=1)
    assert (state.x >= LB).all() and (state.x <= UB).all()
    best = torch.stack(curve)
    assert (best[1:] <= best[:-1]).all()
    assert best[-1].min() < 0.1 * best[0].min()  # and it makes progress


# ----------------------------------------------------------------------------------------------- MetaDE
@pytest.mark.parametrize("power_up,search", [(False, "de"), (True, "de"), (False, "random")])
def test_metade_counts_fes_exactly_and_returns_its_best(power_up, search):
    objective = suite((1, 12), 10)
    meta = MetaDE(objective, 10, -100.0, 100.0, P_o=6, NP=8, S=4, G=3, power_up=power_up, search=search)
    result = meta.run(2, torch.Generator().manual_seed(0))
    assert meta.fes == meta.expected_fes() == 6 * 8 * 5 * (3 + 5 * power_up)
    assert len(result.generations) == 3 + power_up
    assert (result.best <= result.generations[0].min(1).values).all()
    assert torch.equal(result.best, torch.stack(result.generations).min(2).values.min(0).values)
    curve = torch.stack(result.curve)
    assert (curve[1:] <= curve[:-1]).all()


def test_pde_and_adaptive_de_count_fes_and_learn():
    objective = suite((1,), 10)
    g = torch.Generator().manual_seed(0)
    start = objective(torch.rand((1, 100, 10), generator=g, dtype=torch.float64) * 200 - 100).min()
    for variant in ("jade", "shade"):
        algo = AdaptiveDE(objective, 10, -100.0, 100.0, NP=20, variant=variant)
        best, _ = algo.run(1, 150, g)
        assert algo.fes == 20 * 151
        assert best.item() - 300 < 0.1 * (start.item() - 300)
    executor = PDE(objective, 10, -100.0, 100.0, NP=20)
    executor.run(DE_RAND_1_BIN, 1, 3, 15, g)
    assert executor.fes == 3 * 20 * 16


# --------------------------------------------------------------------------------------------- CEC2022
@pytest.mark.parametrize("D", [10, 20])
def test_cec2022_optimum_is_the_bias(D):
    for fn in range(1, 9):
        problem = CEC2022(fn, D)
        assert problem(problem.optimum).item() == pytest.approx(BIAS[fn], abs=1e-8)
        assert problem(problem.optimum + 1.0).item() > BIAS[fn] + 1e-6


def test_cec2022_equals_evox():
    from evox.problems.numerical import CEC2022 as EvoxCEC2022

    g = torch.Generator().manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # evox reads its data in the default dtype
    try:
        _compare_with_evox(EvoxCEC2022, g)
    finally:
        torch.set_default_dtype(default)


def _compare_with_evox(EvoxCEC2022, g):
    for D in (10, 20):
        for fn in range(1, 13):
            ours = CEC2022(fn, D)
            x = torch.cat(
                [
                    torch.rand((16, D), generator=g, dtype=torch.float64) * 200 - 100,
                    ours.optimum + torch.randn((16, D), generator=g, dtype=torch.float64),
                ]
            )
            reference = EvoxCEC2022(fn, D).evaluate(x)
            # torch.allclose, not torch.testing.assert_close: the latter's first call imports for ~20 s.
            assert torch.allclose(ours(x), reference, rtol=1e-10, atol=1e-5), (fn, D)
            assert torch.equal(ours(x.view(2, 16, D)), ours(x).view(2, 16))  # batched leading axes


# ------------------------------------------------------------------------------------------ the benchmark
def test_same_seed_same_numbers_and_smoke_checks():
    config = dataclasses.replace(BENCHMARK.scales["smoke"], S=6, default_check_steps=0)
    first, again, other = (experiment.run(config, s).metrics for s in (0, 0, 1))
    assert first == again and first != other
    for arm in config.arms:
        assert first[f"{arm}/fe_error"] == 0.0
    assert first["metade/fe_count_error"] == 0.0 and first["metade/best_minus_gen1"] <= 0.0


def test_paper_config_runs_its_first_steps_on_a_stand_in():
    paper = paper_config(D=20)
    assert (paper.P_o, paper.NP, paper.S, paper.G, paper.D) == (100, 100, 1000, 50, 20)
    assert experiment.budget(paper) == 100 * 100 * 1001 * 50
    stand_in = dataclasses.replace(
        paper, functions=(6,), P_o=4, NP=5, S=2, G=6, baseline_np=20, workers=1, device="cpu"
    )
    metrics = experiment.run(stand_in, 0).metrics
    assert metrics["metade_powerup/fe_count_error"] == 0.0 and math.isfinite(metrics["metade/F6_error"])
    assert len(full_claims(Config())) == 7


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: CEC2022(13, 10), "fn"),
        (lambda: CEC2022(0, 10), "fn"),
        (lambda: CEC2022(1, 30), "D"),
        (lambda: CEC2022(6, 2), "D"),
        (lambda: PDE(_sphere, 3, LB, UB, NP=3), "NP"),
        (lambda: MetaDE(_sphere, 3, LB, UB, P_o=3), "P_o"),
        (lambda: MetaDE(_sphere, 3, LB, UB, P_o=4, S=0), "S"),
        (lambda: MetaDE(_sphere, 3, LB, UB, P_o=4, G=0), "G"),
        (lambda: Config(P_o=3), "P_o"),
        (lambda: Config(functions=(0,)), "functions"),
        (lambda: Config(baseline_np=7), "budget"),
    ],
)
def test_bad_arguments_raise(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("column,name", [(0, "F"), (1, "CR")])
def test_f_or_cr_outside_the_unit_interval_raise(column, name):
    theta = DEFAULT_THETA.clone()
    theta[column] = 1.5
    with pytest.raises(ValueError, match=name):
        PDE(_sphere, 3, LB, UB, NP=4).run(theta, 1, 1, 1, torch.Generator())
