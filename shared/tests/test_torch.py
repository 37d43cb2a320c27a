"""paperzoo.shared.torch: the optimizer speed set and the shared classifiers/training loop."""

from pathlib import Path

import numpy as np
import pytest
import torch

from paperzoo.shared.data import load_digits_split
from paperzoo.shared.testbeds import classify
from paperzoo.shared.testbeds.classify import MLP, History, SmallCNN, TinyViT, as_tensors, train_classifier
from paperzoo.shared.torch import STANDARD_SHAPES, median_step_time, standard_optimizer_params
from paperzoo.shared.torch.testing import write_colour_images


def test_standard_set_is_4_5m_float32_params_with_grads():
    params = standard_optimizer_params()
    assert [tuple(p.shape) for p in params] == list(STANDARD_SHAPES)
    assert sum(p.numel() for p in params) == 4 * 1024**2 + 2 * 256 * 64 * 9 + 8 * 1024  # 4,497,408
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.shape == p.shape for p in params)
    assert torch.equal(params[0], standard_optimizer_params()[0])  # seeded


def test_median_step_time_runs_the_requested_steps():
    calls = []

    class Counting(torch.optim.SGD):
        def step(self, closure=None):
            calls.append(1)
            return super().step(closure)

    result = median_step_time(lambda ps: Counting(ps, lr=0.1), steps=3, warmup=2)
    assert len(calls) == 5 and result["median_step_s"] > 0 and result["warmup_s"] > 0
    with pytest.raises(ValueError, match="steps"):
        median_step_time(lambda ps: Counting(ps, lr=0.1), steps=0)


def test_models():
    cnn = SmallCNN()
    assert sum(p.numel() for p in cnn.parameters()) == 21_578
    assert cnn(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert MLP()(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_epochs_to_target():
    h = History(train_loss=[1.0] * 4, val_accuracy=[0.5, 0.96, 0.94, 0.97], val_loss=[1.0] * 4, test_accuracy=[0.0] * 4)
    assert h.epochs_to(0.95) == 2 and h.epochs_to(0.99) == 5


def test_training_is_deterministic_and_learns():
    data = {k: v[:256] if k.endswith("train") else v for k, v in as_tensors(load_digits_split(), "cpu").items()}

    def train(seed):
        torch.manual_seed(seed)
        return train_classifier(
            SmallCNN(width=8),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
            data,
            epochs=3,
            batch_size=32,
            seed=seed,
        )

    a, b, c = train(0), train(0), train(1)
    assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy
    assert a.train_loss != c.train_loss
    assert a.train_loss[-1] < a.train_loss[0] and a.val_accuracy[-1] > 0.5
    steps = []
    linear = lambda opt, total: steps.append(total) or torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, total)  # noqa: E731
    model = SmallCNN(width=8)
    optimizers = []
    train_classifier(
        model,
        lambda ps: optimizers.append(torch.optim.SGD(ps, lr=0.1)) or optimizers[-1],
        data,
        epochs=2,
        batch_size=100,
        seed=0,
        make_scheduler=linear,
    )
    assert steps == [6] and optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)  # 2 epochs x 3 batches
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(SmallCNN(width=8), lambda ps: torch.optim.SGD(ps, lr=0.1), data, 0, 32, 0)


def test_tiny_vit_shapes_size_and_bad_shapes():
    model = TinyViT()
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    # conv 1*64*2*2+64, cls 64, pos 17*64, 2 blocks of (4*64*64+4*64 attn, 2*64*128+128+64 mlp, 4*64 norms), norm, head
    assert sum(p.numel() for p in model.parameters()) == 69_194
    vit_s = TinyViT(224, 16, 3, 384, 12, 6, 4, 1000)
    assert 21_000_000 < sum(p.numel() for p in vit_s.parameters()) < 23_000_000  # ViT-S/16: 22M
    with pytest.raises(ValueError, match="patch_size"):
        TinyViT(image_size=8, patch_size=3)
    with pytest.raises(ValueError, match="heads"):
        TinyViT(dim=10, heads=4)


def test_weight_decay_groups_spare_biases_norms_and_tokens():
    from paperzoo.shared.torch import weight_decay_groups

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Conv1d(8, 2, 3))
    model.register_parameter("cls_token", torch.nn.Parameter(torch.zeros(8)))
    model[0].bias.requires_grad_(False)
    decay, no_decay = weight_decay_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert {id(p) for p in no_decay["params"]} == {
        id(model[1].weight),
        id(model[1].bias),
        id(model[2].bias),
        id(model.cls_token),
    }
    optimizer = torch.optim.AdamW(weight_decay_groups(model, 0.1), lr=1e-3)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    only_vectors = torch.nn.LayerNorm(3)
    assert [g["weight_decay"] for g in weight_decay_groups(only_vectors, 0.1)] == [0.0]
    with pytest.raises(ValueError, match="weight_decay"):
        weight_decay_groups(model, -1.0)


def test_random_shift_moves_whole_images_by_at_most_the_shift():
    from paperzoo.shared.testbeds.classify import random_shift

    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5) + 1
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(random_shift(x, 0, gen), x)
    out = random_shift(x, 1, gen)
    assert out.shape == x.shape
    for b in range(2):
        padded = torch.nn.functional.pad(x[b], (1, 1, 1, 1))
        windows = [padded[:, dy : dy + 5, dx : dx + 5] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out[b], w) for w in windows)  # one of the 9 shifted copies, zeros filled in
    again = random_shift(x, 1, torch.Generator().manual_seed(0))
    assert torch.equal(random_shift(x, 1, torch.Generator().manual_seed(0)), again)


@pytest.fixture(scope="module")
def digits():
    return as_tensors(load_digits_split(), "cpu")


def test_train_classifier_options(digits):
    from paperzoo.shared.testbeds.classify import random_shift

    def run(**options):
        torch.manual_seed(0)
        return train_classifier(MLP(), lambda ps: torch.optim.Adam(ps, lr=1e-2), digits, 2, 64, 0, **options)

    plain, again = run(), run()
    assert plain.train_loss == again.train_loss and not plain.eval_steps
    steps = run(eval_every=5)
    assert steps.total_steps == 2 * -(-len(digits["y_train"]) // 64) == 36
    assert steps.eval_steps == list(range(5, 37, 5)) and len(steps.step_val_accuracy) == 7
    assert steps.train_loss == plain.train_loss  # evaluating in between changes nothing
    first = steps.eval_steps[next(i for i, a in enumerate(steps.step_val_accuracy) if a >= 0.5)]
    assert steps.steps_to(0.5) == first and steps.steps_to(1.01) == 37
    with pytest.raises(ValueError, match="eval_every"):
        plain.steps_to(0.5)
    smooth = run(label_smoothing=0.1)
    assert smooth.train_loss[0] > plain.train_loss[0]  # smoothed targets cost more than one-hot ones
    shifted = run(augment=lambda x, g: random_shift(x, 1, g))
    assert (
        shifted.train_loss != plain.train_loss
        and shifted.train_loss == run(augment=lambda x, g: random_shift(x, 1, g)).train_loss
    )
    with pytest.raises(ValueError, match="label_smoothing"):
        run(label_smoothing=1.0)


# ------------------------------------------------------------------------------------------------ CIFAR
@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_colour_images(tmp_path / "images.npz")


def test_random_crop_flip_takes_windows_of_the_padded_image():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5) + 1
    gen = torch.Generator().manual_seed(0)
    out = classify.random_crop_flip(images, padding=2, generator=gen)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(out[i], w) for w in windows)
    # padding 0: the image itself or its mirror image
    out = classify.random_crop_flip(images, padding=0, generator=gen)
    assert all(torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1)) for i in range(2))
    # the same generator state gives the same augmentation
    a = classify.random_crop_flip(images, 2, torch.Generator().manual_seed(3))
    b = classify.random_crop_flip(images, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_cifar_input_augments_in_training_only_and_normalises():
    model = torch.nn.Flatten()
    wrapped = classify.CifarInput(model, torch.Generator().manual_seed(0), mean=(0.5,) * 3, std=(0.25,) * 3)
    images = torch.rand(4, 3, 6, 6)
    assert list(wrapped.parameters()) == []
    wrapped.eval()
    torch.testing.assert_close(wrapped(images), ((images - 0.5) / 0.25).flatten(1))
    wrapped.train()
    assert not torch.equal(wrapped(images), ((images - 0.5) / 0.25).flatten(1))


def test_load_images_reads_a_local_file_and_rejects_bad_ones(images: Path, tmp_path: Path):
    data = classify.load_images(str(images), "unused", "cpu")
    assert data["x_train"].shape == (48, 3, 8, 8) and data["x_train"].dtype == torch.float32
    assert 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0
    assert data["x_val"] is data["x_test"] and data["y_test"].dtype == torch.int64
    raw = np.load(images)
    assert data["x_train"][5, 1, 2, 3].item() == pytest.approx(raw["x_train"][5, 2, 3, 1] / 255)
    with pytest.raises(ValueError, match="npz"):
        classify.load_images(str(tmp_path / "missing.npz"), "", "cpu")
    np.savez(tmp_path / "partial.npz", x_train=raw["x_train"], y_train=raw["y_train"])
    with pytest.raises(ValueError, match="x_test"):
        classify.load_images(str(tmp_path / "partial.npz"), "", "cpu")
    np.savez(tmp_path / "floats.npz", **{k: raw[k] for k in raw.files} | {"x_test": raw["x_test"] / 255.0})
    with pytest.raises(ValueError, match="uint8"):
        classify.load_images(str(tmp_path / "floats.npz"), "", "cpu")


def test_cifar_input_matches_torchvision_transforms(images: Path):
    """Eval mode is ``ToTensor`` + ``Normalize``; with augmentation, every offset of ``RandomCrop(padding=4)`` and
    both flips occur (the crop is uniform over the (2·4+1)² zero-padded windows, as torchvision's)."""
    transforms = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    raw = np.load(images)["x_train"][:4]
    data = classify.load_images(str(images), "", "cpu")
    wrapped = classify.CifarInput(torch.nn.Identity(), torch.Generator().manual_seed(0)).eval()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(classify.CIFAR10_MEAN, classify.CIFAR10_STD)])
    expected = torch.stack([tf(Image.fromarray(x)) for x in raw])
    torch.testing.assert_close(wrapped(data["x_train"][:4]), expected)
    marked = torch.zeros(1, 1, 8, 8)
    marked[0, 0, 0, 0] = 1.0  # the top-left pixel shows where the crop put it
    out = classify.random_crop_flip(marked.expand(4000, 1, 8, 8), 4, torch.Generator().manual_seed(1))
    seen = {tuple(int(i) for i in torch.nonzero(o[0])[0]) if o.any() else None for o in out}
    # the pixel lands at row dy' = 4 - dy in [0, 4] or is cropped away, and at column x or 7 - x (flipped)
    assert {p for p in seen if p is not None} == {(r, c) for r in range(5) for c in (*range(5), *range(3, 8))}
    assert None in seen
