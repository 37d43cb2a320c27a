"""The batch-size tests against numpy on explicit gradient matrices, their invariances, and per-sample gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from paperzoo.adadagrad import (
    BatchTest,
    augmented_ip_test,
    coordinatewise_test,
    inner_product_test,
    next_batch_size,
    norm_test,
    orthogonality_test,
    per_sample_grads,
)
from paperzoo.adadagrad.models import DigitsCNN
from paperzoo.adadagrad.per_sample import per_sample_grads_loop


def gradients(b: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    """Two tensors of per-sample gradients with a non-zero mean (float64)."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "w": torch.randn(b, 3, 2, generator=gen, dtype=torch.float64) + 0.7,
        "b": torch.randn(b, 4, generator=gen, dtype=torch.float64) - 0.3,
    }


def matrix(g: dict[str, torch.Tensor]) -> np.ndarray:
    return np.concatenate([t.reshape(t.shape[0], -1).numpy() for t in g.values()], axis=1)


def numpy_tests(G: np.ndarray, eta: float, theta: float, nu: float) -> dict[str, float]:
    """The exact tests written out on a (b, P) matrix (unbiased variances, ‖ḡ‖⁴ in the IP test)."""
    mean = G.mean(axis=0)
    sq = mean @ mean
    ip = G @ mean
    residual = G - np.outer(ip / sq, mean)
    return {
        "norm": G.var(axis=0, ddof=1).sum() / (eta**2 * sq),
        "ip": ip.var(ddof=1) / (theta**2 * sq**2),
        "orth": residual.var(axis=0, ddof=1).sum() / (nu**2 * sq),
        "coord": np.max(G.var(axis=0, ddof=1) / (eta**2 * mean**2)),
    }


def test_statistics_equal_numpy_on_an_explicit_matrix():
    g = gradients()
    expected = numpy_tests(matrix(g), 0.3, 0.4, 0.6)
    assert norm_test(g, 0.3) == pytest.approx(expected["norm"], rel=1e-12)
    assert inner_product_test(g, 0.4) == pytest.approx(expected["ip"], rel=1e-12)
    assert orthogonality_test(g, 0.6) == pytest.approx(expected["orth"], rel=1e-12)
    assert augmented_ip_test(g, 0.4, 0.6) == pytest.approx(max(expected["ip"], expected["orth"]), rel=1e-12)
    assert coordinatewise_test(g, 0.3) == pytest.approx(expected["coord"], rel=1e-12)
    # the biased variance would be (b - 1)/b of it
    assert norm_test(g, 0.3) != pytest.approx(expected["norm"] * 6 / 7, rel=1e-3)


def test_blockwise_is_the_official_per_tensor_form():
    g = gradients()
    blocks = [numpy_tests(t.reshape(t.shape[0], -1).numpy(), 1.0, 1.0, 1.0) for t in g.values()]
    means = [t.reshape(t.shape[0], -1).numpy().mean(axis=0) for t in g.values()]
    sq = sum(m @ m for m in means)
    # per block: Var(<g^t, ḡ^t>) = ip_t·‖ḡ^t‖⁴; Σ Var(orth_t) = orth_t·‖ḡ^t‖²
    ip_var = sum(bl["ip"] * (m @ m) ** 2 for bl, m in zip(blocks, means, strict=True))
    orth_var = sum(bl["orth"] * (m @ m) for bl, m in zip(blocks, means, strict=True))
    assert inner_product_test(g, 0.5, blockwise=True) == pytest.approx(ip_var / (0.25 * sq**2), rel=1e-12)
    assert orthogonality_test(g, 2.0, blockwise=True) == pytest.approx(orth_var / (4.0 * sq), rel=1e-12)
    assert inner_product_test(g, 0.5, blockwise=True) != pytest.approx(inner_product_test(g, 0.5), rel=1e-3)
    assert orthogonality_test(g, 2.0, blockwise=True) != pytest.approx(orthogonality_test(g, 2.0), rel=1e-3)


def test_exact_equals_blockwise_for_one_tensor():
    g = {"w": gradients()["w"]}
    assert inner_product_test(g, 0.5, blockwise=True) == pytest.approx(inner_product_test(g, 0.5), rel=1e-12)
    assert orthogonality_test(g, 1.0, blockwise=True) == pytest.approx(orthogonality_test(g, 1.0), rel=1e-12)


@pytest.mark.parametrize("test", ["norm", "inner_product", "augmented_ip", "coordinatewise"])
@pytest.mark.parametrize("blockwise", [False, True])
def test_loss_scaling_leaves_b_tilde_unchanged(test: str, blockwise: bool):
    g = gradients()
    scaled = {k: 37.0 * v for k, v in g.items()}
    batch_test = BatchTest(test, eta=0.2, theta=0.3, nu=0.8, blockwise=blockwise)
    assert batch_test(scaled) == pytest.approx(batch_test(g), rel=1e-10)


@pytest.mark.parametrize("test", ["norm", "inner_product", "augmented_ip", "coordinatewise"])
def test_identical_samples_never_grow_the_batch(test: str):
    g = {k: v[:1].expand(5, *v.shape[1:]).clone() for k, v in gradients().items()}
    b_tilde = BatchTest(test)(g)
    assert b_tilde == pytest.approx(0.0, abs=1e-20)
    assert next_batch_size(5, b_tilde, 100) == 5


def test_next_batch_size_ceils_caps_and_never_shrinks():
    assert next_batch_size(16, 20.2, 100) == 21
    assert next_batch_size(16, 3.0, 100) == 16
    assert next_batch_size(16, 1e6, 100) == 100
    assert next_batch_size(16, math.inf, 100) == 100
    assert next_batch_size(16, math.nan, 100) == 16


def test_vmap_gradients_equal_a_per_sample_autograd_loop():
    torch.manual_seed(0)
    model = DigitsCNN().double()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([0, 3, 3, 9, 1, 2])
    vmapped = per_sample_grads(model, x, y, chunk_size=4)
    looped = per_sample_grads_loop(model, x, y)
    assert vmapped.keys() == looped.keys()
    for name in vmapped:
        torch.testing.assert_close(vmapped[name], looped[name], rtol=1e-12, atol=1e-14)
    # their mean is the gradient of the batch's mean loss
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(vmapped[name].mean(0), param.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"eta": 0.0}, "eta"), ({"theta": -1.0}, "theta"), ({"nu": 0.0}, "nu"), ({"test": "gradient"}, "test")],
)
def test_bad_test_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BatchTest(**({"test": "norm"} | kwargs))


def test_bad_statistic_arguments_raise():
    g = gradients()
    with pytest.raises(ValueError, match="eta"):
        norm_test(g, 0.0)
    with pytest.raises(ValueError, match="theta"):
        inner_product_test(g, -0.1)
    with pytest.raises(ValueError, match="nu"):
        orthogonality_test(g, 0.0)
    with pytest.raises(ValueError, match="b >= 2"):
        norm_test({"w": g["w"][:1]}, 0.1)


def test_train_mode_batchnorm_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="model"):
        per_sample_grads(model, x, y)
    model.eval()
    assert per_sample_grads(model, x, y)["1.weight"].shape == (5, 3, 4)
