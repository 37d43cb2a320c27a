"""The paper-scale network: the CIFAR ResNet-34 of the paper's experiments (the digits nets are shared)."""

from __future__ import annotations

from torch import nn


def cifar_resnet34(n_classes: int = 10) -> nn.Module:
    """ResNet-34 with the CIFAR stem (3x3 stride-1 first conv, no max-pool), as in the paper's CIFAR runs.

    Built from torchvision's ResNet (the ``paper`` extra), imported here so CPU-scale runs never need it.
    """
    from torchvision.models import resnet34

    model = resnet34(num_classes=n_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
