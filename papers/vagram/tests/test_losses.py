"""The VaGraM loss: limiting cases, a hand-computed value, the Taylor bound, invariance, clipping, bad input."""

import numpy as np
import pytest
import torch

from paperzoo.vagram import NormScale, clip_value_gradients, mse_loss, state_gradients, vagram_loss
from paperzoo.vagram.losses import ValueWeights, batch_quantile


def _batch(e: int | None = 3, b: int = 32, d: int = 4, k: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shape = (b, d + 1) if e is None else (e, b, d + 1)
    pred = torch.randn(shape, generator=gen, requires_grad=True)
    target = torch.randn(b, d + 1, generator=gen)
    grads = torch.randn(k, b, d, generator=gen)
    return pred, target, grads


@pytest.mark.parametrize("e", [None, 3])
def test_unit_gradients_give_the_mse_on_the_same_reduction(e):
    pred, target, grads = _batch(e)
    for clip in (None, 0.95):
        assert torch.allclose(vagram_loss(pred, target, torch.ones_like(grads), clip), mse_loss(pred, target))


def test_hand_computed_value():
    # K = 2, B = 2, D = 2, no clipping: mean over (B, D) of (1/K) sum_k (g_kj e_j)^2 + (r_hat - r)^2
    pred = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    grads = torch.tensor([[[1.0, 2.0], [0.5, 0.0]], [[3.0, 0.0], [1.0, 1.0]]])
    e = np.array([[1.0, 2.0], [-1.0, -2.0]])
    g = grads.numpy()
    state = ((g * e) ** 2).mean(0)  # (B, D)
    expected = (state + np.array([[0.25], [1.0]])).mean()
    assert float(vagram_loss(pred, target, grads, clip_quantile=None)) == pytest.approx(expected)
    taylor = (((g * e).sum(-1)) ** 2).mean(0) + np.array([0.25, 1.0])
    assert float(vagram_loss(pred, target, grads, None, taylor=True)) == pytest.approx(taylor.mean())


def test_zero_gradient_dimension_gets_no_model_gradient():
    pred, target, grads = _batch()
    grads[..., 2] = 0.0
    vagram_loss(pred, target, grads).backward()
    assert torch.all(pred.grad[..., 2] == 0)
    assert torch.all(pred.grad[..., [0, 1, 3, 4]].abs().sum((0, 1)) > 0)  # the reward head (last) is trained


def test_taylor_term_is_bounded_by_vagram():
    # (g^T e)^2 <= D ||g * e||^2 per sample; on the losses (reward error 0): taylor <= D^2 * vagram (mean over D)
    pred, target, grads = _batch(e=None, d=6)
    target = target.clone()
    target[:, -1] = pred[:, -1].detach()
    taylor = vagram_loss(pred, target, grads, None, taylor=True)
    vagram = vagram_loss(pred, target, grads, None)
    assert float(taylor) <= 36 * float(vagram) + 1e-6
    g, err = grads, (pred - target)[:, :-1].detach()
    assert torch.all((g * err).sum(-1) ** 2 <= 6 * (g * err).square().sum(-1) + 1e-5)


def test_rescaling_a_state_dimension_leaves_the_loss_unchanged():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    def values(s):
        return critic(s).T

    scale = torch.tensor([1.0, 50.0, 1.0])

    def scaled_values(s):  # the same critic, reading the rescaled coordinates s * c
        return critic(s / scale).T

    s_next = torch.randn(64, 3)
    pred = torch.randn(64, 4)
    target = torch.cat([s_next, torch.randn(64, 1)], 1)
    c = torch.cat([scale, torch.ones(1)])
    loss = vagram_loss(pred, target, state_gradients(values, s_next), clip_quantile=None)
    rescaled = vagram_loss(pred * c, target * c, state_gradients(scaled_values, s_next * scale), clip_quantile=None)
    assert float(rescaled) == pytest.approx(float(loss), rel=1e-5)
    assert float(mse_loss(pred * c, target * c)) > 10 * float(mse_loss(pred, target))  # the MSE is not invariant


def test_clipping_bounds_norms_at_the_batch_quantile():
    grads = torch.randn(4, 200, 5) * torch.linspace(0.1, 10, 200).reshape(1, -1, 1)
    clipped, norms = clip_value_gradients(grads, 0.9)
    q = torch.as_tensor(np.quantile(norms.numpy(), 0.9, axis=1), dtype=torch.float32)
    new = torch.linalg.vector_norm(clipped, dim=-1)
    assert torch.all(new <= q[:, None] * (1 + 1e-5))
    below = norms < q[:, None]
    assert torch.equal(clipped[below], grads[below])
    assert torch.allclose(new[~below], q[:, None].expand_as(new)[~below])
    cos = torch.nn.functional.cosine_similarity(clipped, grads, dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)  # directions kept


def test_running_norm_scale_update_formula():
    scale = NormScale(momentum=0.9)
    grads = torch.stack([torch.full((3, 2), 1.0), torch.full((3, 2), 2.0)])
    norms = torch.linalg.vector_norm(grads, dim=-1)
    out = scale.rescale(grads, norms)
    m1 = 0.9 * 1.0 + 0.1 * np.sqrt(2)
    m2 = 0.9 * m1 + 0.1 * 2 * np.sqrt(2)
    assert scale.value == pytest.approx(m2)
    assert torch.allclose(out[0], grads[0] / m1) and torch.allclose(out[1], grads[1] / m2)


def test_norm_scale_mode_sums_over_value_functions_and_replaces_nan():
    pred, target, grads = _batch(e=None, k=2)
    grads[1] = grads[0]
    plain = vagram_loss(pred, target, grads, None)
    scaled = vagram_loss(pred, target, grads, None, norm_scale=NormScale(momentum=0.0, value=1.0))
    # momentum 0: m = mean norm; identical value functions: sum over K = 2 x the mean
    m = float(torch.linalg.vector_norm(grads[0], dim=-1).mean())
    reward = float((pred - target)[:, -1].square().mean())
    assert float(scaled) - reward == pytest.approx(2 * (float(plain) - reward) / m**2, rel=1e-4)
    grads[0, 0, 0] = float("nan")
    assert torch.isfinite(vagram_loss(pred, target, grads, norm_scale=NormScale()))


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan")])
def test_bad_clip_quantile(bad):
    pred, target, grads = _batch()
    with pytest.raises(ValueError, match="clip_quantile"):
        vagram_loss(pred, target, grads, clip_quantile=bad)


@pytest.mark.parametrize("bad", [1.0, -0.1, 2.0])
def test_bad_norm_scale_momentum(bad):
    with pytest.raises(ValueError, match="momentum"):
        NormScale(momentum=bad)


def test_mismatched_shapes():
    pred, target, grads = _batch()
    with pytest.raises(ValueError, match="grads"):
        vagram_loss(pred, target, grads[..., :-1])
    with pytest.raises(ValueError, match="target"):
        vagram_loss(pred, target[:, :-1], grads)
    with pytest.raises(ValueError, match="pred"):
        mse_loss(pred[0, 0], target)
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(pred, target, reduction="sum")


def test_batch_quantile_is_torch_quantile():
    gen = torch.Generator().manual_seed(0)
    for n in (1, 2, 7, 20, 1792):
        x = torch.rand(4, n, generator=gen)
        x[0, : n // 2] = x[0, 0]  # ties
        for q in (0.0, 0.3, 0.95, 1.0):
            # the same order statistics and interpolation (torch's kernel rounds differently: up to 1 ulp)
            torch.testing.assert_close(batch_quantile(x, q), torch.quantile(x, q, dim=-1), rtol=2.5e-7, atol=0)
            expected = torch.quantile(x.T, q, dim=0)
            torch.testing.assert_close(batch_quantile(x.T, q, dim=0), expected, rtol=2.5e-7, atol=0)
    x[1, 3] = float("nan")
    expected = torch.quantile(x, 0.95, dim=-1)
    torch.testing.assert_close(batch_quantile(x, 0.95), expected, rtol=2.5e-7, atol=0, equal_nan=True)
    assert expected[1].isnan() and not expected[0].isnan()


def _spread_grads(k=4, n=300, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, d, generator=gen) * torch.rand(1, n, 1, generator=gen).mul(10).exp()  # norms over e^10


@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("clip", [None, 0.95, 0.5])
def test_precomputed_weights_equal_the_reference_reduction(per_member, clip):
    # the fast path (g^2 and norms once per round, mse with weights per minibatch) vs vagram_loss on gathered g
    grads = _spread_grads()
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(300, (5, 40) if per_member else (40,), generator=gen)
    pred = torch.randn(5, 40, 7, generator=gen, requires_grad=True)
    target = torch.randn(*idx.shape, 7, generator=gen)
    weights = ValueWeights(grads, clip)(idx)
    for reduction in ("mean", "member"):
        ref = vagram_loss(pred, target, grads[:, idx], clip, reduction=reduction)
        fast = mse_loss(pred, target, reduction, weights)
        torch.testing.assert_close(fast, ref, rtol=1e-6, atol=0)
    (ref_grad,) = torch.autograd.grad(vagram_loss(pred, target, grads[:, idx], clip), pred)
    (fast_grad,) = torch.autograd.grad(mse_loss(pred, target, weights=weights), pred)
    torch.testing.assert_close(fast_grad, ref_grad, rtol=1e-5, atol=1e-9)
    assert not torch.allclose(mse_loss(pred, target), mse_loss(pred, target, weights=weights))


def test_precomputed_weights_follow_the_running_norm_scale_and_nan_rule():
    grads = _spread_grads(n=100)
    grads[2, 5, 1] = float("nan")
    reference, fast = NormScale(momentum=0.9), NormScale(momentum=0.9)
    weights = ValueWeights(grads, 0.95, replace_nan=True)
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):  # the scale carries over from batch to batch
        idx = torch.cat([torch.tensor([5]), torch.randint(100, (31,), generator=gen)])
        pred, target = torch.randn(32, 7, generator=gen), torch.randn(32, 7, generator=gen)
        ref = vagram_loss(pred, target, grads[:, idx], 0.95, norm_scale=reference)
        torch.testing.assert_close(mse_loss(pred, target, weights=weights(idx, fast)), ref, rtol=1e-5, atol=0)
        assert torch.isfinite(ref) and fast.value == pytest.approx(reference.value, rel=1e-6)


@pytest.mark.parametrize("scaled", [False, True])
def test_an_epochs_weights_at_once_equal_the_minibatch_weights(scaled):
    # (n, E, b) minibatches at once: the quantile within each minibatch, the running scale updated in order
    grads = _spread_grads()
    if scaled:
        grads[1, 7, 2] = float("nan")
    weights = ValueWeights(grads, 0.9, replace_nan=scaled)
    batches = torch.randint(300, (4, 3, 50), generator=torch.Generator().manual_seed(3))
    one, at_once = (NormScale(momentum=0.5) if scaled else None for _ in range(2))
    expected = torch.stack([weights(idx, one) for idx in batches])
    assert torch.equal(weights.minibatches(batches, at_once), expected)
    if scaled:
        assert at_once.value == one.value
    else:  # not the quantile over the whole epoch
        assert not torch.allclose(expected[0], weights(batches.reshape(-1, 50))[:3])


def test_bad_precomputed_weights():
    with pytest.raises(ValueError, match="grads"):
        ValueWeights(torch.ones(4, 10))
    with pytest.raises(ValueError, match="clip_quantile"):
        ValueWeights(torch.ones(4, 10, 3), clip_quantile=0.0)
    pred, target, _ = _batch()
    with pytest.raises(ValueError, match="weights"):
        mse_loss(pred, target, weights=torch.ones(32, 3))
