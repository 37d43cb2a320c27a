"""The paper scale's pieces: CIFAR-10 (or a local image file), the official input pipeline, the ResNet-18.

The official grid (``examples/cnns/start_grid_search_base.sh`` and ``vanilla_baseline_train.py``) trains the
CIFAR ResNet-18 of ``models/resnet.py`` on CIFAR-10 with ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``
and normalisation by mean (0.4914, 0.4822, 0.4465) / std (0.2023, 0.1994, 0.2010). Here the images live on the
device as one tensor and :class:`CifarInput` applies the same augmentation there, batch by batch, so the
shared :func:`paperzoo.shared.testbeds.classify.train_classifier` loop trains it (no ``DataLoader`` workers).
torchvision is imported lazily: only the ResNet-18 and the CIFAR-10 download need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from paperzoo.shared.testbeds.classify import TinyViT

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)  # the official script's values ("from AdamS code")
MODELS = ("resnet18", "tiny_vit")
IMAGE_KEYS = ("x_train", "y_train", "x_test", "y_test")


def cifar_resnet18(n_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem of the official ``models/resnet.py`` (11.17M parameters).

    A 3x3 stride-1 first convolution and no max-pool; the blocks, the 1x1 projection shortcuts and the linear
    head are torchvision's, which match the official ones. Every layer is re-initialised with its torch
    default (``reset_parameters``), as the official model is (torchvision's own init is He-normal).
    """
    import torchvision

    model = torchvision.models.resnet18(num_classes=n_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


def build_model(name: str, n_classes: int, image_size: int) -> nn.Module:
    """``"resnet18"`` (the paper's) or ``"tiny_vit"`` (the shared testbed's ViT on 3 channels, 16 patches: a
    stand-in that needs no torchvision)."""
    if name == "resnet18":
        return cifar_resnet18(n_classes)
    if name == "tiny_vit":
        return TinyViT(image_size=image_size, patch_size=max(1, image_size // 4), channels=3, n_classes=n_classes)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


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
    """The official input pipeline around ``model``: images in [0, 1] are augmented (training mode only) and
    normalised by ``mean``/``std`` before ``model`` sees them. It holds no parameters of its own."""

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

    ``source`` is ``"cifar10"`` (torchvision's CIFAR-10, downloaded into ``data_dir`` if absent) or the path
    of a ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test``: uint8 images (N, H, W, 3), as
    CIFAR-10's own arrays, and integer labels. The test images double as the validation split (``x_val``):
    the official script has none, and the paper's grid reports test accuracy.
    """
    if source == "cifar10":
        import torchvision

        root = Path(data_dir).expanduser()
        sets = [torchvision.datasets.CIFAR10(root, train=train, download=True) for train in (True, False)]
        arrays = {
            "x_train": sets[0].data,
            "y_train": np.asarray(sets[0].targets),
            "x_test": sets[1].data,
            "y_test": np.asarray(sets[1].targets),
        }
    else:
        path = Path(source).expanduser()
        if path.suffix != ".npz" or not path.is_file():
            raise ValueError(f"data must be 'cifar10' or an existing .npz file, got {source!r}")
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
