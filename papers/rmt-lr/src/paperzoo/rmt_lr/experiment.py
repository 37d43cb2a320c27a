"""The scale runners of rmt-lr (declared in :mod:`paperzoo.rmt_lr.bench`).

- :func:`run_smoke`: the tiny MLP's Lanczos λ_max against ``eigvalsh`` of its exact Hessian, the Jensen
  property over a partition into batches, and a short learner run through ``train_classifier``.
- :func:`run_full` (digits) and :func:`run_paper` (CIFAR, GPU): (a) E[λ_1(H_B)] over B at init and after
  training, with the fit a + c(1/B − 1/N); (b) the max stable lr vs B for SGD and Adam; (c) the learner vs
  best-of-grid SGD-momentum and Adam on the GroupNorm ResNet. The jobs of a seed run on ``workers`` processes.
- :func:`select_learning_rates`: the cross-seed choice of the grid arms' learning rates.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.rmt_lr.hessian import exact_hessian
from paperzoo.rmt_lr.lanczos import batch_lambda_max, lambda_max
from paperzoo.rmt_lr.learner import LanczosLRMomentumScheduler
from paperzoo.rmt_lr.models import MLP, GroupNormResNet
from paperzoo.rmt_lr.stability import lr_grid_sqrt2, max_stable_lr
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import digits_val_example, load_digits_split
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import as_tensors, load_images, train_classifier
from paperzoo.shared.torch import configure

if TYPE_CHECKING:
    from paperzoo.rmt_lr.bench import FullConfig, SmokeConfig

Data = dict[str, torch.Tensor]
Job = tuple[dict[str, float], dict[str, list[float]]]  # one job's metrics and series


def fit_inverse_batch(batch_sizes: list[int], values: list[float], n: int) -> dict[str, float]:
    """Least-squares fit values ≈ a + c (1/B − 1/N): a, c, R², and the Spearman correlation of (B, values)."""
    from scipy import stats

    x = 1.0 / np.asarray(batch_sizes, dtype=np.float64) - 1.0 / n
    y = np.asarray(values, dtype=np.float64)
    c, a = np.polyfit(x, y, 1)
    residual = y - (a + c * x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return {"fit_a": float(a), "fit_c": float(c), "fit_r2": r2, "spearman": float(stats.spearmanr(batch_sizes, y)[0])}


def log_slope(batch_sizes: list[int], lrs: list[float]) -> float:
    """The least-squares slope of log lr against log B (NaN for fewer than 2 points or a 0 lr: the floor diverged)."""
    if len(lrs) < 2 or min(lrs) <= 0:
        return math.nan
    return float(np.polyfit(np.log(batch_sizes), np.log(lrs), 1)[0])


def _mlp(config: Any, seed: int) -> MLP:
    torch.manual_seed(derive(seed, "mlp init"))
    return MLP(config.mlp_sizes)


def spectrum_job(config: FullConfig, seed: int, data: Data) -> Job:
    """(a): E[λ_1(H_B)] per B over ``n_batches`` batches, at init and after ``train_epochs`` of SGD, and the fit."""
    configure(threads=1)
    model = _mlp(config, seed)
    x, y = data["x_train"], data["y_train"]
    n = len(y)
    sizes = [*config.batch_sizes, n]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {"batch_sizes": [float(b) for b in sizes]}
    for stage in ("init", "trained"):
        if stage == "trained":
            optimizer = lambda ps: torch.optim.SGD(ps, lr=config.pretrain_lr, momentum=0.9)  # noqa: E731
            train_classifier(model, optimizer, data, config.train_epochs, config.pretrain_batch, seed)
        gen = torch.Generator().manual_seed(derive(seed, f"spectrum {stage}"))
        means = [
            float(
                batch_lambda_max(
                    model, F.cross_entropy, (x, y), b, config.n_batches if b < n else 1, config.m, gen
                ).mean()
            )
            for b in sizes
        ]
        series[f"{stage}/lambda1"] = means
        metrics |= {f"{stage}/{k}": v for k, v in fit_inverse_batch(sizes, means, n).items()}
        metrics[f"{stage}/lambda1_full"] = means[-1]
        metrics[f"{stage}/lambda1_ratio"] = means[0] / means[-1]
    return metrics, series


def stability_job(
    config: FullConfig, seed: int, data: Data, opt: str
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(b): the max stable lr of ``opt`` at each B from the same init and batches; small- and large-B slopes."""
    configure(threads=1)
    model = _mlp(config, seed)
    n = len(data["y_train"])
    sizes = [*config.batch_sizes, n]
    grid = lr_grid_sqrt2(*dict(config.stability_grid)[opt])
    scans = [
        max_stable_lr(
            opt,
            model,
            F.cross_entropy,
            (data["x_train"], data["y_train"]),
            b,
            grid,
            config.stability_steps,
            derive(seed, f"stability {b}"),
        )
        for b in sizes
    ]
    lrs = [s.lr for s in scans]
    small = [i for i, b in enumerate(sizes) if b <= config.small_batch_max]
    large = [i for i, b in enumerate(sizes) if b >= config.large_batch_min]
    slope = log_slope([sizes[i] for i in small], [lrs[i] for i in small])
    metrics = {
        f"{opt}/small_b_slope": slope,
        f"{opt}/large_b_slope": log_slope([sizes[i] for i in large], [lrs[i] for i in large]),
        f"{opt}/slope_deviation": abs(slope - dict(config.expected_slope)[opt]),
        f"{opt}/stable_at_edge": float(any(s.at_edge for s in scans)),
        f"{opt}/floor_diverged": float(min(lrs) == 0),
    }
    return metrics, {f"{opt}/max_stable_lr": lrs}


def _cnn(config: Any, seed: int, channels: int, n_classes: int) -> GroupNormResNet:
    torch.manual_seed(derive(seed, "cnn init"))  # the same initial weights for every arm and learning rate
    return GroupNormResNet(config.cnn_width, config.cnn_groups, n_classes, channels).to(config.device)


def train_job(
    config: Any, seed: int, data: Data, arm: str, lr: float
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(c): one training run of the GroupNorm ResNet: a grid arm ("sgd" momentum 0.9, "adam") at ``lr``, or the
    learner (``arm="learner"``, ``lr`` unused: the scheduler sets it and the momentum)."""
    import time

    configure(threads=1)
    channels, n_classes = data["x_train"].shape[1], int(data["y_train"].max()) + 1
    model = _cnn(config, seed, channels, n_classes)
    schedulers: list[LanczosLRMomentumScheduler] = []
    make_scheduler = None
    if arm == "learner":
        steps_per_epoch = -(-len(data["y_train"]) // config.batch_size)

        def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int) -> LanczosLRMomentumScheduler:
            scheduler = LanczosLRMomentumScheduler(
                optimizer, model, F.cross_entropy, (data["x_train"], data["y_train"]),
                batch_size=min(config.learner_batch, len(data["y_train"])),
                every=config.learner_every_epochs * steps_per_epoch, m=config.m, n_v=config.n_v, w_min=config.w_min,
                rho_cap=config.rho_cap, lr_cap=config.lr_cap, seed=derive(seed, "learner"),
            )  # fmt: skip
            schedulers.append(scheduler)
            return scheduler

        def make_optimizer(ps: list[nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.SGD(ps, lr=0.0, momentum=0.0, weight_decay=config.weight_decay)
    elif arm == "sgd":

        def make_optimizer(ps: list[nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=config.weight_decay)
    else:

        def make_optimizer(ps: list[nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.Adam(ps, lr=lr, weight_decay=config.weight_decay)

    start = time.perf_counter()
    history = train_classifier(model, make_optimizer, data, config.epochs, config.batch_size, seed, make_scheduler)
    wall = time.perf_counter() - start
    key = arm if arm == "learner" else grid_key(arm, lr)
    metrics = {
        f"{key}/val_accuracy": history.val_accuracy[-1],
        f"{key}/val_loss": history.val_loss[-1],
        f"{key}/test_accuracy": history.test_accuracy[-1],
    }
    series = {f"{key}/val_accuracy": history.val_accuracy, f"{key}/train_loss": history.train_loss}
    if schedulers:
        calls = schedulers[0].history
        lrs = [c["lr"] for c in calls]
        metrics |= {
            "learner/lr_first": lrs[0],
            "learner/lr_last": lrs[-1],
            "learner/lr_max_over_min": max(lrs) / min(lrs),
            "learner/momentum_mean": float(np.mean([c["momentum"] for c in calls])),
            "learner/momentum_range": float(np.ptp([c["momentum"] for c in calls])),
            "learner/share_of_run": schedulers[0].seconds / wall,
        }
        series |= {
            f"learner/{k}": [c[k] for c in calls] for k in ("step", "lambda_max", "lambda_min", "lr", "momentum")
        }
    return metrics, series


def _run(config: Any, seed: int, data: Data) -> Result:
    jobs: list[tuple[Any, tuple[Any, ...]]] = []
    if config.spectra:
        jobs += [(spectrum_job, (config, seed, data))] + [
            (stability_job, (config, seed, data, o)) for o in ("sgd", "adam")
        ]
    jobs += [(train_job, (config, seed, data, "learner", 0.0))]
    jobs += [(train_job, (config, seed, data, arm, lr)) for arm, lrs in config.lr_grid for lr in lrs]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for m, s in run_jobs(jobs, config.workers, f"rmt-lr, seed {seed}"):
        metrics |= m
        series |= s
    if config.spectra:  # the SGD slope that α_max = 2/λ_1(H_B) predicts from the measured spectra
        small = [i for i, b in enumerate(series["batch_sizes"]) if b <= config.small_batch_max]
        predicted = [2 / series["init/lambda1"][i] for i in small]
        metrics["init/predicted_sgd_slope"] = log_slope([series["batch_sizes"][i] for i in small], predicted)
    return Result(metrics, series)


def run_full(config: FullConfig, seed: int) -> Result:
    return _run(config, seed, as_tensors(load_digits_split(), config.device))


def run_paper(config: Any, seed: int) -> Result:
    """The paper's CIFAR-100 setting on a GPU: the same three experiments, the spectra on the GroupNorm ResNet."""
    data = load_images(config.data, config.data_dir, config.device)
    return _run(config, seed, data)


def select_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per grid arm, the lr with the best mean validation accuracy over seeds (ties within one validation
    example go to the lower validation loss): adds ``<arm>/lr``, ``<arm>/lr_at_edge``, ``<arm>/test_accuracy``."""
    return lr_grid.select_learning_rates(per_seed, ("val_accuracy", "test_accuracy"), digits_val_example())


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    configure(threads=1)
    data = as_tensors(load_digits_split(), config.device)
    x, y = data["x_train"], data["y_train"]
    torch.manual_seed(derive(seed, "mlp init"))
    model = MLP(config.mlp_sizes)
    gen = torch.Generator().manual_seed(derive(seed, "smoke lanczos"))
    exact = float(torch.linalg.eigvalsh(exact_hessian(model, F.cross_entropy, (x, y)).double())[-1])
    estimate = lambda_max(model, F.cross_entropy, (x, y), config.m, gen)
    order = torch.randperm(len(y), generator=gen)
    batch_max = [
        lambda_max(model, F.cross_entropy, (x[i], y[i]), config.m, gen) for i in order.split(config.partition_batch)
    ]
    metrics = {
        "lanczos/lambda_max_rel_error": abs(estimate - exact) / exact,
        "jensen/mean_batch_over_full": float(np.mean(batch_max)) / exact,
    }
    learner = train_job(config, seed, data, "learner", 0.0)
    metrics |= {k: v for k, v in learner[0].items() if k in ("learner/test_accuracy", "learner/momentum_range")}
    return Result(metrics, {"jensen/batch_lambda_max": batch_max})
