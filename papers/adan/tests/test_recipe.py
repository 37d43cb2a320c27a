"""The full scale's ViT protocol (Adan's ViT recipe at digits scale, for both optimizers): the optimizer's decay
groups, the shift augmentation, label smoothing and the warm-up, as the runs really build them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paperzoo.adan import experiment
from paperzoo.adan.bench import BENCHMARK, DigitsConfig
from paperzoo.adan.optimizer import Adan
from paperzoo.adan.training import OPTIMIZERS, make_model, make_recipe_optimizer, shift_augmentation
from paperzoo.shared.testbeds.classify import History, TinyViT


def _decay_of(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict[str, float]:
    """Each named parameter's weight decay in ``optimizer``."""
    decay = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    return {name: decay[id(p)] for name, p in model.named_parameters()}


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_recipe_optimizer_decays_matrices_only(opt):
    model = make_model("vit")
    optimizer = make_recipe_optimizer(opt, model, 1e-3, 0.05, implementation="foreach")
    decay = _decay_of(optimizer, model)
    assert len(decay) == len(list(model.parameters()))  # every parameter in exactly one group
    for name, p in model.named_parameters():
        assert decay[name] == (0.05 if p.ndim >= 2 else 0.0), name
    # the 1-D tensors are the biases and the LayerNorm gains and shifts
    undecayed = {name for name, wd in decay.items() if wd == 0.0}
    assert undecayed and all(name.endswith("bias") or "norm" in name for name in undecayed)
    assert "head.weight" not in undecayed and "blocks.layers.0.self_attn.in_proj_weight" not in undecayed
    if opt == "adan":
        assert isinstance(optimizer, Adan) and all(g["betas"] == (0.98, 0.92, 0.99) for g in optimizer.param_groups)
        assert not any(g["no_prox"] for g in optimizer.param_groups)  # proximal decay


def test_shift_augmentation_moves_by_at_most_the_shift_and_is_seeded():
    assert shift_augmentation(0) is None
    augment = shift_augmentation(1)
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3, 4] = 1.0  # one lit pixel per image
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.all(out.sum((1, 2, 3)) == 1.0)  # an interior pixel stays in the image
    rows, cols = out[:, 0].flatten(1).argmax(1).div(8, rounding_mode="floor"), out[:, 0].flatten(1).argmax(1) % 8
    assert set(rows.tolist()) == {2, 3, 4} and set(cols.tolist()) == {3, 4, 5}  # every shift in [-1, 1] drawn
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(0)))


def test_vit_warmup_is_the_recipes_share_of_e_for_every_arm():
    config = DigitsConfig()
    assert (config.vit_max_shift, config.vit_label_smoothing) == (1, 0.1)
    # the recipe: 60 warm-up epochs at 150 (Adan's half budget) and at 300 (AdamW's)
    assert config.warmup_fraction_of("vit", "half") == pytest.approx(0.4)
    assert config.warmup_fraction_of("vit", "full") == pytest.approx(0.2)
    warmup_epochs = {b: config.warmup_fraction_of("vit", b) * config.budget_epochs(b) for b in ("half", "full")}
    assert warmup_epochs["half"] == pytest.approx(warmup_epochs["full"]) == pytest.approx(0.2 * config.epochs)
    assert config.warmup_fraction_of("cnn", "half") == config.warmup_fraction_of("cnn", "full") == 0.1


def test_vit_grids_contain_the_defaults_and_are_the_same_size():
    config = BENCHMARK.scales["full"]
    grids = config.lr_grid("vit")
    assert len(grids["adan"]) == len(grids["adamw"]) >= 3
    assert 1e-2 in grids["adan"] and 1e-3 in grids["adamw"]  # the authors' / AdamW's usual rates inside


def _capture_runs(monkeypatch, config: DigitsConfig) -> list[dict]:
    """Run ``run_full`` with ``train_classifier`` replaced by a recorder of what each run was given."""
    calls = []

    def fake_train(model, make_optimizer, data, epochs, batch_size, seed, make_scheduler=None, **kwargs):
        optimizer = make_optimizer(list(model.parameters()))
        steps = epochs * -(-len(data["y_train"]) // batch_size)
        schedule = make_scheduler(optimizer, steps)
        lrs = []
        for _ in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            schedule.step()
        calls.append({"model": model, "optimizer": optimizer, "epochs": epochs, "lrs": lrs, **kwargs})
        return History([1.0], [0.5], [1.0], [0.5])

    monkeypatch.setattr(experiment, "train_classifier", fake_train)
    experiment.run_full(config, seed=0)
    return calls


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
def test_full_runs_give_both_vit_optimizers_the_recipe_and_the_cnn_the_plain_protocol(monkeypatch):
    config = dataclasses.replace(
        DigitsConfig(), epochs=10, cnn_lr_grid=(("adan", (1e-2,)), ("adamw", (1e-3,))),
        vit_lr_grid=(("adan", (1e-2,)), ("adamw", (1e-3,))),
    )  # fmt: skip
    calls = _capture_runs(monkeypatch, config)
    assert len(calls) == 6  # 2 models x 3 arms x 1 learning rate
    per_epoch = -(-1149 // config.batch_size)
    for call in calls:
        model, optimizer = call["model"], call["optimizer"]
        decay = _decay_of(optimizer, model)
        if isinstance(model, TinyViT):
            assert call["label_smoothing"] == 0.1 and call["augment"] is not None
            assert all(wd == 0.0 for n, wd in decay.items() if dict(model.named_parameters())[n].ndim < 2)
            assert all(wd > 0.0 for n, wd in decay.items() if dict(model.named_parameters())[n].ndim >= 2)
            # warm-up: 0.2 E = 2 epochs of linear ramp in both budgets, the peak reached at its end
            lrs = call["lrs"]
            peak = 2 * per_epoch
            assert lrs[peak - 1] == pytest.approx(max(lrs)) and lrs[peak - 2] < max(lrs)
        else:
            assert call["label_smoothing"] == 0.0 and call["augment"] is None
            assert len(set(decay.values())) == 1 and next(iter(decay.values())) > 0.0  # every tensor decayed
    assert sorted(c["epochs"] for c in calls) == [5, 5, 10, 10, 10, 10]
