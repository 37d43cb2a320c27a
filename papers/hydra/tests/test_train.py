"""The downstream tasks, the matched ranks of the baselines and the methods' trainable parameters."""

import numpy as np
import pytest
import torch

from paperzoo.hydra import trainable_parameter_count
from paperzoo.hydra.train import (
    ADAPTERS,
    FinetuneConfig,
    attach_method,
    cls_features,
    logits,
    make_tasks,
    matched_ranks,
    task_arrays,
    train_loop,
    train_probe,
)


def test_tasks_transform_the_digits_as_described():
    x = np.random.default_rng(0).random((6, 8, 8)).astype(np.float32)
    y = np.array([0, 5, 7, 2, 9, 4])
    xs, ys = task_arrays("digits_5_9", x, y, np.array([1.0]))
    assert ys.tolist() == [0, 2, 4] and np.array_equal(xs, x[[1, 2, 4]])
    xr, _ = task_arrays("rotated", x, y, np.array([1.0]))
    assert np.array_equal(xr[0], np.rot90(x[0]))
    assert np.array_equal(task_arrays("inverted", x, y, np.array([1.0]))[0], 1 - x)
    assert task_arrays("parity", x, y, np.array([1.0]))[1].tolist() == [0, 1, 1, 0, 1, 0]
    lit = (x > 0.5).sum(axis=(1, 2))
    edges = np.quantile(lit, [0.2, 0.4, 0.6, 0.8])
    assert task_arrays("lit_count", x, y, edges)[1].tolist() == np.searchsorted(edges, lit, side="right").tolist()
    xf, yf = task_arrays("flipped", x, y, np.array([1.0]), flip_seed=1)
    for i in range(6):
        assert np.array_equal(xf[i], x[i, :, ::-1] if yf[i] else x[i])


def test_make_tasks_sizes_and_classes():
    tasks = make_tasks(64, 20, 30)
    assert {t: d.n_classes for t, d in tasks.items()} == {"digits_5_9": 5, "rotated": 10, "inverted": 10,
                                                          "lit_count": 5, "parity": 2, "flipped": 2}  # fmt: skip
    for d in tasks.values():
        assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (64, 20, 30)
        assert d.x_train.shape[1:] == (1, 8, 8) and 0 < d.majority_rate < 1


def test_baselines_match_hydra_parameters_within_ten_percent(tiny_vit):
    hydra = trainable_parameter_count(attach_method(tiny_vit(), "hydra", 2, 1.0, 0.0))
    for method in ADAPTERS:
        n = trainable_parameter_count(attach_method(tiny_vit(), method, 2, 1.0, 0.0))
        assert abs(n - hydra) <= 0.1 * hydra, (method, n, hydra)
    # LoRA trains d_in + d_out per rank: o_proj (16 -> 16) Hydra 2 (2 * 32 + 18) = 164 -> 164 / 32 -> 5;
    # fc2 (64 -> 16) Hydra 2 * 80 + 18 + 2 * 32 + 18 = 260 -> 260 / 80 -> 3
    assert matched_ranks(tiny_vit(), "lora", 2) == {"o_proj": 5, "fc2": 3}
    assert trainable_parameter_count(attach_method(tiny_vit(), "probe", 2, 1.0, 0.0)) == 16 * 5 + 5


def test_lora_bias_arm_is_peft_with_a_b_bias(tiny_vit):
    model = attach_method(tiny_vit(), "lora_bias", 2, 1.0, 0.0)
    layer = model.vit.layers[0].mlp.fc2
    assert layer.lora_B["default"].bias is not None and layer.lora_B["default"].bias.requires_grad
    assert layer.scaling["default"] == 1.0 and model.classifier.weight.requires_grad
    assert not model.vit.layers[0].mlp.fc1.weight.requires_grad


def test_cls_features_are_what_the_head_reads(tiny_vit, images):
    model = tiny_vit()
    with torch.no_grad():
        torch.testing.assert_close(model.classifier(cls_features(model, images)), logits(model, images))


def test_probe_on_cached_features_trains_the_head_as_the_whole_model_does(tiny_vit):
    """``train_probe`` (backbone features once) against ``train_loop`` on the whole frozen model: the same losses
    and the same trained head, up to float rounding; the backbone untouched."""
    data = make_tasks(24, 8, 8, ("digits_5_9",))["digits_5_9"]
    whole, cached = (attach_method(tiny_vit(data.n_classes), "probe", 2, 1.0, 0.0) for _ in range(2))
    backbone = {k: v.clone() for k, v in cached.vit.state_dict().items()}
    expected = train_loop(whole, data, 8, 5, 0.1, 1e-4, 2, seed=3)
    found = train_probe(cached, data, 8, 5, 0.1, 1e-4, 2, seed=3)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
    assert expected[-1] < expected[0]  # the head trained
    for name in ("weight", "bias"):
        torch.testing.assert_close(getattr(cached.classifier, name), getattr(whole.classifier, name))
    for k, v in cached.vit.state_dict().items():
        assert torch.equal(v, backbone[k]), k


@pytest.mark.parametrize(("make", "match"), [(lambda: FinetuneConfig(rank=0), "rank"),
                                              (lambda: FinetuneConfig(dropout=1.0), "dropout")])  # fmt: skip
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
