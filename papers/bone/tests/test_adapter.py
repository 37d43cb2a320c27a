"""Bone on whole Hugging Face models: injection, frozen parameters, save/load, merge-and-unload, GPT-2, peft."""

import pytest
import torch
from torch import nn

from paperzoo.bone import (
    LLAMA_TARGETS,
    BoneConfig,
    BoneLinear,
    apply_bone,
    bone_layers,
    bone_state_dict,
    load_bone,
    merge_and_unload,
    merge_bone,
    save_bone,
    trainable_parameter_count,
    unmerge_bone,
)


def randomize_all(model, scale=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in bone_layers(model):
            layer.bone_block.copy_(scale * torch.randn(layer.bone_block.shape, generator=g))
    return model


@pytest.mark.parametrize("variant", ["bat", "bone"])
def test_zero_init_reproduces_base_logits_exactly(tiny_llama, ids, variant):
    base = tiny_llama()
    with torch.no_grad():
        expected = base(input_ids=ids).logits
        model = apply_bone(tiny_llama(), r=4, variant=variant)
        assert torch.equal(model(input_ids=ids).logits, expected)


def test_every_target_wrapped_and_only_blocks_train(tiny_llama):
    model = apply_bone(tiny_llama(), r=4)
    wrapped = dict(bone_layers(model))
    assert sorted(n.rsplit(".", 1)[1] for n in wrapped) == sorted(LLAMA_TARGETS)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(".bone_block") for n in trainable)
    # r d_out per layer: q, k, v, o (16 -> 16), gate, up (16 -> 32), down (32 -> 16)
    assert trainable_parameter_count(model) == 4 * (16 * 4 + 32 * 2 + 16)
    randomize_all(model)
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    model(input_ids=ids).logits.sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not n.endswith("bone_block"))


def test_save_and_load_the_adapter_alone(tiny_llama, ids, tmp_path):
    model = randomize_all(apply_bone(tiny_llama(), r=4, variant="bat"))
    state = bone_state_dict(model)
    assert all(k.endswith(".bone_block") for k in state)
    assert sum(v.numel() for v in state.values()) == trainable_parameter_count(model)
    path = save_bone(model, tmp_path / "adapter.pt")
    restored = load_bone(tiny_llama(), path)
    assert restored.bone_config == model.bone_config
    with torch.no_grad():
        assert torch.equal(restored(input_ids=ids).logits, model(input_ids=ids).logits)
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"config", "state"} and set(saved["state"]) == set(state)  # no base weight is written


def test_load_refuses_a_mismatched_state(tiny_llama):
    from paperzoo.bone import load_bone_state_dict

    model = apply_bone(tiny_llama(), r=4)
    state = bone_state_dict(model)
    state.pop(next(iter(state)))
    with pytest.raises(ValueError, match="missing"):
        load_bone_state_dict(model, state)


@pytest.mark.parametrize("variant", ["bat", "bone"])
def test_merge_and_unload_gives_a_plain_model_with_the_same_logits(tiny_llama, ids, variant):
    model = randomize_all(apply_bone(tiny_llama(), r=4, variant=variant))
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        merge_bone(model)
        torch.testing.assert_close(model(input_ids=ids).logits, adapted, rtol=0, atol=1e-5)
        unmerge_bone(model)
        torch.testing.assert_close(model(input_ids=ids).logits, adapted, rtol=0, atol=1e-5)
        plain = merge_and_unload(model)
        assert not any(isinstance(m, BoneLinear) for m in plain.modules())
        assert isinstance(plain.model.layers[0].self_attn.q_proj, nn.Linear)
        assert type(plain).__name__ == "LlamaForCausalLM" and not hasattr(plain, "bone_config")
        torch.testing.assert_close(plain(input_ids=ids).logits, adapted, rtol=0, atol=1e-5)


def test_gpt2_conv1d_layers_are_handled(ids):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=20, n_positions=48, n_embd=16, n_layer=1, n_head=2,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        apply_bone(model, target_modules=("c_attn", "c_proj", "c_fc"), r=4, variant="bat")
        assert len(dict(bone_layers(model))) == 4  # attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
        assert torch.equal(model(input_ids=ids).logits, expected)
        c_attn = model.transformer.h[0].attn.c_attn
        assert (c_attn.in_features, c_attn.out_features) == (16, 48)  # Conv1D stores (d_in, d_out)
        randomize_all(model)
        adapted = model(input_ids=ids).logits
        assert (adapted - expected).abs().max() > 1e-4
        plain = merge_and_unload(model)
        assert type(plain.transformer.h[0].attn.c_attn).__name__ == "Conv1D"
        torch.testing.assert_close(plain(input_ids=ids).logits, adapted, rtol=0, atol=1e-5)


def test_conv1d_layer_equals_the_transposed_linear_layer():
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    conv = Conv1D(12, 8).double()  # nf = 12 outputs, nx = 8 inputs
    lin = nn.Linear(8, 12).double()
    with torch.no_grad():
        lin.weight.copy_(conv.weight.t())
        lin.bias.copy_(conv.bias)
    a, b = BoneLinear(conv, 4, "bat"), BoneLinear(lin, 4, "bat")
    with torch.no_grad():
        a.bone_block.normal_()
        b.bone_block.copy_(a.bone_block)
    x = torch.randn(3, 8, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=1e-12)
    a.merge()
    torch.testing.assert_close(conv.weight.t(), lin.weight + b.delta_weight(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_modules": ("nothing_here",)}, "matched no module"),
        ({"target_modules": ("self_attn",)}, "LlamaAttention"),
        ({"target_modules": ("q_proj",), "r": 3}, r"q_proj: r must divide"),
        ({"target_modules": ()}, "target_modules"),
    ],
)
def test_injector_refusals(tiny_llama, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_bone(tiny_llama(), **kwargs)


@pytest.mark.parametrize("pattern", [r".*\.(q|v_proj", "[q_proj", r"*_proj"])
def test_a_bad_target_regex_raises_a_value_error_naming_the_argument(tiny_llama, pattern):
    """A ``target_modules`` string that is not a regex: a ValueError naming the argument and re's reason."""
    with pytest.raises(ValueError, match=r"target_modules is not a valid regex \(.+ at position \d+\)") as info:
        BoneConfig(target_modules=pattern)
    assert repr(pattern) in str(info.value)
    with pytest.raises(ValueError, match="target_modules"):
        apply_bone(tiny_llama(), target_modules=pattern, r=4)


def test_injector_refuses_to_wrap_twice_and_regex_targets_work(tiny_llama):
    model = apply_bone(tiny_llama(), BoneConfig(target_modules=r".*\.(q|v)_proj", r=4))
    assert sorted(n.rsplit(".", 1)[1] for n, _ in bone_layers(model)) == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="already carries"):
        apply_bone(model, r=4)


def test_model_equals_peft_miss_bat(tiny_llama, ids):
    """The whole model: ours and peft's MiSS with init_weights='bat' agree given the same blocks."""
    from peft import MissConfig, get_peft_model

    ours = randomize_all(apply_bone(tiny_llama(), r=4, variant="bat"))
    theirs = get_peft_model(tiny_llama(), MissConfig(r=4, init_weights="bat", target_modules=list(LLAMA_TARGETS)))
    with torch.no_grad():
        for name, layer in bone_layers(ours):
            theirs.get_base_model().get_submodule(name).miss_block["default"].copy_(layer.bone_block)
        torch.testing.assert_close(ours(input_ids=ids).logits, theirs(input_ids=ids).logits, rtol=0, atol=1e-6)
    assert trainable_parameter_count(ours) == trainable_parameter_count(theirs)
