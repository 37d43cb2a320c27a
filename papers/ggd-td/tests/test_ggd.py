"""The GGD library: likelihoods against scipy and closed forms, moments, the risk-averse weights, the losses."""

import math

import numpy as np
import pytest
import torch as th
from scipy import stats

from paperzoo.ggd_td.ggd import (
    MIN_BETA,
    gaussian_nll_loss,
    ggd_beta,
    ggd_excess_kurtosis,
    ggd_nll,
    ggd_nll_loss,
    ggd_variance,
    mse_loss,
    risk_averse_weights,
)


def test_paper_nll_is_minus_gennorm_logpdf():
    rng = np.random.default_rng(0)
    delta, beta = rng.normal(0, 2, 200), rng.uniform(0.3, 6.0, 200)
    nll = ggd_nll(th.tensor(delta), th.tensor(beta), "paper").numpy()
    np.testing.assert_allclose(nll, -stats.gennorm.logpdf(delta, beta), rtol=0, atol=1e-6)


def test_gaussian_and_laplace_cases():
    delta = th.linspace(-3, 3, 13, dtype=th.float64)
    two, one = th.full_like(delta, 2.0), th.ones_like(delta)
    th.testing.assert_close(ggd_nll(delta, two, "paper"), delta**2 + math.log(math.sqrt(math.pi)))
    th.testing.assert_close(ggd_nll(delta, one, "paper"), delta.abs() + math.log(2.0))
    # official form: β|δ| - log β + log Γ(1/β), no log 2
    expected = 2 * delta.abs() - math.log(2.0) + math.lgamma(0.5)
    th.testing.assert_close(ggd_nll(delta, two, "official"), expected)


def test_variance_decreases_and_moments_match_scipy():
    beta = th.linspace(0.5, 8.0, 200, dtype=th.float64)
    var = ggd_variance(beta)
    assert bool((var[1:] < var[:-1]).all())
    np.testing.assert_allclose(var.numpy(), stats.gennorm.var(beta.numpy()), rtol=1e-9)
    kurt = ggd_excess_kurtosis(beta).numpy()
    np.testing.assert_allclose(kurt, stats.gennorm.stats(beta.numpy(), moments="k"), rtol=1e-7, atol=1e-9)
    assert abs(ggd_excess_kurtosis(th.tensor(2.0)).item()) < 1e-6


def test_beta_is_clamped_softplus():
    z = th.tensor([-50.0, 0.0, 3.0])
    th.testing.assert_close(ggd_beta(z), th.tensor([MIN_BETA, math.log(2.0), math.log1p(math.exp(3.0))]))
    assert th.isfinite(ggd_nll(th.tensor([1.0]), ggd_beta(th.tensor([-50.0])), "official")).all()


def test_equal_beta_gives_uniform_head_weights():
    beta = th.full((7, 5), 1.3)
    th.testing.assert_close(risk_averse_weights(beta), th.full((7, 5), 0.2))
    w = risk_averse_weights(th.rand(7, 5) + 0.1)
    assert bool((w >= 0).all()) and th.allclose(w.sum(-1), th.ones(7))


def test_ggd_loss_matches_hand_sum_and_weights_carry_gradient():
    th.manual_seed(0)
    values = th.randn(6, 5, 2, dtype=th.float64, requires_grad=True)
    targets = th.randn(6, 5, dtype=th.float64)
    for form in ("official", "paper"):
        beta = ggd_beta(values[..., 1])
        nll = ggd_nll(values[..., 0] - targets, beta, form)
        hand = sum((nll[:, k] * beta[:, k] / beta.sum(-1)) for k in range(5)).mean()
        th.testing.assert_close(ggd_nll_loss(values, targets, form), hand)
    # not detached: the shape logits' gradient includes d w / d β
    (grad,) = th.autograd.grad(ggd_nll_loss(values, targets), values)
    beta = ggd_beta(values[..., 1])
    detached = (risk_averse_weights(beta).detach() * ggd_nll(values[..., 0] - targets, beta, "official")).sum(-1).mean()
    (grad_detached,) = th.autograd.grad(detached, values)
    th.testing.assert_close(grad[..., 0], grad_detached[..., 0])
    assert not th.allclose(grad[..., 1], grad_detached[..., 1])


@pytest.mark.parametrize("form", ["official", "paper"])
def test_ggd_loss_pulls_values_towards_targets(form):
    values = th.tensor([[[1.0, 0.5]], [[-2.0, 1.0]]], requires_grad=True)
    targets = th.zeros(2, 1)
    (grad,) = th.autograd.grad(ggd_nll_loss(values, targets, form), values)
    assert bool((grad[:, 0, 0] * values[:, 0, 0] > 0).all())  # descent moves v towards y


def test_gaussian_nll_optimal_variance_is_squared_error():
    # ½(log σ² + δ²/σ²) is minimised at σ² = δ²: the gradient wrt the variance logit vanishes there
    delta = th.tensor([1.5, -0.7])
    z = th.log(th.expm1(delta**2)).requires_grad_(True)  # softplus(z) = δ²
    values = th.stack([delta, z], -1)[:, None, :]
    (grad,) = th.autograd.grad(gaussian_nll_loss(values, th.zeros(2, 1)), z)
    th.testing.assert_close(grad, th.zeros(2), atol=1e-6, rtol=0)


def test_mse_sums_heads():
    values = th.tensor([[[1.0], [2.0]], [[3.0], [0.0]]])
    targets = th.zeros(2, 2)
    assert mse_loss(values, targets).item() == pytest.approx((1 + 9) / 2 + (4 + 0) / 2)
    with pytest.raises(ValueError, match="values"):
        mse_loss(values, th.zeros(3, 2))
    with pytest.raises(ValueError, match="nll_form"):
        ggd_nll(th.zeros(1), th.ones(1), "power")
