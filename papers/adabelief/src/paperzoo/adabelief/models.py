"""The networks of the benchmark: a small digits CNN, an MLP, and the paper's CIFAR ResNet-34."""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Module):
    """Two 3x3 conv + BatchNorm + ReLU + 2x2 max-pool blocks and a linear classifier (21.5k parameters on 8x8).

    The digits-scale stand-in for the paper's CIFAR CNNs (VGG/ResNet/DenseNet): conv layers with
    BatchNorm, where the paper's "generalises like SGD" claim is made.
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


def cifar_resnet34(n_classes: int = 10) -> nn.Module:
    """ResNet-34 with the CIFAR stem (3x3 stride-1 first conv, no max-pool), as in the paper's CIFAR runs.

    Built from torchvision's ResNet (the ``paper`` extra), imported here so CPU-scale runs never need it.
    """
    from torchvision.models import resnet34

    model = resnet34(num_classes=n_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
