"""The paper scale's networks and their trainer: ResNet-9 (the CIFAR-10 network of the datamodels / DMM
experiments) and torchvision's ResNet-18 (the Living-17 network, :class:`ResNet18`).

Blocks ``conv(3x3, no bias) -> norm -> ReLU``: prep (w), layer 1 (2w, max-pool 2) + residual (2 blocks of 2w),
layer 2 (4w, max-pool 2), layer 3 (8w, max-pool 2) + residual (2 blocks of 8w), global max-pool, linear (no bias)
scaled by 0.125; ``w`` = ``width`` (64 in the paper's network).

BatchNorm's running statistics cannot be vmapped, so each model is trained on its own (:func:`train_resnet9`) and
then *folded*: in evaluation mode a batch norm is the per-channel affine map ``x * g / sqrt(v + eps) + (b - m g /
sqrt(v + eps))``, so :func:`fold_batchnorm` rewrites each trained model as the same network with
:class:`ChannelAffine` layers (``norm="affine"``), whose outputs equal the BatchNorm model's evaluation outputs and
whose parameters stack and vmap like the MLP's (the unlearning loops of :mod:`paperzoo.dmm.unlearn` run on them).
ResNet-18 is folded the same way (every ``BatchNorm2d`` of torchvision's network becomes a :class:`ChannelAffine`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from paperzoo.shared.torch.many import Params
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int


class ChannelAffine(nn.Module):
    """``x * weight[c] + bias[c]`` per channel of ``[B, C, H, W]`` (a folded evaluation-mode batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class ConvBlock(nn.Module):
    """``ReLU(norm(conv3x3(x)))``, optionally followed by a 2x2 max-pool."""

    def __init__(self, c_in: int, c_out: int, norm: str, pool: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out) if norm == "batch" else ChannelAffine(c_out)
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.norm(self.conv(x)))
        return F.max_pool2d(x, 2) if self.pool else x


class ResNet9(nn.Module):
    """ResNet-9 for 32x32 images (see the module docstring). ``norm`` "batch" (training) or "affine" (folded);
    ``eval_batch`` splits large inputs into batches of that many images (memory of the whole-set evaluations)."""

    def __init__(self, width: int = 64, classes: int = 10, norm: str = "batch", eval_batch: int = 1024) -> None:
        super().__init__()
        check_positive_int("width", width)
        check_positive_int("classes", classes)
        check_one_of("norm", norm, ("batch", "affine"))
        check_positive_int("eval_batch", eval_batch)
        w = width
        self.eval_batch = eval_batch
        self.prep = ConvBlock(3, w, norm)
        self.layer1 = ConvBlock(w, 2 * w, norm, pool=True)
        self.res1 = nn.Sequential(ConvBlock(2 * w, 2 * w, norm), ConvBlock(2 * w, 2 * w, norm))
        self.layer2 = ConvBlock(2 * w, 4 * w, norm, pool=True)
        self.layer3 = ConvBlock(4 * w, 8 * w, norm, pool=True)
        self.res3 = nn.Sequential(ConvBlock(8 * w, 8 * w, norm), ConvBlock(8 * w, 8 * w, norm))
        self.head = nn.Linear(8 * w, classes, bias=False)

    def body(self, x: Tensor) -> Tensor:
        x = self.layer1(self.prep(x))
        x = x + self.res1(x)
        x = self.layer3(self.layer2(x))
        x = x + self.res3(x)
        return self.head(torch.amax(x, dim=(-2, -1))) * 0.125

    def forward(self, x: Tensor) -> Tensor:
        if len(x) <= self.eval_batch:
            return self.body(x)
        return torch.cat([self.body(xb) for xb in x.split(self.eval_batch)])


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 (``weights=None``, the ImageNet stem) with a ``classes``-way linear head (with bias),
    as data-unlearning-bench builds its Living-17 network, on uint8 images ``[B, 3, H, W]``: the input is scaled to
    [0, 1] and normalised by the ImageNet channel statistics inside the forward, so the data stay uint8 on the device.
    ``norm`` "batch" (training) or "affine" (folded: every batch norm a :class:`ChannelAffine`); ``eval_batch``
    splits large inputs (memory of the whole-set evaluations). torchvision is imported lazily (the ``paper`` extra)."""

    def __init__(self, classes: int = 17, norm: str = "batch", eval_batch: int = 256) -> None:
        super().__init__()
        import torchvision

        check_positive_int("classes", classes)
        check_one_of("norm", norm, ("batch", "affine"))
        check_positive_int("eval_batch", eval_batch)
        self.eval_batch = eval_batch
        self.net = torchvision.models.resnet18(weights=None, num_classes=classes)
        if norm == "affine":
            for name, module in list(self.net.named_modules()):
                if isinstance(module, nn.BatchNorm2d):
                    parent, _, leaf = name.rpartition(".")
                    setattr(
                        self.net.get_submodule(parent) if parent else self.net, leaf, ChannelAffine(module.num_features)
                    )

    def body(self, x: Tensor) -> Tensor:
        mean = torch.tensor(IMAGENET_MEAN, device=x.device)[:, None, None]
        std = torch.tensor(IMAGENET_STD, device=x.device)[:, None, None]
        return self.net((x.to(torch.float32) / 255 - mean) / std)

    def forward(self, x: Tensor) -> Tensor:
        if len(x) <= self.eval_batch:
            return self.body(x)
        return torch.cat([self.body(xb) for xb in x.split(self.eval_batch)])


def fold_batchnorm(model: nn.Module) -> dict[str, Tensor]:
    """The state of the ``norm="affine"`` twin of a trained BatchNorm ``model``: each batch norm's evaluation map
    ``(x - m) / sqrt(v + eps) * g + b`` as ``x * g' + b'`` with ``g' = g / sqrt(v + eps)``, ``b' = b - m g'``; the
    convolutions' and linear layers' weights (and biases, where they have one) unchanged."""
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            scale = module.weight.detach() / (module.running_var + module.eps).sqrt()
            state[f"{name}.weight"] = scale
            state[f"{name}.bias"] = module.bias.detach() - module.running_mean * scale
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            state[f"{name}.weight"] = module.weight.detach().clone()
            if module.bias is not None:
                state[f"{name}.bias"] = module.bias.detach().clone()
    return state


def train_folded(
    build: Callable[[], nn.Module],
    seed: int,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
    label_smoothing: float = 0.0,
    peak_epoch: float = 5.0,
    flip: bool = False,
) -> dict[str, Tensor]:
    """One BatchNorm network ``build()`` trained from scratch on ``(x, y)`` (on their device), returned folded
    (:func:`fold_batchnorm`); the recipe of data-unlearning-bench's ``train_cifar10`` by default. ``seed`` sets the
    initialisation, the data order and the flips. SGD with momentum and coupled weight decay (``g = grad + wd p``,
    ``b = momentum b + g``, ``p -= lr b``; Nesterov: ``p -= lr (g + momentum b)``), cross-entropy (optionally with
    label smoothing), optional random horizontal flips, and the triangular schedule: at step t (from 0) the
    learning rate is ``lr * interp(t, [0, peak_epoch * steps_per_epoch, epochs * steps_per_epoch], [0, 1, 0])``."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_positive_int(name, value)
    check_positive("lr", lr)
    check_non_negative("weight_decay", weight_decay)
    torch.manual_seed(seed)
    model = build().to(x.device)
    gen = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    moments = [torch.zeros_like(p) for p in params]
    steps_per_epoch = -(-len(x) // batch_size)
    total, peak = epochs * steps_per_epoch, min(peak_epoch, epochs) * steps_per_epoch
    step = 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        flips = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
        for batch in order.split(batch_size):
            xb = torch.where(flips[batch, None, None, None], x[batch].flip(-1), x[batch]) if flip else x[batch]
            loss = F.cross_entropy(model(xb), y[batch], label_smoothing=label_smoothing)
            grads = torch.autograd.grad(loss, params)
            rate = lr * float(np.interp(step, [0, peak, total], [0.0, 1.0, 0.0]))
            step += 1
            with torch.no_grad():
                for p, g, b in zip(params, grads, moments, strict=True):
                    g = g + weight_decay * p
                    b.mul_(momentum).add_(g)
                    p.sub_(rate * (g + momentum * b if nesterov else b))
    model.eval()
    return fold_batchnorm(model)


def stack_states(states: Sequence[dict[str, Tensor]]) -> Params:
    """Folded states stacked on a leading model axis (the layout of :mod:`paperzoo.shared.torch.many`)."""
    if not states:
        raise ValueError("states must be non-empty")
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}
