"""Hessian-vector products, Lanczos/SLQ and batch λ_max against independent references."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from paperzoo.rmt_lr import MLP, batch_lambda_max, exact_hessian, ggn_vp, hvp, lanczos, slq, slq_density
from paperzoo.rmt_lr.hessian import hessian_operator, n_params


def tiny_mlp(dtype=torch.float64) -> MLP:
    torch.manual_seed(0)
    return MLP((64, 12, 10)).to(dtype)


def flat_grad(model: nn.Module, batch) -> torch.Tensor:
    model.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_hvp_matches_central_differences_of_the_gradient(tiny_data):
    model = tiny_mlp()
    theta = parameters_to_vector(model.parameters()).detach().clone()
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    eps = 1e-5
    grads = []
    for sign in (1, -1):
        vector_to_parameters(theta + sign * eps * v, model.parameters())
        grads.append(flat_grad(model, tiny_data))
    vector_to_parameters(theta, model.parameters())
    reference = (grads[0] - grads[1]) / (2 * eps)
    product = hvp(model, F.cross_entropy, tiny_data, v)
    assert (product - reference).norm() / reference.norm() <= 1e-5
    stacked = hvp(model, F.cross_entropy, tiny_data, torch.stack([v, 2 * v]))  # a batched product
    torch.testing.assert_close(stacked, torch.stack([product, 2 * product]))


def test_gauss_newton_equals_the_hessian_of_a_linear_model_and_is_psd(tiny_data):
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()  # no curvature from the model itself
    vs = torch.randn(3, n_params(linear), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(
        ggn_vp(linear, F.cross_entropy, tiny_data, vs), hvp(linear, F.cross_entropy, tiny_data, vs)
    )
    model = tiny_mlp()
    v = torch.randn(n_params(model), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert float(v @ ggn_vp(model, F.cross_entropy, tiny_data, v)) >= 0


def diagonal(values: torch.Tensor):
    return lambda v: v * values


def test_lanczos_on_a_diagonal_matrix():
    gen = torch.Generator().manual_seed(0)
    values = torch.tensor([-1.0, 0.5, 2.0, 3.0, 7.0], dtype=torch.float64).repeat_interleave(40)  # P = 200
    theta, weights = lanczos(diagonal(values), torch.randn(200, generator=gen, dtype=torch.float64), 8, generator=gen)
    # m >= the number of distinct eigenvalues: the extremes are exact, the weights a probability vector
    assert theta.max().item() == pytest.approx(7.0, abs=1e-10) and theta.min().item() == pytest.approx(-1.0, abs=1e-10)
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-12) and bool((weights >= 0).all())
    # Hutchinson: Σ_k w_k θ_k = vᵀAv for unit v, whose mean over start vectors is tr(A)/P
    theta, weights = slq(diagonal(values), 200, 8, 64, gen, torch.float64)
    estimates = (weights * theta).sum(dim=1)
    half_width = 3 * estimates.std().item() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - values.mean().item()) <= half_width


def test_full_reorthogonalisation_prevents_ghost_copies():
    values = torch.linspace(0.0, 1.0, 300, dtype=torch.float64) ** 3 * 10  # distinct; the top one isolated
    v0 = torch.randn(300, generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    counts = {}
    for reorth in (True, False):
        theta, _ = lanczos(diagonal(values.float()), v0, 150, reorth=reorth)
        counts[reorth] = int((theta - 10.0).abs().lt(1e-3).sum())
    assert counts[True] == 1  # one copy of λ_max ...
    assert counts[False] > 1  # ... where plain Lanczos (float32) makes ghosts


def test_batched_start_vectors_equal_sequential_ones():
    values = torch.linspace(-1.0, 4.0, 50, dtype=torch.float64)
    a = slq(diagonal(values), 50, 10, 3, torch.Generator().manual_seed(0), torch.float64, batched=True)
    b = slq(diagonal(values), 50, 10, 3, torch.Generator().manual_seed(0), torch.float64, batched=False)
    torch.testing.assert_close(a, b)


def test_slq_density_integrates_to_one():
    theta, weights = torch.tensor([[0.0, 1.0, 3.0]]), torch.tensor([[0.2, 0.5, 0.3]])
    grid = torch.linspace(-5, 8, 4001)
    density = slq_density(theta, weights, grid, 0.1)
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-6)
    assert density[grid.sub(1.0).abs().argmin()] > density[grid.sub(3.0).abs().argmin()]  # more mass at 1 than 3


def test_lambda_max_equals_eigvalsh_of_the_exact_hessian(tiny_data):
    model = tiny_mlp(torch.float32)
    batch = (tiny_data[0].float(), tiny_data[1])
    exact = torch.linalg.eigvalsh(exact_hessian(model, F.cross_entropy, batch).double())[-1].item()
    estimate = batch_lambda_max(model, F.cross_entropy, batch, 64, 1, m=60).item()
    assert abs(estimate - exact) / exact <= 1e-3


def test_batch_hessians_of_a_partition_average_to_h_and_jensen(tiny_data):
    model = tiny_mlp()
    full = exact_hessian(model, F.cross_entropy, tiny_data)
    parts = [
        exact_hessian(model, F.cross_entropy, (tiny_data[0][i], tiny_data[1][i])) for i in torch.arange(64).split(8)
    ]
    torch.testing.assert_close(torch.stack(parts).mean(0), full)
    top = [torch.linalg.eigvalsh(h)[-1].item() for h in parts]
    assert sum(top) / len(top) >= torch.linalg.eigvalsh(full)[-1].item()


def test_batch_lambda_max_is_deterministic_and_falls_with_b(tiny_data):
    model = tiny_mlp()

    def run(b: int) -> torch.Tensor:
        return batch_lambda_max(
            model, F.cross_entropy, tiny_data, b, 6, m=20, generator=torch.Generator().manual_seed(5)
        )

    torch.testing.assert_close(run(4), run(4))
    assert run(4).mean() > run(64).mean()


def test_bad_inputs(tiny_data):
    model = tiny_mlp()
    p = n_params(model)
    op = hessian_operator(model, F.cross_entropy, tiny_data)
    v0 = torch.randn(p, dtype=torch.float64)
    for m in (1, p + 1):
        with pytest.raises(ValueError, match="m must"):
            lanczos(op, v0, m)
    with pytest.raises(ValueError, match="n_v"):
        slq(op, p, 5, 0, torch.Generator())
    for b in (0, 65):
        with pytest.raises(ValueError, match="batch_size"):
            batch_lambda_max(model, F.cross_entropy, tiny_data, b, 1)
    with pytest.raises(ValueError, match="v must"):
        op(torch.ones(p + 1, dtype=torch.float64))
    bn = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10)).double()
    with pytest.raises(ValueError, match="model has train-mode BatchNorm"):
        hvp(bn, F.cross_entropy, tiny_data, torch.zeros(n_params(bn), dtype=torch.float64))
    hvp(bn.eval(), F.cross_entropy, tiny_data, torch.zeros(n_params(bn), dtype=torch.float64))  # eval mode is fine
    with pytest.raises(ValueError, match="at most"):
        exact_hessian(MLP((64, 128, 10)), F.cross_entropy, (tiny_data[0].float(), tiny_data[1]))
