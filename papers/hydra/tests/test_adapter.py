"""Hydra on whole Hugging Face models: injection on ViT and RoBERTa, frozen parameters, state dict, merge, errors."""

import pytest
import torch

from paperzoo.hydra import (
    ROBERTA_TARGETS,
    HydraConfig,
    HydraLinear,
    apply_hydra,
    hydra_layers,
    hydra_state_dict,
    load_hydra_state_dict,
    merge_and_unload,
    merge_hydra,
    trainable_parameter_count,
    unmerge_hydra,
)


def randomize_all(model, std=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in hydra_layers(model):
            for p in layer.parameters():
                if p.requires_grad:
                    p.copy_(std * torch.randn(p.shape, generator=g))
    return model


def test_vit_zero_init_gives_base_logits_and_only_d_u_train(tiny_vit, images):
    expected = tiny_vit()(pixel_values=images).logits
    model = apply_hydra(tiny_vit(), rank=2, scale=1.5)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=images).logits, expected)
    names = sorted(n for n, _ in hydra_layers(model))
    assert names == [f"vit.layers.{i}.{t}" for i in range(2) for t in ("attention.o_proj", "mlp.fc2")]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(("_down." in n or "_up." in n) for n in trainable)
    # per block: o_proj 16 -> 16: 2 * (2 * 32 + 2 + 16); fc2 64 -> 16: 2 * 80 + 18 + 2 * 32 + 18
    assert trainable_parameter_count(model) == 2 * (2 * (2 * 32 + 18) + (2 * 80 + 18) + (2 * 32 + 18))


def test_roberta_targets_the_two_output_projections():
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=24, hidden_dropout_prob=0.0)  # fmt: skip
    model = RobertaForSequenceClassification(cfg).eval()
    ids = torch.randint(3, 40, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        apply_hydra(model, target_modules=ROBERTA_TARGETS, rank=2, init="kaiming", bias=False)
        assert torch.equal(model(input_ids=ids).logits, expected)
        assert sorted(n.split("layer.")[1] for n, _ in hydra_layers(model)) == [
            "0.attention.output.dense", "0.output.dense", "1.attention.output.dense", "1.output.dense"]  # fmt: skip
        randomize_all(model)
        adapted = model(input_ids=ids).logits
        merge_hydra(model)
        torch.testing.assert_close(model(input_ids=ids).logits, adapted, rtol=0, atol=1e-5)


def test_merge_unmerge_and_merge_and_unload_on_the_vit(tiny_vit, images):
    model = randomize_all(apply_hydra(tiny_vit(), rank=2, scale=0.8))
    base_state = {k: v.clone() for k, v in tiny_vit().state_dict().items()}
    with torch.no_grad():
        adapted = model(pixel_values=images).logits
        assert (adapted - tiny_vit()(pixel_values=images).logits).abs().max() > 1e-4
        merge_hydra(model)
        torch.testing.assert_close(model(pixel_values=images).logits, adapted, rtol=0, atol=1e-5)
        unmerge_hydra(model)
        for name, layer in hydra_layers(model):
            torch.testing.assert_close(layer.base.weight, base_state[f"{name}.weight"], rtol=0, atol=1e-5)
            torch.testing.assert_close(layer.base.bias, base_state[f"{name}.bias"], rtol=0, atol=1e-5)
        plain = merge_and_unload(model)
        assert not any(isinstance(m, HydraLinear) for m in plain.modules()) and not hasattr(plain, "hydra_config")
        assert sum(p.numel() for p in plain.parameters()) == sum(v.numel() for v in base_state.values())
        torch.testing.assert_close(plain(pixel_values=images).logits, adapted, rtol=0, atol=1e-5)


def test_adapter_state_dict_round_trip(tiny_vit, images):
    model = randomize_all(apply_hydra(tiny_vit(), rank=2))
    state = hydra_state_dict(model)
    assert all(".base." not in k for k in state)
    assert sum(v.numel() for v in state.values()) == trainable_parameter_count(model)
    fresh = apply_hydra(tiny_vit(), rank=2)
    merge_hydra(fresh)  # loading into a merged model re-merges with the new branches
    load_hydra_state_dict(fresh, state)
    with torch.no_grad():
        torch.testing.assert_close(fresh(pixel_values=images).logits, model(pixel_values=images).logits,
                                   rtol=0, atol=1e-5)  # fmt: skip
    state.pop(next(iter(state)))
    with pytest.raises(ValueError, match="missing"):
        load_hydra_state_dict(fresh, state)


def test_rank_pattern_overrides_a_target():
    config = HydraConfig(rank=2, rank_pattern={"fc2": 3})
    assert config.rank_for("vit.layers.0.mlp.fc2") == 3 and config.rank_for("vit.layers.0.attention.o_proj") == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_modules": ("nothing_here",)}, "target_modules .* matched no module"),
        ({"target_modules": ("attention",)}, "target_modules matched"),
        ({"target_modules": ("fc2",), "rank": 40}, "fc2: rank must be"),
        ({"target_modules": "[fc2"}, "target_modules is not a valid regex"),
        ({"branches": ("par", "tail")}, "branches"),
        ({"init": "normal"}, "init"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_injector_refusals(tiny_vit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_hydra(tiny_vit(), **kwargs)


def test_injector_refuses_to_wrap_twice(tiny_vit):
    model = apply_hydra(tiny_vit(), rank=2)
    with pytest.raises(ValueError, match="already carries"):
        apply_hydra(model, rank=2)
