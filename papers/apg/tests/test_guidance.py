"""APG's guidance: reductions, the projection's invariants, rescale, momentum, dtype, bad input, and agreement
with diffusers' independent ``normalized_guidance`` (root dev group), never used by our code."""

import pytest
import torch
from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer as DiffusersBuffer
from diffusers.guiders.adaptive_projected_guidance import normalized_guidance

from paperzoo.apg import MomentumBuffer, apg_guidance, cfg_guidance, project, rescale

SHAPES = [(6, 2), (5, 3, 4, 4)]


def pair(shape, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("w", [0.0, 3.0, 12.5])
def test_eta1_no_rescale_no_momentum_is_cfg(shape, w):
    dc, du = pair(shape)
    expected = du + w * (dc - du)
    torch.testing.assert_close(apg_guidance(dc, du, w, eta=1.0, r=0.0), expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(cfg_guidance(dc, du, w), expected, rtol=0, atol=1e-12)
    # beta = 0: the buffer passes Delta through
    torch.testing.assert_close(apg_guidance(dc, du, w, 1.0, 0.0, MomentumBuffer(0.0)), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_w1_gives_d_cond(shape):
    dc, du = pair(shape)
    assert torch.equal(apg_guidance(dc, du, 1.0, eta=0.3, r=0.5, momentum_buffer=MomentumBuffer(-0.5)), dc)


def test_eta0_is_the_orthogonal_update_by_hand():
    dc = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    du = torch.tensor([[0.0, -1.0], [1.0, 1.0]], dtype=torch.float64)  # Delta = [1, 1], [-1, 1]
    out = apg_guidance(dc, du, 3.0, eta=0.0)
    # the parts orthogonal to D_c: [0, 1] and [-1, 0], times w - 1 = 2
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0], [-2.0, 2.0]], dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES)
def test_parts_sum_to_delta_and_orthogonal_part_is_orthogonal_per_sample(shape):
    dc, delta = pair(shape, seed=1)
    dc[0] *= 100.0  # scales differ between samples: the norms are per sample
    par, orth = project(delta, dc)
    torch.testing.assert_close(par + orth, delta, rtol=0, atol=1e-12)
    dots = (orth * dc).flatten(1).sum(1)
    assert dots.abs().max() < 1e-10
    # the parallel part is a multiple of D_c per sample
    cos = torch.nn.functional.cosine_similarity(par.flatten(1), dc.flatten(1), dim=1).abs()
    torch.testing.assert_close(cos, torch.ones(len(dc), dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES)
def test_rescale_caps_the_norm_and_leaves_small_updates(shape):
    delta = pair(shape, seed=2)[0]
    norms = delta.flatten(1).norm(dim=1)
    r = float(norms.median())
    out = rescale(delta, r)
    out_norms = out.flatten(1).norm(dim=1)
    assert (out_norms <= r + 1e-12).all()
    small = norms <= r
    assert torch.equal(out[small], delta[small])
    torch.testing.assert_close(out_norms[~small], torch.full_like(out_norms[~small], r))
    assert torch.equal(rescale(delta, 0.0), delta)


def test_momentum_recursion_on_a_scripted_sequence():
    beta = -0.5
    buffer = MomentumBuffer(beta)
    deltas = [torch.full((1, 2), v, dtype=torch.float64) for v in (1.0, 2.0, -1.0, 4.0)]
    m = torch.zeros(1, 2, dtype=torch.float64)
    for d in deltas:
        m = d + beta * m
        torch.testing.assert_close(buffer.update(d), m, rtol=0, atol=0)
    # 1; 2 - 0.5 = 1.5; -1 - 0.75 = -1.75; 4 + 0.875 = 4.875
    assert m[0, 0].item() == 4.875
    buffer.reset()
    assert torch.equal(buffer.update(deltas[0]), deltas[0])


def test_dtype_is_kept():
    dc, du = pair((4, 8, 8), dtype=torch.float32)
    out = apg_guidance(dc, du, 5.0, eta=0.0, r=1.0, momentum_buffer=MomentumBuffer(-0.5))
    assert out.dtype == torch.float32
    assert cfg_guidance(dc, du, 5.0).dtype == torch.float32


def test_samples_are_independent():
    dc, du = pair((6, 3, 4, 4), seed=3)
    full = apg_guidance(dc, du, 8.0, eta=0.2, r=1.5)
    alone = torch.cat([apg_guidance(dc[i : i + 1], du[i : i + 1], 8.0, eta=0.2, r=1.5) for i in range(len(dc))])
    torch.testing.assert_close(full, alone, rtol=0, atol=1e-12)
    dc2 = dc.clone()
    dc2[1:] *= 7.0  # changing the other samples leaves sample 0 alone
    torch.testing.assert_close(apg_guidance(dc2, du, 8.0, eta=0.2, r=1.5)[0], full[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("trial", range(6))
def test_equals_diffusers_normalized_guidance(trial):
    """Ours at w equals diffusers' normalized_guidance at guidance_scale w - 1 with use_original_formulation."""
    gen = torch.Generator().manual_seed(100 + trial)
    shape = SHAPES[trial % 2]
    w = float(torch.empty(()).uniform_(1.0, 15.0, generator=gen))
    eta = float(torch.rand((), generator=gen))
    r = 0.0 if trial == 0 else float(torch.empty(()).uniform_(0.1, 3.0, generator=gen))
    beta = float(torch.empty(()).uniform_(-0.9, 0.9, generator=gen))
    ours, theirs = MomentumBuffer(beta), DiffusersBuffer(beta)
    for step in range(4):  # a short trajectory, so that the momentum matters
        dc, du = pair(shape, seed=1000 * trial + step)
        a = apg_guidance(dc, du, w, eta=eta, r=r, momentum_buffer=ours)
        b = normalized_guidance(dc, du, w - 1.0, theirs, eta, r, use_original_formulation=True)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"w": -1.0}, "w"), ({"r": -0.1}, "r"), ({"eta": float("nan")}, "eta")],
)
def test_bad_scalars_raise(kwargs, name):
    dc, du = pair((2, 3))
    args = {"w": 2.0, "eta": 0.0, "r": 0.0} | kwargs
    with pytest.raises(ValueError, match=name):
        apg_guidance(dc, du, **args)


@pytest.mark.parametrize("beta", [-1.0, 1.0, 1.5])
def test_bad_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        MomentumBuffer(beta)


def test_bad_shapes_raise():
    dc, du = pair((2, 3))
    with pytest.raises(ValueError, match="d_uncond"):
        apg_guidance(dc, du[:, :2], 2.0)
    with pytest.raises(ValueError, match="d_cond"):
        apg_guidance(dc[0], du[0], 2.0)
    with pytest.raises(ValueError, match="d_uncond"):
        cfg_guidance(dc, du[:1], 2.0)
    with pytest.raises(ValueError, match="w"):
        cfg_guidance(dc, du, -2.0)
