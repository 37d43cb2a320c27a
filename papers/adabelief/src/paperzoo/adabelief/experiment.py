"""The scale runners of the AdaBelief benchmark (declared in :mod:`paperzoo.adabelief.bench`).

- :func:`run_smoke`: a convex quadratic, a digits MLP (AdaBelief vs Adam) and the belief ordering of step sizes.
- :func:`run_digits` (full): the paper's CNN comparison at digits scale over each optimizer's learning-rate
  grid, and the Beale race; :func:`select_learning_rates` is its cross-seed aggregate step.
- :func:`run_cifar` (paper): the paper's CIFAR-10/100 ResNet-34 setting, on a GPU.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.adabelief.models import cifar_resnet34
from paperzoo.adabelief.optimizer import AdaBelief
from paperzoo.adabelief.toys import trajectory
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import digits_val_example, load_digits_split
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import (
    MLP,
    CifarInput,
    SmallCNN,
    as_tensors,
    evaluate,
    load_images,
    train_classifier,
    train_steps,
)
from paperzoo.shared.torch import configure

if TYPE_CHECKING:
    from paperzoo.adabelief.bench import CifarConfig, DigitsConfig, SmokeConfig

# Inductor warns "No CUDA runtime is found" whenever it compiles on a CPU-only machine: not our news.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

OPTIMIZERS = ("adabelief", "adam", "adamw", "sgd")


def make_optimizer(
    name: str,
    params: list[nn.Parameter],
    lr: float,
    weight_decay: float,
    eps: float = 1e-8,
    momentum: float = 0.9,
    implementation: str = "compiled",
    weight_decouple: bool = True,
) -> torch.optim.Optimizer:
    """One of the four compared optimizers, with the paper's per-optimizer weight-decay convention.

    AdaBelief: eps 1e-8 (the authors' setting for CNNs), ``rectify=False`` (the paper's algorithm),
    decoupled decay unless ``weight_decouple=False``. Adam and SGD: L2 decay (``weight_decay`` added to
    the gradient). AdamW: decoupled.
    """
    if name == "adabelief":
        return AdaBelief(
            params,
            lr=lr,
            eps=eps,
            weight_decay=weight_decay,
            weight_decouple=weight_decouple,
            rectify=False,
            implementation=implementation,
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _belief_last_step(make: Callable[[list[torch.Tensor]], torch.optim.Optimizer], grads: list[float]) -> float:
    """|Δθ| of the last step of an optimizer fed the 1-D gradient sequence ``grads`` (float64)."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = make([p])
    before = 0.0
    for g in grads:
        before = p.item()
        p.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
    return abs(p.item() - before)


def belief_ordering(steps: int, lr: float) -> dict[str, float]:
    """Step sizes after ``steps`` constant (+1) or alternating (±1) gradients, AdaBelief vs Adam.

    AdaBelief is the paper's algorithm (``rectify=False``) with eps 1e-16, which the authors equate
    with Adam's 1e-8 (ε sits inside the square root).
    """
    sequences = {"constant": [1.0] * steps, "alternating": [(-1.0) ** t for t in range(steps)]}
    makers = {
        "adabelief": lambda ps: AdaBelief(ps, lr=lr, eps=1e-16, rectify=False, implementation="single_tensor"),
        "adam": lambda ps: torch.optim.Adam(ps, lr=lr, eps=1e-8),
    }
    size = {(o, s): _belief_last_step(m, seq) for o, m in makers.items() for s, seq in sequences.items()}
    return {
        "adabelief/constant_step_over_adam": size["adabelief", "constant"] / size["adam", "constant"],
        "adabelief/alternating_step_over_adam": size["adabelief", "alternating"] / size["adam", "alternating"],
        "adabelief/alternating_over_constant_step": size["adabelief", "alternating"] / size["adabelief", "constant"],
        "adam/alternating_over_constant_step": size["adam", "alternating"] / size["adam", "constant"],
    }


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    gen = torch.Generator().manual_seed(seed)
    # Convex quadratic f(θ) = ½ Σ a_i θ_i², curvatures a_i from 1 to 10.
    curvature = torch.linspace(1.0, 10.0, config.quadratic_dim, dtype=torch.float64)
    theta = torch.randn(config.quadratic_dim, generator=gen, dtype=torch.float64).requires_grad_()
    optimizer = AdaBelief(
        [theta], lr=config.quadratic_lr, eps=1e-8, rectify=False, implementation=config.implementation
    )
    losses = []
    for _ in range(config.steps):
        loss = 0.5 * (curvature * theta**2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    metrics = {"adabelief/quadratic_loss_ratio": losses[-1] / losses[0]}

    data = as_tensors(load_digits_split(), config.device)
    series = {"adabelief/quadratic_loss": losses}
    for name in ("adabelief", "adam"):
        torch.manual_seed(seed)
        model = MLP().to(config.device)
        opt = make_optimizer(
            name, list(model.parameters()), lr=config.mlp_lr, weight_decay=5e-4, implementation=config.implementation
        )
        order = torch.randint(len(data["y_train"]), (config.steps, config.mlp_batch_size), generator=gen)
        mlp_losses = train_steps(model, opt, data["x_train"], data["y_train"], order)
        acc = evaluate(model, data["x_test"], data["y_test"])[0]
        head, tail = np.mean(mlp_losses[:20]), np.mean(mlp_losses[-20:])
        metrics |= {f"{name}/mlp_test_accuracy": acc, f"{name}/mlp_loss_ratio": float(tail / head)}
        series[f"{name}/mlp_loss"] = mlp_losses
    metrics |= belief_ordering(config.belief_steps, config.belief_lr)
    return Result(metrics, series)


@functools.cache
def beale_race(
    opt: str, start: tuple[float, float], lrs: tuple[float, ...], steps: int, tolerance: float
) -> tuple[float, int, list[tuple[float, float]]]:
    """The fewest steps to the Beale optimum over the learning-rate grid: (lr, steps, path).

    AdaBelief is the paper's algorithm (``rectify=False``, eps 1e-16 ≈ Adam's 1e-8); Adam is torch's.
    Deterministic (no seed), so it is computed once per process and shared by every seed's record.
    """
    best: tuple[float, int, list[tuple[float, float]]] = (math.nan, steps + 1, [start])
    for lr in lrs:
        if opt == "adabelief":

            def make(ps, r=lr):
                return AdaBelief(ps, lr=r, eps=1e-16, rectify=False, implementation="single_tensor")
        else:

            def make(ps, r=lr):
                return torch.optim.Adam(ps, lr=r, eps=1e-8)

        path, reached = trajectory(make, "beale", start, steps, tolerance)
        if reached < best[1]:
            best = (lr, reached, path)
    return best


def run_digits(config: DigitsConfig, seed: int) -> Result:
    configure(threads=config.threads)
    data = as_tensors(load_digits_split(), config.device)
    wd = dict(config.weight_decay)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(opt, lr) for opt, lrs in config.lr_grid for lr in lrs]
    for opt, lr in progress(runs, desc=f"digits CNN, seed {seed}"):
        torch.manual_seed(seed)  # the same initial weights for every optimizer and learning rate
        model = SmallCNN(width=config.width).to(config.device)
        history = train_classifier(
            model,
            lambda ps, o=opt, r=lr: make_optimizer(o, ps, r, wd[o], implementation=config.implementation),
            data,
            config.epochs,
            config.batch_size,
            seed,
            eval_every=config.eval_every,
        )
        arm = grid_key(opt, lr)
        metrics |= {
            f"{arm}/val_accuracy": history.val_accuracy[-1],
            f"{arm}/val_loss": history.val_loss[-1],
            f"{arm}/test_accuracy": history.test_accuracy[-1],
            f"{arm}/steps_to_target": float(history.steps_to(config.accuracy_target)),
        }
        series |= {
            f"{arm}/val_accuracy": history.val_accuracy,
            f"{arm}/train_loss": history.train_loss,
            f"{arm}/step_val_accuracy": history.step_val_accuracy,
        }
    for opt in ("adabelief", "adam"):
        lr, steps, path = beale_race(
            opt, config.beale_start, config.beale_lrs, config.beale_steps, config.beale_tolerance
        )
        metrics |= {f"{opt}/beale_steps": float(steps), f"{opt}/beale_lr": lr}
        series |= {f"{opt}/beale_x": [x for x, _ in path], f"{opt}/beale_y": [y for _, y in path]}
    return Result(metrics, series)


def fastest_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per optimizer, the learning rate with the fewest mean optimizer steps to the validation target.

    The speed claim compares each optimizer at its own best rate for reaching the target, not at the rate
    chosen for final accuracy. Ties (within :data:`paperzoo.shared.lr_grid.TIE_TOLERANCE`) go to the
    smaller learning rate. Each seed's metrics (copied) gain ``<opt>/speed_lr``, ``<opt>/speed_lr_at_edge``
    (1 if the choice is the grid's smallest or largest point) and the chosen run's ``<opt>/steps_to_target``.
    """
    out = [dict(m) for m in per_seed]
    for opt in OPTIMIZERS:
        lrs = sorted({float(k.split("@")[1].split("/")[0]) for k in per_seed[0] if k.startswith(f"{opt}@")})
        if not lrs:
            continue
        mean_steps = [float(np.mean([m[f"{grid_key(opt, lr)}/steps_to_target"] for m in per_seed])) for lr in lrs]
        best = next(i for i, v in enumerate(mean_steps) if v <= min(mean_steps) + lr_grid.TIE_TOLERANCE)
        for m in out:
            m[f"{opt}/speed_lr"] = lrs[best]
            m[f"{opt}/speed_lr_at_edge"] = float(best in (0, len(lrs) - 1))
            m[f"{opt}/steps_to_target"] = m[f"{grid_key(opt, lrs[best])}/steps_to_target"]
    return out


def select_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per optimizer, the learning rate for accuracy and the one for speed, over all seeds.

    Accuracy: :func:`paperzoo.shared.lr_grid.select_learning_rates` (best mean validation accuracy; within one
    validation example, the lower mean validation loss) adds ``<opt>/lr``, ``<opt>/lr_at_edge`` and the chosen
    run's ``<opt>/val_accuracy`` and ``<opt>/test_accuracy``. Speed: :func:`fastest_learning_rates`.
    """
    chosen = lr_grid.select_learning_rates(per_seed, ("val_accuracy", "test_accuracy"), digits_val_example())
    return fastest_learning_rates(chosen)


def run_cifar(config: CifarConfig, seed: int) -> Result:
    """The paper's CIFAR experiment: each optimizer trains a ResNet-34 from the same initialisation.

    The official recipe: batch ``batch_size``, ``RandomCrop(32, padding=4)`` + horizontal flip + normalisation
    (the shared :class:`~paperzoo.shared.testbeds.classify.CifarInput`, the same transforms applied on the
    device), lr x0.1 at ``decay_epoch``; the test accuracy after every epoch. Every optimizer sees the same
    initial weights, batch order and augmentation draws.
    """
    source = config.dataset if config.data == "download" else config.data
    data = load_images(source, config.data_dir, config.device)
    n_classes = 10 if config.dataset == "cifar10" else 100
    if int(data["y_train"].max()) >= n_classes or int(data["y_test"].max()) >= n_classes:
        raise ValueError(f"data has labels outside the {n_classes} classes of {config.dataset}")
    n_train, n_test = len(data["y_train"]), len(data["y_test"])
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for opt, lr, wd in config.optimizers:
        torch.manual_seed(seed)
        augment = torch.Generator(config.device).manual_seed(derive(seed, "augmentation"))
        order = torch.Generator().manual_seed(derive(seed, "batch order"))
        model = CifarInput(cifar_resnet34(n_classes), augment).to(config.device)
        optimizer = make_optimizer(
            opt,
            list(model.parameters()),
            lr,
            wd,
            implementation=config.implementation,
            weight_decouple=config.adabelief_weight_decouple,
        )
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, config.decay_epoch, gamma=0.1)
        accs, losses = [], []
        for _ in progress(range(config.epochs), desc=opt):
            model.train()
            total = torch.zeros((), device=config.device)
            for batch in torch.randperm(n_train, generator=order).to(config.device).split(config.batch_size):
                loss = F.cross_entropy(model(data["x_train"][batch]), data["y_train"][batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(batch)
            schedule.step()
            model.eval()
            with torch.no_grad():
                correct = sum(
                    (model(x).argmax(1) == y).sum()
                    for x, y in zip(data["x_test"].split(500), data["y_test"].split(500), strict=True)
                )
            accs.append(int(correct) / n_test)
            losses.append(total.item() / n_train)
        metrics[f"{opt}/test_accuracy"] = accs[-1]
        series[f"{opt}/test_accuracy"] = accs
        series[f"{opt}/train_loss"] = losses
    return Result(metrics, series)
