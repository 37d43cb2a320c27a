"""The models of the benchmark: MLPs on flattened digits and a pre-activation residual CNN with GroupNorm.

No train-mode BatchNorm anywhere (the brief's pitfall): a batch Hessian must be a sub-sample of one function.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from paperzoo.shared.validate import check_positive_int


class MLP(nn.Module):
    """ReLU perceptron on flattened images: ``sizes = (64, 128, 128, 10)`` is the full scale's 26k-parameter MLP,
    ``(64, 16, 10)`` the smoke scale's 1.2k-parameter one."""

    def __init__(self, sizes: Sequence[int] = (64, 128, 128, 10)) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes must name at least an input and an output width, got {sizes}")
        for size in sizes:
            check_positive_int("sizes", size)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # (batch, ...) -> (batch, classes)
        return self.net(x)


class PreActBlock(nn.Module):
    """x + conv(relu(GN(conv(relu(GN(x)))))) (He et al. 2016's pre-activation block, GroupNorm for BatchNorm)."""

    def __init__(self, width: int, groups: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, width), nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.norm2, self.conv2 = nn.GroupNorm(groups, width), nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class GroupNormResNet(nn.Module):
    """A small no-BN pre-activation ResNet for 8x8 digits: stem conv, a block at ``width`` (8x8), a stride-2
    conv to ``2 * width`` (4x4), a block there, GroupNorm + ReLU, global average pool, linear head (width 16:
    about 25k parameters). The digits stand-in for the paper's PreResNet (BN replaced by GroupNorm)."""

    def __init__(self, width: int = 16, groups: int = 4, n_classes: int = 10, channels: int = 1) -> None:
        super().__init__()
        check_positive_int("width", width)
        check_positive_int("groups", groups)
        if width % groups:
            raise ValueError(f"width must be a multiple of groups ({groups}), got {width}")
        self.stem = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.block1 = PreActBlock(width, groups)
        self.down = nn.Sequential(
            nn.GroupNorm(groups, width), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False)
        )
        self.block2 = PreActBlock(2 * width, groups)
        self.head = nn.Sequential(nn.GroupNorm(groups, 2 * width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(2 * width, n_classes)

    def forward(self, x: Tensor) -> Tensor:  # (batch, C, H, W) -> (batch, classes)
        return self.classifier(self.head(self.block2(self.down(self.block1(self.stem(x))))))
