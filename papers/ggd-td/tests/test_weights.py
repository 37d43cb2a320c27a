"""BIV / BIEV weights: the per-sample kurtosis over heads, the ξ search, EBS, the weighted losses."""

import math

import numpy as np
import pytest
import torch as th
from scipy import stats

from paperzoo.ggd_td.losses import ValueLoss
from paperzoo.ggd_td.weights import (
    EPS,
    biev_loss,
    biev_variance,
    biv_loss,
    biv_variance,
    effective_batch_size,
    head_excess_kurtosis,
    inverse_variance_weights,
    optimal_xi,
)


def test_kurtosis_is_scipy_unbiased_per_sample_over_heads():
    rng = np.random.default_rng(0)
    x = rng.standard_t(3, size=(50, 5)) * rng.uniform(0.1, 10, (50, 1))
    np.testing.assert_allclose(head_excess_kurtosis(x), stats.kurtosis(x, axis=-1, bias=False), rtol=1e-10)
    assert head_excess_kurtosis(np.ones((2, 5))).tolist() == [0.0, 0.0]  # scipy: NaN


def test_zero_kurtosis_heads_give_bias_corrected_variance():
    a = math.sqrt(4 + math.sqrt(15))  # [-a, -1, 0, 1, a] has unbiased excess kurtosis exactly 0 for M = 5
    errors = np.array([[-a, -1.0, 0.0, 1.0, a]]) * np.array([[1.0], [3.0]])
    np.testing.assert_allclose(head_excess_kurtosis(errors), 0.0, atol=1e-12)
    np.testing.assert_allclose(biev_variance(errors), np.var(errors, axis=-1) * 4 / 6, rtol=1e-12)
    # heavier-tailed heads (positive kurtosis) shrink the variance estimate below that
    spiky = np.array([[0.0, 0.0, 0.0, 0.0, 5.0]])
    assert biev_variance(spiky)[0] < np.var(spiky) * 4 / 6


def _heteroscedastic(rng, n=64):
    return np.exp(rng.normal(0, 3, n))


def test_weights_sum_to_one_and_xi_restores_the_effective_batch():
    rng = np.random.default_rng(1)
    for _ in range(20):
        variance = _heteroscedastic(rng)
        assert effective_batch_size(variance) < 16
        w = inverse_variance_weights(variance, 16)
        assert w.xi > 0 and bool((w.weights >= 0).all()) and w.weights.sum() == pytest.approx(1.0)
        assert w.ebs >= 16 - 1


def test_xi_is_zero_when_the_batch_is_already_effective():
    variance = np.random.default_rng(2).uniform(1.0, 1.5, 64)
    assert effective_batch_size(variance) >= 16
    assert optimal_xi(variance, 16) == 0.0
    w = inverse_variance_weights(variance, 16)
    np.testing.assert_allclose(w.weights, (1 / variance) / (1 / variance).sum())
    assert effective_batch_size(np.ones(10)) == pytest.approx(10.0)


def test_low_variance_samples_get_high_weight():
    th.manual_seed(0)
    values = th.randn(64, 5, 2)
    values[:32, :, 0] *= 0.01  # the first half's heads agree
    targets = th.zeros(64, 5)
    out = []
    biev_loss(values, targets, out=out)
    assert out[0].weights[:32].mean() > 5 * out[0].weights[32:].mean()


def test_identical_heads_give_floored_variance_and_finite_loss():
    values = th.randn(20, 1, 2).expand(20, 5, 2).clone().requires_grad_(True)
    targets = th.randn(20, 5)
    assert (biv_variance(values[..., 0].detach().numpy(), 0.99) == EPS * 0.99**2).all()
    for loss in (biv_loss(values, targets, 0.99), biev_loss(values, targets)):
        loss.backward()
        assert th.isfinite(loss) and th.isfinite(values.grad).all()


def test_weights_are_constants():
    values = th.randn(32, 5, 2, requires_grad=True)
    targets = th.randn(32, 5)
    out = []
    (grad,) = th.autograd.grad(biev_loss(values, targets, error="mse", out=out), values)
    w = th.as_tensor(out[0].weights, dtype=values.dtype)
    th.testing.assert_close(grad[..., 0], 2 * (values[..., 0] - targets).detach() * w[:, None] / 32)
    assert (grad[..., 1] == 0).all()


def test_lambda_zero_is_the_base_loss():
    th.manual_seed(0)
    values, targets = th.randn(64, 5, 2), th.randn(64, 5)
    for base in ("ggd", "gd"):
        for prefix in ("iv_", "iev_") if base == "ggd" else ("iv_",):
            weighted = ValueLoss(prefix + base, uncertainty_temperature=0.0)(values, targets)
            assert weighted.item() == ValueLoss(base)(values, targets).item()
    assert ValueLoss("iev_ggd")(values, targets).item() > ValueLoss("ggd")(values, targets).item()


def test_bad_arguments():
    with pytest.raises(ValueError, match="ensemble_size"):
        biev_variance(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="min_batch_size"):
        optimal_xi(np.ones(8), 1)
    with pytest.raises(ValueError, match="lambda"):
        ValueLoss("iev_ggd", uncertainty_temperature=-0.1)
    with pytest.raises(ValueError, match="loss"):
        ValueLoss("huber")
    with pytest.raises(ValueError, match="nll_form"):
        ValueLoss("ggd", nll_form="power")
    with pytest.raises(ValueError, match="min_batch_size"):
        ValueLoss("iev_ggd", min_batch_size=1)
