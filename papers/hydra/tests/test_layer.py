"""HydraLinear against its limiting cases, an independent dense reference, peft's LoRA layer, merge/unmerge."""

import pytest
import torch
from torch import nn

from paperzoo.hydra import HydraLinear, hydra_parameter_count


def linear(d_in=12, d_out=8, seed=0, dtype=torch.float64, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out, bias=bias).to(dtype)


def randomize(layer, std=0.2, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            if p.requires_grad:
                p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return layer


@pytest.mark.parametrize("init", ["xavier", "kaiming"])
@pytest.mark.parametrize("branches", [("par", "seq"), ("par",), ("seq",)])
def test_zero_up_projection_gives_the_base_layer_exactly(init, branches):
    base = linear(dtype=torch.float32)
    x = torch.randn(5, 3, 12)
    expected = base(x)
    layer = HydraLinear(base, 3, scale=2.0, branches=branches, init=init)
    assert torch.equal(layer(x), expected)
    assert all(layer.get_submodule(f"{b}_down").weight.abs().sum() > 0 for b in branches)  # D is not zero


def test_forward_equals_the_paper_formula_built_by_hand():
    """y = W0 x + b0 + s (U_p(D_p x + b_Dp) + b_Up) + s (U_s(D_s h + b_Ds) + b_Us), h = W0 x + b0."""
    layer = randomize(HydraLinear(linear(), 3, scale=0.7))
    x = torch.randn(4, 12, dtype=torch.float64)
    p = {n: t.detach() for n, t in layer.named_parameters()}
    h = x @ p["base.weight"].T + p["base.bias"]
    par = (x @ p["par_down.weight"].T + p["par_down.bias"]) @ p["par_up.weight"].T + p["par_up.bias"]
    seq = (h @ p["seq_down.weight"].T + p["seq_down.bias"]) @ p["seq_up.weight"].T + p["seq_up.bias"]
    torch.testing.assert_close(layer(x), h + 0.7 * par + 0.7 * seq, rtol=0, atol=1e-12)


def test_parallel_only_equals_peft_lora_with_lora_bias():
    from peft import LoraConfig, inject_adapter_in_model

    holder = nn.Sequential()
    holder.add_module("lin", linear())
    ours = randomize(HydraLinear(linear(), 3, scale=0.5, branches=("par",)))
    with torch.no_grad():
        ours.par_down.bias.zero_()  # peft's lora_A has no bias
        inject_adapter_in_model(LoraConfig(r=3, lora_alpha=1.5, target_modules=["lin"], lora_bias=True), holder)
        holder.lin.lora_A["default"].weight.copy_(ours.par_down.weight)
        holder.lin.lora_B["default"].weight.copy_(ours.par_up.weight)
        holder.lin.lora_B["default"].bias.copy_(ours.par_up.bias)
    x = torch.randn(5, 12, dtype=torch.float64)
    torch.testing.assert_close(ours(x), holder(x), rtol=0, atol=1e-12)


def test_sequential_only_applies_identity_plus_low_rank_after_the_base_layer():
    layer = randomize(HydraLinear(linear(), 2, scale=1.3, branches=("seq",)))
    x = torch.randn(5, 12, dtype=torch.float64)
    w_s = (layer.seq_up.weight @ layer.seq_down.weight).detach()
    c = (layer.seq_up.weight @ layer.seq_down.bias + layer.seq_up.bias).detach()
    h = layer.base(x).detach()
    expected = h @ (torch.eye(8, dtype=torch.float64) + 1.3 * w_s).T + 1.3 * c
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("branches", [("par", "seq"), ("par",), ("seq",)])
def test_merge_equals_unmerged_and_unmerge_restores_w0_b0(branches):
    layer = randomize(HydraLinear(linear(dtype=torch.float32), 3, scale=0.9, branches=branches))
    w0, b0 = layer.base.weight.clone(), layer.base.bias.clone()
    x = torch.randn(6, 12)
    with torch.no_grad():
        y = layer(x)
        layer.merge()
        assert layer.merged and not torch.equal(layer.base.weight, w0) and not torch.equal(layer.base.bias, b0)
        torch.testing.assert_close(layer.base(x), y, rtol=0, atol=1e-5)
        torch.testing.assert_close(layer(x), y, rtol=0, atol=1e-5)
        layer.unmerge()
    torch.testing.assert_close(layer.base.weight, w0, rtol=0, atol=1e-5)
    torch.testing.assert_close(layer.base.bias, b0, rtol=0, atol=1e-5)


def test_merge_is_the_out_in_formula_not_the_official_attention_merge():
    """W' = W0 + s (U_p D_p + U_s D_s W0): the sequential term multiplies W0 on the left in (out, in) form."""
    layer = randomize(HydraLinear(linear(), 3, scale=0.6))
    w0 = layer.base.weight.detach().clone()
    w_p = (layer.par_up.weight @ layer.par_down.weight).detach()
    w_s = (layer.seq_up.weight @ layer.seq_down.weight).detach()
    layer.merge()
    torch.testing.assert_close(layer.base.weight, w0 + 0.6 * (w_p + w_s @ w0), rtol=0, atol=1e-12)


def test_dropout_is_off_in_eval_and_only_branches_train():
    layer = randomize(HydraLinear(linear(dtype=torch.float32), 3, dropout=0.5))
    x = torch.randn(64, 12)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
    names = (f"{b}_{w}.{k}" for b in ("par", "seq") for w in ("down", "up") for k in ("weight", "bias"))
    assert trainable == sorted(names)
    layer(x).sum().backward()
    assert layer.base.weight.grad is None and layer.seq_down.weight.grad.abs().sum() > 0


def test_parameter_counts():
    for branches, bias in ((("par", "seq"), True), (("par",), True), (("seq",), False)):
        layer = HydraLinear(linear(12, 8), 3, branches=branches, bias=bias)
        counted = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        assert counted == hydra_parameter_count(12, 8, 3, branches, bias)
    # by hand: par 3 (12 + 8) + 3 + 8 = 71, seq 3 (8 + 8) + 3 + 8 = 59
    assert hydra_parameter_count(12, 8, 3) == 130


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank": 0}, "rank"),
        ({"rank": 9}, "rank"),
        ({"branches": ("par", "skip")}, "branches"),
        ({"branches": ()}, "branches"),
        ({"init": "orthogonal"}, "init"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"scale": float("nan")}, "scale"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HydraLinear(linear(12, 8), **{"rank": 2, **kwargs})


def test_base_must_be_a_linear_layer():
    with pytest.raises(ValueError, match="base"):
        HydraLinear(nn.Conv1d(3, 3, 1), 1)
