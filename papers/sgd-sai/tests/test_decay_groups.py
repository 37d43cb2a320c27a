"""The transformer benchmarks' weight decay: every arm of the ViT and of the char transformer decays only tensors
with ndim >= 2 (nanoGPT, the official GPT-2 script, timm), checked in the optimizer each run really builds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paperzoo.sgd_sai import experiment, lm
from paperzoo.sgd_sai.bench import BENCHMARK, TransformerConfig
from paperzoo.sgd_sai.language import ALPHABET
from paperzoo.sgd_sai.models import CharTransformer
from paperzoo.sgd_sai.optimizer import SGDSaI
from paperzoo.sgd_sai.training import OPTIMIZERS, make_transformer_optimizer
from paperzoo.shared.testbeds.classify import History, TinyViT


def _decay_of(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict[str, float]:
    decay = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    return {name: decay[id(p)] for name, p in model.named_parameters()}


def _assert_matrices_only(optimizer: torch.optim.Optimizer, model: torch.nn.Module, wd: float) -> None:
    decay = _decay_of(optimizer, model)
    assert len(decay) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        assert decay[name] == (wd if p.ndim >= 2 else 0.0), name
    undecayed = {name for name, value in decay.items() if value == 0.0}
    assert undecayed and all(name.endswith("bias") or "norm" in name for name in undecayed)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("make_model", [TinyViT, lambda: CharTransformer(len(ALPHABET))])
def test_transformer_optimizer_decays_matrices_only(opt, make_model):
    model = make_model()
    optimizer = make_transformer_optimizer(opt, model, 1e-2, 0.1, implementation="foreach")
    _assert_matrices_only(optimizer, model, 0.1)
    if opt == "sgd_sai":
        assert isinstance(optimizer, SGDSaI)


def test_groups_do_not_change_the_g_snr_scaling():
    # SGD-SaI's step size is per tensor whatever its group: the same scales with and without the grouping
    torch.manual_seed(0)
    grouped, flat = TinyViT(), TinyViT()
    flat.load_state_dict(grouped.state_dict())
    x, y = torch.randn(16, 1, 8, 8), torch.randint(10, (16,))
    optimizers = []
    for model, params in ((grouped, None), (flat, "flat")):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt = (
            make_transformer_optimizer("sgd_sai", model, 1e-3, 0.0, "foreach")
            if params is None
            else SGDSaI(model.parameters(), lr=1e-3, weight_decay=0.0, implementation="foreach")
        )
        opt.step()
        optimizers.append(opt)
    for p, q in zip(grouped.parameters(), flat.parameters(), strict=True):
        assert optimizers[0].lr_scale(p) == optimizers[1].lr_scale(q)
        assert torch.equal(p, q)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_every_vit_and_lm_run_builds_the_grouped_optimizer(monkeypatch, opt):
    built = []

    def fake_classifier(model, make_optimizer, *args, **kwargs):
        built.append((model, make_optimizer(list(model.parameters()))))
        return History([1.0], [0.5], [1.0], [0.5])

    def fake_lm(model, make_optimizer, *args, **kwargs):
        built.append((model, make_optimizer(list(model.parameters()))))
        return lm.LMHistory([1.0], [0.5], [1.0])

    monkeypatch.setattr(experiment, "train_classifier", fake_classifier)
    monkeypatch.setattr(experiment, "train_lm", fake_lm)
    config = dataclasses.replace(TransformerConfig(), lm_context=16, lm_train_chars=2_000, lm_eval_chars=512)
    experiment.run_vit(config, 0, 1e-3, opt)
    experiment.run_lm(config, 0, 1e-2, opt, lm.lm_data(config))
    (vit, vit_opt), (char, lm_opt) = built
    assert isinstance(vit, TinyViT) and isinstance(char, CharTransformer)
    _assert_matrices_only(vit_opt, vit, dict(config.vit_weight_decay)[opt])
    _assert_matrices_only(lm_opt, char, dict(config.lm_weight_decay)[opt])


def test_every_vit_arm_has_the_same_longer_budget():
    config = BENCHMARK.scales["full"]
    assert config.vit_epochs >= 40  # SGD-SaI leaves the chance plateau late (the paper: slower on ViT)
