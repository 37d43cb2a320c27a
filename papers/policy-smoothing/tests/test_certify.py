"""The certificate: one-sided Clopper-Pearson bounds against statsmodels and scipy, the CDF certificate's limits
(B = 0, always-T, monotone, [0, T], the reward shift), the per-step certificate, a Monte Carlo check of the
adaptive Neyman-Pearson bound, and bad input."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from paperzoo.policy_smoothing import certified_action, certified_reward, cp_lower, np_bound


@pytest.mark.parametrize(("k", "n", "alpha"), [(0, 10, 0.05), (3, 10, 0.05), (10, 10, 0.05), (987, 1000, 0.00025)])
def test_cp_lower_matches_statsmodels_and_scipy(k, n, alpha):
    ours = cp_lower(k, n, alpha)
    assert ours == pytest.approx(proportion_confint(k, n, alpha=2 * alpha, method="beta")[0], rel=1e-10, abs=1e-15)
    if k > 0:
        assert ours == pytest.approx(stats.beta.ppf(alpha, k, n - k + 1), rel=1e-12)
    else:
        assert ours == 0.0


def test_cp_lower_is_a_valid_lower_bound():
    # Coverage: P(CP_lower(K, n, alpha) <= p) >= 1 - alpha for K ~ Bin(n, p).
    n, p, alpha = 50, 0.7, 0.1
    k = np.random.default_rng(0).binomial(n, p, size=20_000)
    covered = (cp_lower(k, n, alpha) <= p).mean()
    assert covered >= 1 - alpha - 0.01
    assert covered < 1 - alpha / 4  # not vacuous: the bound is not simply 0


def _returns(n=500, seed=0):
    return np.random.default_rng(seed).integers(0, 201, size=n)


def test_b0_is_the_sum_of_lower_bounds():
    r, alpha, T = _returns(), 0.05, 200
    p_low = [proportion_confint((r > i).sum(), r.size, alpha=2 * alpha / T, method="beta")[0] for i in range(T)]
    assert certified_reward(r, 0.2, 0.0, alpha, T) == pytest.approx(np.nansum(p_low), rel=1e-9)
    assert certified_reward(r, 0.2, 0.0, alpha, T) < r.mean()


def test_certificate_non_increasing_in_b_and_within_range():
    budgets = np.linspace(0, 3, 31)
    for sigma in (0.1, 0.4, 1.0):
        cert = certified_reward(_returns(seed=1), sigma, budgets)
        assert np.all(np.diff(cert) <= 1e-12) and cert[-1] < cert[0]
        assert np.all((cert >= 0) & (cert <= 200))
    # A larger sigma decays more slowly.
    r = np.full(1000, 200)
    assert certified_reward(r, 0.4, 1.0) > certified_reward(r, 0.2, 1.0)


def test_always_t_gives_t_times_the_exact_bound():
    n, alpha, T = 1000, 0.05, 200
    expected = T * (alpha / T) ** (1 / n)
    assert certified_reward(np.full(n, T), 0.2, 0.0, alpha, T) == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(198.3, abs=0.05)
    # and at B > 0: T Phi(Phi^-1((alpha/T)^(1/N)) - B/sigma)
    b = certified_reward(np.full(n, T), 0.2, 0.3, alpha, T)
    assert b == pytest.approx(T * stats.norm.cdf(stats.norm.ppf((alpha / T) ** (1 / n)) - 1.5), rel=1e-10)


def test_phi_inverse_at_zero_and_one_and_sigma_zero():
    assert np.all(np_bound([0.0, 1.0], 0.5, 2.0) == [0.0, 1.0])
    assert np_bound(0.7, 0.0, 0.0) == pytest.approx(0.7)
    assert np_bound(0.7, 0.0, 0.1) == 0.0
    assert certified_reward(np.zeros(10), 0.2, 1.0) == 0.0  # every p_i = 0: no NaN


def test_reward_shift_maps_mountain_car_returns():
    r = -np.random.default_rng(2).integers(90, 201, size=300)  # MountainCar returns in [-200, 0]
    with pytest.raises(ValueError, match="returns"):
        certified_reward(r, 0.2, 0.5)
    cert = certified_reward(r, 0.2, np.array([0.0, 0.5]), shift=200)
    assert np.allclose(cert, certified_reward(r + 200, 0.2, np.array([0.0, 0.5])) - 200)
    assert -200 <= cert[1] < cert[0] < r.mean()


def test_per_step_certificate():
    n, sigma, eps, alpha = 1000, 0.4, 0.1, 0.05
    counts = np.full(200, n)
    certified = certified_action(counts, n, sigma, eps, alpha)
    # certified exactly while eps sqrt(t + 1) / sigma < Phi^-1(CP_lower(n, n, alpha))
    z = stats.norm.ppf(alpha ** (1 / n))
    assert np.array_equal(certified, eps * np.sqrt(np.arange(200) + 1) / sigma < z)
    assert certified[0] and not certified[-1]
    assert not certified_action(np.full(5, n // 2), n, sigma, 0.0, alpha).any()  # a coin flip is never certified


def test_adaptive_np_bound_monte_carlo():
    """Two steps of a smoothed 1-D classifier f(x) = 1[x + eta > 0], sigma = 1; E = both steps classified 1.

    An adaptive adversary spends a at step 1 and, only if step 1 was still classified 1, the rest of the total
    budget sqrt(B^2 - a^2) at step 2. Every such attack obeys P_attacked(E) >= Phi(Phi^-1(P_clean(E)) - B/sigma);
    the static shift along the normal of the half-space {eta_1 + eta_2 > c} attains it.
    """
    rng = np.random.default_rng(0)
    m, sigma, budget, x = 400_000, 1.0, 1.0, 1.2
    eta = rng.standard_normal((m, 2)) * sigma
    p_clean = np.mean((x + eta[:, 0] > 0) & (x + eta[:, 1] > 0))
    bound = np_bound(p_clean, sigma, budget)
    for a in (0.0, 0.5, 0.8, 1.0):
        step1 = x - a + eta[:, 0] > 0
        step2 = x - np.where(step1, np.sqrt(budget**2 - a**2), 0.0) + eta[:, 1] > 0
        attacked = np.mean(step1 & step2)
        assert attacked >= bound - 3e-3
        assert attacked < p_clean  # the attack does hurt
    # tightness: E = {eta_1 + eta_2 > c}, the shift -B (1, 1)/sqrt 2
    c = -1.5
    p_half = np.mean(eta.sum(axis=1) > c)
    shifted = np.mean((eta - budget / np.sqrt(2)).sum(axis=1) > c)
    assert shifted == pytest.approx(np_bound(p_half, sigma, budget), abs=3e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": -0.1}, "sigma"),
        ({"B": -1.0}, "B"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"returns": np.array([])}, "N"),
        ({"returns": np.array([201])}, "returns"),
        ({"returns": np.array([3.5])}, "returns"),
        ({"T": 0}, "T"),
    ],
)
def test_bad_certificate_input(kwargs, match):
    args = {"returns": np.array([100, 200]), "sigma": 0.2, "B": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        certified_reward(**args)


def test_bad_cp_input():
    with pytest.raises(ValueError, match="n"):
        cp_lower(1, 0, 0.05)
    with pytest.raises(ValueError, match="k"):
        cp_lower(11, 10, 0.05)
    with pytest.raises(ValueError, match="alpha"):
        cp_lower(1, 10, 1.5)
