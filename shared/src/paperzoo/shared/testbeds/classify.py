"""Testbed: image classification for optimizer comparisons (torch).

Task: scikit-learn's 8x8 digits (:func:`paperzoo.shared.data.load_digits_split`: 1149 train / 288
    validation / 360 test images), in memory; for the papers' GPU settings, CIFAR-10/100 (torchvision's download
    or a local ``.npz`` of uint8 images, held on the device: :func:`load_images`, :class:`CifarInput`) and
    ImageNet through torchvision.
Model: :class:`SmallCNN` (two conv + BatchNorm blocks, 21.5k parameters, the stand-in for CIFAR CNNs),
    :class:`MLP`, :class:`TinyViT` (the stand-in for ViT/DeiT).
Metrics: per epoch, train loss, validation accuracy and loss, test accuracy (:class:`History`), with
    any ``torch.optim.Optimizer``; epochs to a validation-accuracy target.
Used by: adabelief, adadagrad, adamp, adan, apg, dmm, fedau, meta-accel, rmt-lr, sgd-sai.

Minibatch training with the same initial weights and batch order for every optimizer given the seed,
the CIFAR images and on-device crop + flip augmentation, and the ImageNet loaders and bfloat16 training loop
of the papers' own (GPU) settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.data import Split
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive_int, check_range


class SmallCNN(nn.Module):
    """Two 3x3 conv + BatchNorm + ReLU + 2x2 max-pool blocks and a linear classifier (21.5k parameters on 8x8).

    The digits-scale stand-in for CIFAR CNNs (VGG/ResNet/DenseNet): conv layers with BatchNorm.
    """

    def __init__(self, n_classes: int = 10, width: int = 32, image_size: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(2 * width * (image_size // 4) ** 2, n_classes)

    def forward(self, x):  # (batch, 1, H, W) -> (batch, n_classes)
        return self.classifier(self.features(x).flatten(1))


class MLP(nn.Module):
    """A one-hidden-layer ReLU perceptron on flattened images (the smoke-scale model)."""

    def __init__(self, n_inputs: int = 64, hidden: int = 64, n_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.net(x)


class TinyViT(nn.Module):
    """A vision transformer (Dosovitskiy et al. 2021) from ``torch.nn.TransformerEncoderLayer``: patch embedding,
    a class token, learned positions, pre-norm encoder blocks, a linear head on the class token.

    The defaults are the digits-scale model (8x8 images, 2x2 patches -> 16 tokens, dim 64, 2 blocks, 4 heads,
    69.2k parameters); ``TinyViT(224, 16, 3, 384, 12, 6, 4, 1000)`` is ViT-S/16 on ImageNet (22M).
    """

    def __init__(
        self,
        image_size: int = 8,
        patch_size: int = 2,
        channels: int = 1,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: int = 2,
        n_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("image_size", image_size), ("patch_size", patch_size), ("dim", dim), ("heads", heads)):
            check_positive_int(name, value)
        if image_size % patch_size:
            raise ValueError(f"image_size must be a multiple of patch_size ({patch_size}), got {image_size}")
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads ({heads}), got {dim}")
        n_patches = (image_size // patch_size) ** 2
        self.patch = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp_ratio * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, C, H, W) -> (batch, n_classes)
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.norm(self.blocks(tokens))[:, 0])


@dataclass
class History:
    """Per-epoch curves of one training run (accuracies as fractions), and optionally a finer validation curve.

    ``eval_steps``/``step_val_accuracy``: the validation accuracy after every ``eval_every`` optimizer steps
    (empty unless :func:`train_classifier` was asked for it); ``total_steps``: the steps of the whole run.
    """

    train_loss: list[float]
    val_accuracy: list[float]
    val_loss: list[float]
    test_accuracy: list[float]
    eval_steps: list[int] = field(default_factory=list)
    step_val_accuracy: list[float] = field(default_factory=list)
    total_steps: int = 0

    def epochs_to(self, threshold: float) -> int:
        """The first epoch (1-based) whose validation accuracy reaches ``threshold``; epochs + 1 if none does."""
        hits = np.flatnonzero(np.asarray(self.val_accuracy) >= threshold)
        return int(hits[0]) + 1 if hits.size else len(self.val_accuracy) + 1

    def steps_to(self, threshold: float) -> int:
        """The first evaluated optimizer step whose validation accuracy reaches ``threshold``; total + 1 if none.

        Resolution: ``eval_every`` steps. ``ValueError`` if the run recorded no step-level curve.
        """
        if not self.eval_steps:
            raise ValueError("steps_to needs a run with eval_every set")
        hits = np.flatnonzero(np.asarray(self.step_val_accuracy) >= threshold)
        return self.eval_steps[int(hits[0])] if hits.size else self.total_steps + 1


def as_tensors(split: Split, device: str) -> dict[str, torch.Tensor]:
    """The split's arrays as tensors on ``device``, images with a channel axis."""
    images = {k: torch.from_numpy(getattr(split, k)).unsqueeze(1) for k in ("x_train", "x_val", "x_test")}
    labels = {k: torch.from_numpy(getattr(split, k)) for k in ("y_train", "y_val", "y_test")}
    return {k: v.to(device) for k, v in {**images, **labels}.items()}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Top-1 accuracy (a fraction) and mean cross-entropy of ``model`` in eval mode."""
    model.eval()
    logits = model(x)
    return (logits.argmax(dim=1) == y).float().mean().item(), F.cross_entropy(logits, y).item()


def train_steps(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor
) -> list[float]:
    """One cross-entropy step of ``optimizer`` per row of ``order`` (a batch of indices into ``x``, ``y``).

    The model stays in its current mode; returns each step's loss. The smoke scales' minibatch loop.
    """
    losses = []
    for batch in order.to(x.device):
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of a batch ``(B, C, H, W)`` by a random whole number of pixels in [-max_shift, max_shift]
    along each axis, filling with zeros (pad-and-crop, as RandomCrop(padding=max_shift) does)."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)  # advanced indexing put the channel axis last


def train_classifier(
    model: nn.Module,
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    data: dict[str, torch.Tensor],
    epochs: int,
    batch_size: int,
    seed: int,
    make_scheduler: Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler] | None = None,
    *,
    label_smoothing: float = 0.0,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    eval_every: int | None = None,
) -> History:
    """Minibatch cross-entropy training; the shuffling order is fixed by ``seed``.

    ``make_scheduler(optimizer, total_steps)``, if given, builds a learning-rate schedule stepped after
    every optimizer step (e.g. warm-up + cosine over ``total_steps``). ``label_smoothing`` is the training
    loss's (evaluation stays plain cross-entropy); ``augment(x_batch, generator)`` transforms each training
    batch (its generator is derived from ``seed``, apart from the shuffling order, e.g. :func:`random_shift`);
    ``eval_every`` adds a validation accuracy every that many optimizer steps (:meth:`History.steps_to`).
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_range("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False)
    if eval_every is not None:
        check_positive_int("eval_every", eval_every)
    optimizer = make_optimizer(list(model.parameters()))
    gen = torch.Generator().manual_seed(seed)
    augment_gen = torch.Generator().manual_seed(derive(seed, "augmentation"))
    n = len(data["y_train"])
    total_steps = epochs * -(-n // batch_size)
    schedule = make_scheduler(optimizer, total_steps) if make_scheduler else None
    history = History([], [], [], [], total_steps=total_steps)
    step = 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen).to(data["y_train"].device)
        total = torch.zeros((), device=order.device)
        for batch in order.split(batch_size):
            x = data["x_train"][batch]
            if augment is not None:
                x = augment(x, augment_gen)
            loss = F.cross_entropy(model(x), data["y_train"][batch], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            total += loss.detach() * len(batch)
            step += 1
            if eval_every is not None and step % eval_every == 0:
                history.eval_steps.append(step)
                history.step_val_accuracy.append(evaluate(model, data["x_val"], data["y_val"])[0])
                model.train()
        history.train_loss.append(total.item() / n)
        val_accuracy, val_loss = evaluate(model, data["x_val"], data["y_val"])
        history.val_accuracy.append(val_accuracy)
        history.val_loss.append(val_loss)
        history.test_accuracy.append(evaluate(model, data["x_test"], data["y_test"])[0])
    return history


# --------------------------------------------------------------------------------- the papers' CIFAR setting
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)  # the values of the common CIFAR training scripts (kuangliu/pytorch-cifar)
CIFAR_DATASETS = ("cifar10", "cifar100")
IMAGE_KEYS = ("x_train", "y_train", "x_test", "y_test")


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random crop of the original size from the zero-padded image, then a horizontal flip with
    probability 1/2 (torchvision's ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip``, on a batch)."""
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (padding, padding, padding, padding))
    dy, dx = (torch.randint(2 * padding + 1, (n,), generator=generator, device=images.device) for _ in range(2))
    flip = torch.rand(n, generator=generator, device=images.device) < 0.5
    rows = dy[:, None] + torch.arange(h, device=images.device)  # (n, h)
    cols = dx[:, None] + torch.arange(w, device=images.device)  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[index, channel, rows[:, None, :, None], cols[:, None, None, :]]


class CifarInput(nn.Module):
    """The standard CIFAR input pipeline around ``model``: images in [0, 1] are augmented (training mode only,
    :func:`random_crop_flip`) and normalised by ``mean``/``std`` before ``model`` sees them. It holds no
    parameters of its own.

    The same distribution as torchvision's ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``,
    ``ToTensor()``, ``Normalize(mean, std)`` per image (zero padding before normalisation, a crop offset uniform
    in [0, 2 * padding] per axis, a flip with probability 1/2), drawn from ``generator`` on the device.
    """

    def __init__(
        self,
        model: nn.Module,
        generator: torch.Generator,
        mean: tuple[float, ...] = CIFAR10_MEAN,
        std: tuple[float, ...] = CIFAR10_STD,
        padding: int = 4,
        augment: bool = True,
    ) -> None:
        super().__init__()
        self.model, self.generator, self.padding, self.augment = model, generator, padding, augment
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training and self.augment:
            images = random_crop_flip(images, self.padding, self.generator)
        return self.model((images - self.mean) / self.std)


def load_images(source: str, data_dir: str, device: str) -> dict[str, torch.Tensor]:
    """The train and test images as float tensors in [0, 1] (N, 3, H, W) and int64 labels, on ``device``.

    ``source`` is ``"cifar10"`` or ``"cifar100"`` (torchvision's, downloaded into ``data_dir`` if absent) or
    the path of a ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test``: uint8 images
    (N, H, W, 3), as CIFAR's own arrays, and integer labels. The test images double as the validation split
    (``x_val``): the papers' CIFAR scripts have none and report test accuracy.
    """
    if source in CIFAR_DATASETS:
        import torchvision

        dataset = torchvision.datasets.CIFAR10 if source == "cifar10" else torchvision.datasets.CIFAR100
        root = Path(data_dir).expanduser()
        sets = [dataset(root, train=train, download=True) for train in (True, False)]
        arrays = {
            "x_train": sets[0].data,
            "y_train": np.asarray(sets[0].targets),
            "x_test": sets[1].data,
            "y_test": np.asarray(sets[1].targets),
        }
    else:
        path = Path(source).expanduser()
        if path.suffix != ".npz" or not path.is_file():
            raise ValueError(f"data must be one of {CIFAR_DATASETS} or an existing .npz file, got {source!r}")
        with np.load(path) as file:
            missing = set(IMAGE_KEYS) - set(file.files)
            if missing:
                raise ValueError(f"{path} lacks the array(s) {sorted(missing)}")
            arrays = {k: file[k] for k in IMAGE_KEYS}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3 or len(x) != len(y):
            raise ValueError(f"x_{split} must be uint8 images (N, H, W, 3) matching y_{split}, got {x.shape} {x.dtype}")
    data = {}
    for split in ("train", "test"):
        data[f"x_{split}"] = torch.from_numpy(arrays[f"x_{split}"]).permute(0, 3, 1, 2).float().div(255).contiguous()
        data[f"y_{split}"] = torch.from_numpy(np.asarray(arrays[f"y_{split}"], dtype=np.int64))
    data["x_val"], data["y_val"] = data["x_test"], data["y_test"]
    return {k: v.to(device) for k, v in data.items()}


# ------------------------------------------------------------------------------- the papers' ImageNet setting
@dataclass
class ImageFolderData:
    """ImageNet-style train/validation loaders (``torchvision.datasets.ImageFolder`` layout)."""

    train: torch.utils.data.DataLoader
    val: torch.utils.data.DataLoader
    n_classes: int
    n_val: int


def imagenet_loaders(data_dir: str, image_size: int, batch_size: int, num_workers: int, seed: int) -> ImageFolderData:
    """The standard ImageNet pipeline: RandomResizedCrop + flip for training, resize to 256/224 + centre crop for
    validation, both normalised by the ImageNet mean/std; the training order is seeded."""
    import torchvision
    from torchvision import transforms

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    train_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    val_tf = transforms.Compose(
        [
            transforms.Resize(int(image_size * 256 / 224)),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    root = Path(data_dir).expanduser()
    train_set = torchvision.datasets.ImageFolder(root / "train", train_tf)
    val_set = torchvision.datasets.ImageFolder(root / "val", val_tf)
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = torch.utils.data.DataLoader(val_set, 256, num_workers=num_workers)
    return ImageFolderData(loader, val_loader, len(train_set.classes), len(val_set))


def train_on_gpu(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    data: ImageFolderData,
    epochs: int,
    device: str,
    desc: str,
    label_smoothing: float = 0.0,
) -> list[float]:
    """``epochs`` of cross-entropy training (``schedule`` stepped per batch), bfloat16 autocast on a CUDA device
    (plain float32 elsewhere, e.g. the CPU start tests); the validation top-1 accuracy after each epoch."""
    from paperzoo.shared.progress import progress

    on_gpu = torch.device(device).type == "cuda"
    accs = []
    for _ in progress(range(epochs), desc=desc):
        model.train()
        for x, y in data.train:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
                loss = F.cross_entropy(model(x.to(device)), y.to(device), label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
            correct = sum((model(x.to(device)).argmax(1).cpu() == y).sum().item() for x, y in data.val)
        accs.append(correct / data.n_val)
    return accs
