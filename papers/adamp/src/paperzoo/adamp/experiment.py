"""The scale runners of AdamP's benchmark (declared in :mod:`paperzoo.adamp.bench`).

- :func:`run_smoke`: 200 float64 steps of a narrow BatchNorm CNN without weight decay, AdamP vs Adam and
  SGDP vs SGD-Nesterov at the same learning rate; the δ = 0 equivalences; the 2-D toy.
- :func:`run_full`: the BatchNorm CNN on digits (a stratified split resampled per seed), every optimizer at
  every point of its learning-rate grid;
  :func:`select_learning_rates` (the full scale's aggregate step) picks each optimizer's lr over the seeds.
- :func:`run_paper`: ResNet-50 on ImageNet, each optimizer from the same initialisation (GPUs).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.adamp.models import BNCNN, StepMonitor, per_epoch_means, toy_trajectory
from paperzoo.adamp.optimizer import SGDP, AdamP, scale_invariant_view
from paperzoo.adamp.training import cosine_schedule, make_optimizer
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import Split, digits_val_example, load_digits_split
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.progress import progress
from paperzoo.shared.testbeds.classify import as_tensors, imagenet_loaders, train_classifier, train_on_gpu
from paperzoo.shared.torch import configure
from paperzoo.shared.validate import check_one_of

if TYPE_CHECKING:
    from paperzoo.adamp.bench import DigitsConfig, ImageNetConfig, SmokeConfig, ToyConfig

# Inductor warns "No CUDA runtime is found" whenever it compiles on a CPU-only machine: not our news.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


# ------------------------------------------------------------------------------------------------ toy
def run_toy(config: ToyConfig) -> Result:
    """The 2-D toy: final ‖w‖ and loss, and their curves, for SGD, momentum SGD and SGDP (same lr)."""
    makers: dict[str, Callable[[list[nn.Parameter]], torch.optim.Optimizer]] = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=config.lr),
        "momentum_sgd": lambda ps: torch.optim.SGD(ps, lr=config.lr, momentum=config.momentum),
        "sgdp": lambda ps: SGDP(ps, lr=config.lr, momentum=config.momentum, implementation="single_tensor"),
    }
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for name, make in makers.items():
        norms, losses = toy_trajectory(make, config.start, config.target, config.steps)
        metrics |= {f"toy/{name}_final_norm": norms[-1], f"toy/{name}_final_loss": losses[-1]}
        series |= {f"toy/{name}_norm": norms, f"toy/{name}_loss": losses}
    return Result(metrics, series)


# ---------------------------------------------------------------------------------------------- smoke
def _radial_cosines(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per output channel, |⟨Δw_i, w_i⟩| / (‖Δw_i‖·‖w_i‖) of one step (w the weight before it)."""
    w, dw = before.reshape(before.shape[0], -1), (after - before).reshape(before.shape[0], -1)
    return (w * dw).sum(1).abs() / (dw.norm(dim=1) * w.norm(dim=1)).clamp_min(1e-300)


def smoke_training(
    name: str, config: SmokeConfig, data: dict[str, torch.Tensor], order: torch.Tensor, seed: int
) -> dict[str, float]:
    """Train the BatchNorm CNN in float64 without weight decay; the smoke figures of one optimizer.

    ``conv_norm_growth``: ‖W_T‖/‖W_0‖ of all conv weights together; ``conv/head_projected_fraction``: the
    share of (step, weight) pairs where the scale-invariance test fires (AdamP's default δ, measured for
    every optimizer); for AdamP and SGDP ``max_radial_cosine``: the largest per-channel |cos(Δw_i, w_i)|
    over every step where a conv weight's test fired; ``test_accuracy`` at the end.
    """
    torch.manual_seed(seed)
    model = BNCNN(config.widths).double().to(config.device)
    lr = config.adam_lr if name in ("adam", "adamp") else config.sgd_lr
    if name == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = make_optimizer(name, list(model.parameters()), lr, 0.0, implementation=config.implementation)
    convs = model.conv_weights()
    start = math.sqrt(sum(float(w.detach().norm()) ** 2 for w in convs))
    fired = {"conv": 0, "head": 0}
    worst_radial = 0.0
    for batch in order:
        loss = F.cross_entropy(model(data["x_train"][batch]), data["y_train"][batch])
        optimizer.zero_grad()
        loss.backward()
        before = [w.detach().clone() for w in convs]
        tests = [scale_invariant_view(w.detach(), w.grad, 0.1) is not None for w in convs]
        fired["conv"] += sum(tests)
        fired["head"] += scale_invariant_view(model.head.weight.detach(), model.head.weight.grad, 0.1) is not None
        optimizer.step()
        for w, w0, test in zip(convs, before, tests, strict=True):
            if test:
                worst_radial = max(worst_radial, float(_radial_cosines(w0, w.detach()).max()))
    model.eval()
    with torch.no_grad():
        accuracy = float((model(data["x_test"]).argmax(1) == data["y_test"]).double().mean())
    end = math.sqrt(sum(float(w.detach().norm()) ** 2 for w in convs))
    steps = len(order)
    figures = {
        f"{name}/conv_norm_growth": end / start,
        f"{name}/conv_projected_fraction": fired["conv"] / (steps * len(convs)),
        f"{name}/head_projected_fraction": fired["head"] / steps,
        f"{name}/test_accuracy": accuracy,
    }
    return figures | ({f"{name}/max_radial_cosine": worst_radial} if name in ("adamp", "sgdp") else {})


def equivalence_gap(
    name: str, steps: int, data: dict[str, torch.Tensor], seed: int, widths: tuple[int, ...] = (8, 16, 16, 32)
) -> float:
    """Max |w_ours − w_torch| over a float64 run of the BatchNorm CNN with δ = 0 (no projection ever).

    AdamP(δ = 0, λ = 1e-2) against ``torch.optim.AdamW``; SGDP(δ = 0, Nesterov, no decay) against
    ``torch.optim.SGD``. Each optimizer trains its own copy of the model on the same batches, so any
    difference in an update shows up in the next gradients too.
    """
    torch.manual_seed(seed)
    ours_model = BNCNN(widths).double()
    theirs_model = BNCNN(widths).double()
    theirs_model.load_state_dict(ours_model.state_dict())
    if name == "adamp":
        ours: torch.optim.Optimizer = AdamP(
            ours_model.parameters(), lr=1e-2, weight_decay=1e-2, delta=0.0, implementation="single_tensor"
        )
        theirs: torch.optim.Optimizer = torch.optim.AdamW(theirs_model.parameters(), lr=1e-2, weight_decay=1e-2)
    else:
        ours = SGDP(
            ours_model.parameters(), lr=0.1, momentum=0.9, nesterov=True, delta=0.0, implementation="single_tensor"
        )
        theirs = torch.optim.SGD(theirs_model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(seed)
    x, y = data["x_train"].cpu(), data["y_train"].cpu()
    for _ in range(steps):
        batch = torch.randint(len(y), (32,), generator=gen)
        for model, optimizer in ((ours_model, ours), (theirs_model, theirs)):
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return max(
        float((a - b).detach().abs().max())
        for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True)
    )


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """The smoke scale: each optimizer's :func:`smoke_training` figures on the same batches, the δ = 0
    equivalence gaps and the toy."""
    configure(threads=1)
    split = split_for_seed(seed)
    data = {k: v.double() if k.startswith("x") else v for k, v in as_tensors(split, config.device).items()}
    data["x_train"], data["y_train"] = data["x_train"][: config.train_images], data["y_train"][: config.train_images]
    gen = torch.Generator().manual_seed(seed)
    order = torch.randint(config.train_images, (config.steps, config.batch_size), generator=gen).to(config.device)
    metrics: dict[str, float] = {}
    for name in ("adamp", "adam", "sgdp", "sgd"):
        metrics |= smoke_training(name, config, data, order, seed)
    for name, metric in (
        ("adamp", "adamp/adamw_equivalence_max_abs_diff"),
        ("sgdp", "sgdp/sgd_equivalence_max_abs_diff"),
    ):
        metrics[metric] = equivalence_gap(name, config.equivalence_steps, data, seed, config.widths)
    toy = run_toy(config.toy)
    return Result(metrics | toy.metrics, toy.series)


# ----------------------------------------------------------------------------------------------- full
def exact_fraction(accuracy: float, n: int) -> float:
    """A float32 accuracy over ``n`` images as the exact fraction correct/n in float64.

    The learning-rate choice breaks ties of mean validation accuracy (within 1e-9) by validation loss; float32
    accuracies of equal totals over the seeds (285 + 284 + 285 and 285 + 286 + 283 of 288) differ by ~1e-8
    and would break the tie at random instead.
    """
    return round(accuracy * n) / n


def split_for_seed(seed: int) -> Split:
    """The digits split of run ``seed``: stratified train/validation/test, resampled per seed (split seed = ``seed``).

    Every arm of a seed shares it (the comparisons stay paired); across seeds the test set changes, so the
    seeds' spread includes the sampling of the 360 test images, which a fixed split hides.
    """
    return load_digits_split(split_seed=seed)


def run_full(config: DigitsConfig, seed: int) -> Result:
    """The full scale on seed ``seed``'s split (:func:`split_for_seed`): every optimizer at every grid learning
    rate (``<opt>@<lr>/<metric>``), and the toy."""
    configure(threads=config.threads)
    data = as_tensors(split_for_seed(seed), config.device)
    wd = dict(config.weight_decay)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(opt, lr) for opt, lrs in config.lr_grid for lr in lrs]
    for opt, lr in progress(runs, desc=f"digits BN-CNN, seed {seed}"):
        torch.manual_seed(seed)  # the same initial weights for every optimizer and learning rate
        model = BNCNN(config.widths).to(config.device)
        convs = {f"conv{i}": w for i, w in enumerate(model.conv_weights(), start=1)}
        monitors: list[StepMonitor] = []

        watched = {**convs, "head": model.head.weight}

        def make(
            ps: list[nn.Parameter], o: str = opt, r: float = lr, w: dict = watched, out: list = monitors
        ) -> torch.optim.Optimizer:
            optimizer = make_optimizer(o, ps, r, wd[o], implementation=config.implementation)
            out.append(StepMonitor(optimizer, w))
            return optimizer

        history = train_classifier(model, make, data, config.epochs, config.batch_size, seed, cosine_schedule)
        monitor = monitors[0]
        names = list(convs)
        initial = math.sqrt(sum(monitor.initial_norms[n] ** 2 for n in names))
        conv_norm = [v / initial for v in per_epoch_means(monitor.joint_norms(names), config.epochs)]
        # Per step, the mean over conv layers of ‖Δw‖/‖w‖.
        effective = [float(np.mean(step)) for step in zip(*(monitor.effective_steps[n] for n in names), strict=True)]
        conv_fired = [float(np.mean(step)) for step in zip(*(monitor.fired[n] for n in names), strict=True)]
        arm = grid_key(opt, lr)
        metrics |= {
            f"{arm}/val_accuracy": exact_fraction(history.val_accuracy[-1], len(data["y_val"])),
            f"{arm}/val_loss": history.val_loss[-1],
            f"{arm}/test_accuracy": exact_fraction(history.test_accuracy[-1], len(data["y_test"])),
            f"{arm}/train_loss": history.train_loss[-1],
            f"{arm}/conv_norm_growth": monitor.joint_norms(names)[-1] / initial,
            f"{arm}/head_norm_growth": monitor.norms["head"][-1] / monitor.initial_norms["head"],
            f"{arm}/effective_step": float(np.mean(effective)),
            f"{arm}/conv_projected_fraction": float(np.mean(conv_fired)),
            f"{arm}/head_projected_fraction": float(np.mean(monitor.fired["head"])),
        }
        series |= {
            f"{arm}/val_accuracy": history.val_accuracy,
            f"{arm}/conv_norm": conv_norm,
            f"{arm}/effective_step": per_epoch_means(effective, config.epochs),
        }
    toy = run_toy(config.toy)
    return Result(metrics | toy.metrics, series | toy.series)


CHOSEN_METRICS = (
    "val_accuracy",
    "test_accuracy",
    "train_loss",
    "conv_norm_growth",
    "effective_step",
    "conv_projected_fraction",
    "head_projected_fraction",
)


def select_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per optimizer, the learning rate with the best mean validation accuracy over all seeds.

    :func:`paperzoo.shared.lr_grid.select_learning_rates` (within one validation example, the lower mean
    validation loss): adds ``<opt>/lr``, ``<opt>/lr_at_edge`` and the chosen run's :data:`CHOSEN_METRICS`.
    """
    return lr_grid.select_learning_rates(per_seed, CHOSEN_METRICS, digits_val_example())


# ---------------------------------------------------------------------------------------------- paper
def run_paper(config: ImageNetConfig, seed: int) -> Result:
    """The paper's ImageNet experiment: ResNet-50 (``config.model``) trained by each optimizer from the same
    initialisation; ``<opt>/test_accuracy`` is the final validation top-1 (its per-epoch curve a series)."""
    import torchvision

    check_one_of("model", config.model, torchvision.models.list_models(module=torchvision.models))
    data = imagenet_loaders(config.data_dir, config.image_size, config.batch_size, config.num_workers, seed)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for opt, lr, wd in config.arms:
        torch.manual_seed(seed)
        model = torchvision.models.get_model(config.model, num_classes=data.n_classes).to(config.device)
        optimizer = make_optimizer(opt, list(model.parameters()), lr, wd, implementation=config.implementation)
        schedule = cosine_schedule(optimizer, config.epochs * len(data.train))
        accs = train_on_gpu(model, optimizer, schedule, data, config.epochs, config.device, desc=opt)
        metrics[f"{opt}/test_accuracy"] = accs[-1]
        series[f"{opt}/test_accuracy"] = accs
    return Result(metrics, series)
