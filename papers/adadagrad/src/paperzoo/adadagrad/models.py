"""The models and the synthetic task of the CPU-scale reproduction (no BatchNorm: per-sample gradients)."""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.shared.data import Split


class DigitsCNN(nn.Module):
    """The official MNIST CNN (``modules.MNISTModule``) for ``image_size`` images: two 5x5 conv (16, 32 channels)
    + ReLU + 2x2 max-pool blocks and a linear classifier, no BatchNorm (14.5k parameters on 8x8 digits; the
    paper scale's MNIST model with ``image_size=28``)."""

    def __init__(self, n_classes: int = 10, width: int = 16, image_size: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, H, W) -> (batch, n_classes)
        return self.net(x)


class StudentMLP(nn.Module):
    """A one-hidden-layer ReLU perceptron (the synthetic task's learner)."""

    def __init__(self, n_inputs: int, hidden: int, n_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def teacher_task(n_train: int, n_val: int, n_test: int, dim: int, hidden: int, n_classes: int, seed: int) -> Split:
    """A synthetic classification task: Gaussian inputs labelled by the argmax of a random two-layer tanh teacher.

    The teacher (weights N(0, 1/fan_in)) is fixed by ``seed``, as are the inputs; the classes are
    imbalanced as the teacher makes them. Float32 inputs (n, dim), int64 labels.
    """
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(dim, hidden, generator=gen) / dim**0.5
    w2 = torch.randn(hidden, n_classes, generator=gen) / hidden**0.5
    x = torch.randn(n_train + n_val + n_test, dim, generator=gen)
    y = (torch.tanh(x @ w1) @ w2).argmax(dim=1)
    parts = torch.split(x, (n_train, n_val, n_test)), torch.split(y, (n_train, n_val, n_test))
    (xt, xv, xs), (yt, yv, ys) = parts
    return Split(xt.numpy(), yt.numpy(), xv.numpy(), yv.numpy(), xs.numpy(), ys.numpy(), n_classes=n_classes)


class CifarCNN(nn.Module):
    """The official CIFAR-10 3-layer CNN (``modules.CIFAR10Module``, no BatchNorm): three 3x3 conv + ReLU + pool
    blocks (16, 32, 64), a 500-unit hidden layer, a linear classifier."""

    def __init__(self, n_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for c_in, c_out in ((3, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
        side = image_size // 8
        self.net = nn.Sequential(
            *blocks, nn.Flatten(), nn.Linear(64 * side * side, 500), nn.ReLU(), nn.Linear(500, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
