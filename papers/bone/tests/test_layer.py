"""BoneLinear against independent dense references, peft's MiSS layer, and its limiting cases."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.bone import BoneLinear, bone_parameter_count, matched_lora_rank
from paperzoo.bone.layer import bat_delta


def linear(d_in, d_out, seed=0, dtype=torch.float64, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out, bias=bias).to(dtype)


def randomize(layer, scale=0.1, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.bone_block.copy_(scale * torch.randn(layer.bone_block.shape, generator=g, dtype=layer.bone_block.dtype))
    return layer


def dense_delta_loop(w, b, variant, r, mini_r=None):
    """Delta built entry block by entry block, straight from the brief's definitions."""
    d_out, d_in = w.shape
    delta = torch.zeros_like(w)
    if variant == "bat":
        for i in range(d_out // r):
            for j in range(d_in // r):
                wij = w[i * r : (i + 1) * r, j * r : (j + 1) * r]
                delta[i * r : (i + 1) * r, j * r : (j + 1) * r] = wij @ b[i] + b[i]
        return delta
    full = b.repeat(1, d_out // mini_r) if variant == "mini" else b
    for o in range(d_out):
        for col in range(d_in):
            delta[o, col] = full[col % r, o]  # Delta[o, j r + c] = B[c, o], the tail included
    return delta


CASES = [("bat", 16, 24, 4, None), ("bone", 16, 24, 4, None), ("bone", 18, 24, 4, None), ("mini", 16, 24, 4, 6)]


@pytest.mark.parametrize(("variant", "d_in", "d_out", "r", "mini_r"), CASES)
def test_zero_init_reproduces_the_base_layer_exactly(variant, d_in, d_out, r, mini_r):
    base = linear(d_in, d_out, dtype=torch.float32)
    x = torch.randn(5, 3, d_in)
    expected = base(x)
    layer = BoneLinear(base, r, variant, mini_r)
    assert torch.equal(layer(x), expected)
    assert torch.equal(layer.delta_weight(), torch.zeros(d_out, d_in))


@pytest.mark.parametrize(("variant", "d_in", "d_out", "r", "mini_r"), CASES)
def test_forward_equals_dense_reconstruction_by_an_independent_loop(variant, d_in, d_out, r, mini_r):
    layer = randomize(BoneLinear(linear(d_in, d_out), r, variant, mini_r))
    w = layer.base.weight.detach().clone()
    delta = dense_delta_loop(w, layer.bone_block.detach(), variant, r, mini_r)
    x = torch.randn(7, d_in, dtype=torch.float64)
    torch.testing.assert_close(layer.delta_weight(), delta, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(x), F.linear(x, w + delta, layer.base.bias), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("variant", "d_in", "d_out", "r", "mini_r"), CASES)
def test_merge_then_unmerge_round_trip(variant, d_in, d_out, r, mini_r):
    layer = randomize(BoneLinear(linear(d_in, d_out, dtype=torch.float32), r, variant, mini_r), scale=0.05)
    w0 = layer.base.weight.detach().clone()
    x = torch.randn(4, d_in)
    before = layer(x)
    layer.merge()
    assert layer.merged
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-5)
    layer.merge()  # merging twice is a no-op
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-5)
    layer.unmerge()
    assert not layer.merged
    torch.testing.assert_close(layer.base.weight, w0, rtol=0, atol=1e-4 if variant == "bat" else 1e-6)
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-5)


def test_bat_unmerge_is_exact_for_large_blocks_in_float64():
    layer = randomize(BoneLinear(linear(32, 16), 8, "bat"), scale=0.5)
    w0 = layer.base.weight.detach().clone()
    layer.merge()
    assert (layer.base.weight - w0).abs().max() > 0.1
    layer.unmerge()
    torch.testing.assert_close(layer.base.weight, w0, rtol=0, atol=1e-12)


def test_bat_with_zero_weight_is_the_plain_block_update():
    base = linear(12, 9, bias=False)
    with torch.no_grad():
        base.weight.zero_()
    layer = randomize(BoneLinear(base, 3, "bat"))
    b = layer.bone_block.detach()
    # W = 0: Delta_{i,j} = B_i for every input block j
    expected = torch.cat([torch.cat([b[i]] * 4, dim=1) for i in range(3)], dim=0)
    torch.testing.assert_close(layer.delta_weight(), expected, rtol=0, atol=0)


def test_bat_multiplies_on_the_right():
    """W_{i,j} B_i differs from B_i W_{i,j}: a left-multiplying implementation fails here."""
    layer = randomize(BoneLinear(linear(4, 4, bias=False), 4, "bat"), scale=1.0)
    w, b = layer.base.weight.detach(), layer.bone_block.detach()[0]
    torch.testing.assert_close(layer.delta_weight(), w @ b + b, rtol=0, atol=1e-12)
    assert (layer.delta_weight() - (b @ w + b)).abs().max() > 1e-3


def test_bone_ragged_tail_pads_the_input():
    """d_in = 10, r = 4: the input is padded to 12; the tail columns 8, 9 get B^T[:, :2]."""
    layer = randomize(BoneLinear(linear(10, 6), 4, "bone"))
    b = layer.bone_block.detach()
    delta = layer.delta_weight()
    torch.testing.assert_close(delta[:, 8:10], b.t()[:, :2], rtol=0, atol=0)
    x = torch.randn(3, 10, dtype=torch.float64)
    padded = F.pad(x, (0, 2))
    summed = padded[:, 0:4] + padded[:, 4:8] + padded[:, 8:12]
    torch.testing.assert_close(layer(x), layer.base(x) + summed @ b, rtol=0, atol=1e-12)


def test_mini_with_full_width_is_bone():
    base = linear(16, 12)
    bone = randomize(BoneLinear(base, 4, "bone"))
    mini = BoneLinear(base, 4, "mini", mini_r=12)
    with torch.no_grad():
        mini.bone_block.copy_(bone.bone_block)
    x = torch.randn(5, 16, dtype=torch.float64)
    torch.testing.assert_close(mini(x), bone(x), rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["bat", "bone"])
def test_only_the_block_receives_gradients(variant):
    layer = randomize(BoneLinear(linear(8, 8), 4, variant))
    layer(torch.randn(3, 8, dtype=torch.float64)).pow(2).sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert not layer.base.weight.requires_grad
    assert layer.bone_block.grad is not None and layer.bone_block.grad.abs().sum() > 0
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["bone_block"]


def test_bat_gradient_matches_finite_differences():
    layer = randomize(BoneLinear(linear(8, 4), 4, "bat"))
    w, bias = layer.base.weight, layer.base.bias
    x = torch.randn(3, 8, dtype=torch.float64)
    block = layer.bone_block.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda b: F.linear(x, w + bat_delta(w, b), bias), (block,))


@pytest.mark.parametrize(("variant", "d_in", "d_out", "r", "mini_r"), [*CASES, ("mini", 16, 24, 4, 24)])
def test_parameter_count(variant, d_in, d_out, r, mini_r):
    layer = BoneLinear(linear(d_in, d_out), r, variant, mini_r)
    expected = r * (mini_r if variant == "mini" else d_out)
    assert layer.bone_block.numel() == expected == bone_parameter_count(d_in, d_out, r, variant, mini_r)


def test_matched_lora_rank():
    assert matched_lora_rank(128, 128, 8) == 4  # r / 2 for a square weight
    assert matched_lora_rank(128, 256, 8) == pytest.approx(8 * 256 / 384)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"r": 5, "variant": "bat"}, "r must divide"),  # 16 x 24 is not cut into 5 x 5 blocks
        ({"r": 0}, "r must be"),
        ({"r": 32, "variant": "bone"}, "r must be <= in_features"),
        ({"r": 4, "variant": "lora"}, "variant"),
        ({"r": 4, "variant": "mini"}, "mini_r must be given"),
        ({"r": 4, "variant": "mini", "mini_r": 5}, "mini_r must divide"),
        ({"r": 4, "variant": "bone", "mini_r": 4}, "mini_r is only used"),
        ({"r": 4, "variant": "bat", "dropout": 0.1}, "dropout"),
        ({"r": 4, "variant": "bone", "dropout": 1.0}, "dropout"),
        ({"r": 4, "init": "normal"}, "init"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoneLinear(linear(16, 24), **kwargs)


def test_bat_refuses_indivisible_output_dimension():
    with pytest.raises(ValueError, match="r must divide"):
        BoneLinear(linear(16, 18), 4, "bat")


def test_unsupported_base_raises():
    with pytest.raises(ValueError, match="base must be"):
        BoneLinear(nn.Conv2d(3, 8, 3), 4)


def test_kaiming_init_changes_the_output():
    torch.manual_seed(0)
    layer = BoneLinear(linear(16, 8), 4, "bone", init="kaiming")
    assert layer.bone_block.abs().sum() > 0
    x = torch.randn(2, 16, dtype=torch.float64)
    assert not torch.allclose(layer(x), layer.base(x))


@pytest.mark.parametrize(
    ("variant", "d_in", "r", "mini_r", "peft_init"),
    [("bat", 16, 4, None, "bat"), ("bone", 16, 4, None, True), ("bone", 18, 4, None, True), ("mini", 16, 4, 6, "mini")],
)
def test_equals_peft_miss_layer(variant, d_in, r, mini_r, peft_init):
    """Our layer and peft's MissLinear agree on forward, merge and unmerge given the same B (float64)."""
    from peft import MissConfig, inject_adapter_in_model

    ours = randomize(BoneLinear(linear(d_in, 24), r, variant, mini_r), scale=0.05)
    theirs = nn.Sequential()
    theirs.add_module("lin", linear(d_in, 24))
    cfg = MissConfig(r=r, init_weights=peft_init, target_modules=["lin"], mini_r=mini_r or 1)
    theirs = inject_adapter_in_model(cfg, theirs)
    with torch.no_grad():
        theirs.lin.miss_block["default"].copy_(ours.bone_block)
    x = torch.randn(6, d_in, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-12)
    ours.merge()
    theirs.lin.merge()
    torch.testing.assert_close(ours.base.weight, theirs.lin.base_layer.weight, rtol=0, atol=1e-12)
    ours.unmerge()
    theirs.lin.unmerge()
    # peft inverts (I + B_i) in float32 whatever the weight dtype; ours solves in float64 here (1e-12, see above).
    torch.testing.assert_close(ours.base.weight, theirs.lin.base_layer.weight, rtol=0, atol=1e-6)
