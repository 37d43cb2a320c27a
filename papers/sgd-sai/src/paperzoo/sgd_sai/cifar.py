"""The paper scale's network: the official CIFAR ResNet-18 (and the tiny-ViT stand-in).

The official grid (``examples/cnns/start_grid_search_base.sh`` and ``vanilla_baseline_train.py``) trains the
CIFAR ResNet-18 of ``models/resnet.py`` on CIFAR-10 with ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``
and normalisation by mean (0.4914, 0.4822, 0.4465) / std (0.2023, 0.1994, 0.2010) ("from AdamS code"). The
images and that input pipeline are the shared testbed's (:func:`paperzoo.shared.testbeds.classify.load_images`,
:class:`~paperzoo.shared.testbeds.classify.CifarInput`, whose defaults are these values): the images live on
the device as one tensor, augmented there batch by batch, so the shared
:func:`~paperzoo.shared.testbeds.classify.train_classifier` loop trains it (no ``DataLoader`` workers).
torchvision is imported lazily: only the ResNet-18 and the CIFAR-10 download need it.
"""

from __future__ import annotations

from torch import nn

from paperzoo.shared.testbeds.classify import TinyViT

MODELS = ("resnet18", "tiny_vit")


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
