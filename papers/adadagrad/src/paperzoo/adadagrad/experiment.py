"""The scale runners of AdAdaGrad (configs in :mod:`paperzoo.adadagrad.bench`).

- :func:`run_smoke`: the norm test's b̃ against its analytic value on logistic regression with a known gradient
  covariance; η = 10⁹ against constant-batch AdaGrad step for step; a short digits run
  with the augmented inner-product test.
- :func:`run_full`: every (task, optimizer, batch schedule) arm for one equal sample budget, paired by seed
  (same initial weights and batch order within a task), the arms spread over worker processes.
- :func:`run_paper`: the official MNIST / CIFAR-10 settings, for a GPU.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from paperzoo.adadagrad.batch_tests import BatchTest, norm_test
from paperzoo.adadagrad.models import CifarCNN, DigitsCNN, StudentMLP, teacher_task
from paperzoo.adadagrad.optimizer import AdaGradNorm
from paperzoo.adadagrad.per_sample import per_sample_grads
from paperzoo.adadagrad.sampling import AdaptiveBatchSampler, constant_lr, warmup_cosine_lr
from paperzoo.adadagrad.training import Trajectory, train_adaptive
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import digits_split_sizes, load_digits_split
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import as_tensors, evaluate
from paperzoo.shared.torch import configure

OPTIMIZERS: tuple[str, ...] = ("adagrad", "adagradnorm")
# A scheduled batch of at least this share of the training set is "saturated": drawn without replacement, its
# mean's variance is at most (n - b)/(n - 1) <= 1/2 of the i.i.d. variance the tests assume, and the next step up
# is the whole set (b_max), so the data set size, not the test, sets the noise.
SATURATED_BATCH = 0.5
TASKS: tuple[str, ...] = ("digits", "teacher")


def make_optimizer(name: str, params: Any, lr: float, s0: float = 1e-2, implementation: str = "foreach"):
    """``torch.optim.Adagrad`` (its defaults, as the official runs) or :class:`AdaGradNorm`."""
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    return AdaGradNorm(params, lr=lr, s0=s0, implementation=implementation)


def schedules(config: Any) -> dict[str, tuple[int, BatchTest | None]]:
    """The batch schedules of the full scale: name -> (b_0, test or None for a constant batch)."""
    arms: dict[str, tuple[int, BatchTest | None]] = {
        f"const{config.b_small}": (config.b_small, None),
        f"const{config.b_large}": (config.b_large, None),
    }
    for eta in config.etas:
        arms[f"norm_eta{eta:g}"] = (config.b_small, BatchTest("norm", eta=eta, blockwise=config.blockwise))
    test = BatchTest("augmented_ip", theta=config.theta, nu=config.nu, blockwise=config.blockwise)
    arms[f"aug_ip_theta{config.theta:g}_nu{config.nu:g}"] = (config.b_small, test)
    return arms


def arm_name(task: str, optimizer: str, schedule: str) -> str:
    return f"{task}_{optimizer}_{schedule}"


@functools.lru_cache(maxsize=4)
def task_data(task: str, seed: int, n_train: int, n_test: int, dim: int, hidden: int) -> dict[str, Tensor]:
    """The digits split (fixed) or the teacher task of ``seed`` (train/validation/test) as CPU tensors."""
    if task == "digits":
        return as_tensors(load_digits_split(), "cpu")
    split = teacher_task(n_train, n_test, n_test, dim, hidden, 10, derive(seed, "teacher"))
    names = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    return {k: torch.from_numpy(getattr(split, k)) for k in names}


def make_model(config: Any, task: str) -> nn.Module:
    if task == "digits":
        return DigitsCNN()
    return StudentMLP(config.teacher_dim, config.student_hidden, 10)


def run_arm(config: Any, task: str, optimizer: str, schedule: str, lr: float, seed: int) -> dict[str, Any]:
    """One arm of one seed at learning rate ``lr``: final test/validation accuracy, steps, batch sizes, curves."""
    configure(threads=1)
    data = task_data(task, seed, config.teacher_train, config.teacher_test, config.teacher_dim, config.teacher_hidden)
    b0, test = schedules(config)[schedule]
    torch.manual_seed(derive(seed, task, "init"))
    model = make_model(config, task)
    n = len(data["y_train"])
    epochs = config.digits_epochs if task == "digits" else config.teacher_epochs
    sampler = AdaptiveBatchSampler(n, b0, n, derive(seed, task, "batches"))
    opt = make_optimizer(optimizer, model.parameters(), lr, config.s0)
    trajectory = train_adaptive(
        model,
        opt,
        data["x_train"],
        data["y_train"],
        sampler,
        budget=epochs * n,
        lr_at=functools.partial(constant_lr, lr=lr),
        test=test,
        test_interval=config.test_interval,
        chunk_size=config.chunk_size,
        evaluate=lambda: evaluate(model, data["x_test"], data["y_test"])[0],
        checkpoints=config.checkpoints,
    )
    return _arm_record(trajectory, model, data, b0)


def saturated_fraction(trajectory: Trajectory, n: int) -> float:
    """The share of the samples drawn at a scheduled batch size >= ``SATURATED_BATCH``·n (see there)."""
    drawn = np.asarray(trajectory.batch_sizes, dtype=np.float64)
    saturated = np.asarray(trajectory.scheduled_batch_sizes) >= SATURATED_BATCH * n
    return float(drawn[saturated].sum() / drawn.sum())


def _arm_record(trajectory: Trajectory, model: nn.Module, data: dict[str, Tensor], b0: int) -> dict[str, Any]:
    val_accuracy, val_loss = evaluate(model, data["x_val"], data["y_val"])
    metrics = {
        "test_accuracy": trajectory.checkpoint_values[-1],
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "steps": float(trajectory.steps),
        "samples": float(trajectory.samples),
        "final_batch_size": float(trajectory.checkpoint_batch_sizes[-1]),
        "batch_growth": trajectory.checkpoint_batch_sizes[-1] / b0,
        # the share of the budget drawn at a batch of half the training set or more (SATURATED_BATCH)
        "saturated_fraction": saturated_fraction(trajectory, len(data["y_train"])),
        "tests": float(len(trajectory.test_steps)),
        # 1 if the scheduled size never fell between checkpoints
        "monotone": float(np.all(np.diff(trajectory.checkpoint_batch_sizes) >= 0)),
    }
    series = {
        "samples": [float(s) for s in trajectory.checkpoint_samples],
        "test_accuracy": trajectory.checkpoint_values,
        "batch_size": [float(b) for b in trajectory.checkpoint_batch_sizes],
    }
    return {"metrics": metrics, "series": series}


def validation_size(config: Any, task: str) -> int:
    """The validation set size of ``task`` (one example = the learning-rate selection's tie tolerance)."""
    return digits_split_sizes()[1] if task == "digits" else config.teacher_test


def _run_stage(config: Any, jobs: list[tuple[str, str, str, float]], seed: int, desc: str) -> list[dict[str, Any]]:
    # the tested arms are the slow ones: start them first
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][2].startswith("const"))
    records = run_jobs([(run_arm, (config, *jobs[i], seed)) for i in order], config.workers, desc=desc)
    out: list[dict[str, Any]] = [{}] * len(jobs)
    for i, record in zip(order, records, strict=True):
        out[i] = record
    return out


def run_full(config: Any, seed: int) -> Result:
    """Every (task, optimizer, schedule) arm of one seed, on ``config.workers`` processes, in two stages.

    1. Learning-rate selection, the same for both optimizers: constant b_small at every rate of the optimizer's
       grid (``config.lr_grids``, equal sizes), recorded as ``<arm>@<lr>/…``; the rate with the best validation
       accuracy of this seed (within one validation example: the lower validation loss) is chosen by
       :func:`paperzoo.shared.lr_grid.select_learning_rates` (``<arm>/lr``, ``<arm>/lr_at_edge``), and the chosen
       run is the b_small arm.
    2. Every other schedule of that task and optimizer at the chosen rate (the rate does not change with b).
    """
    grids = dict(config.lr_grids)
    small = f"const{config.b_small}"
    pairs = [(t, o) for t in config.tasks for o in OPTIMIZERS]
    grid_jobs = [(t, o, small, lr) for t, o in pairs for lr in grids[o]]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    grid_records = _run_stage(config, grid_jobs, seed, f"seed {seed}: lr grid")
    for (task, optimizer, schedule, lr), record in zip(grid_jobs, grid_records, strict=True):
        key = grid_key(arm_name(task, optimizer, schedule), lr)
        metrics |= {f"{key}/{k}": v for k, v in record["metrics"].items()}
        series |= {f"{key}/{k}": v for k, v in record["series"].items()}
    metrics = lr_grid.select_learning_rates(
        [metrics], tuple(grid_records[0]["metrics"]), lambda arm: 1 / validation_size(config, arm.split("_")[0])
    )[0]
    chosen: dict[tuple[str, str], float] = {}
    for task, optimizer in pairs:
        arm = arm_name(task, optimizer, small)
        lr = next(v for v in grids[optimizer] if grid_key(arm, v) == grid_key(arm, metrics[f"{arm}/lr"]))
        chosen[task, optimizer] = lr
        series |= {f"{arm}/{k}": series[f"{grid_key(arm, lr)}/{k}"] for k in ("samples", "test_accuracy", "batch_size")}
    jobs = [(t, o, s, chosen[t, o]) for t, o in pairs for s in schedules(config) if s != small]
    records = _run_stage(config, jobs, seed, f"seed {seed}")
    for (task, optimizer, schedule, _), record in zip(jobs, records, strict=True):
        arm = arm_name(task, optimizer, schedule)
        metrics |= {f"{arm}/{k}": v for k, v in record["metrics"].items()}
        series |= {f"{arm}/{k}": v for k, v in record["series"].items()}
    for task, optimizer in pairs:
        small_steps = metrics[f"{arm_name(task, optimizer, small)}/steps"]
        for schedule in schedules(config):
            arm = arm_name(task, optimizer, schedule)
            metrics[f"{arm}/step_reduction"] = small_steps / metrics[f"{arm}/steps"]
    return Result(metrics=metrics, series=series)


# ----------------------------------------------------------------------------------------------------- smoke
def logistic_gradients(dim: int, b: int, mean_norm: float, seed: int) -> tuple[dict[str, Tensor], float]:
    """Per-sample gradients of 2-class logistic regression at θ = 0 on x | y ~ N(±m, I), and tr(Σ)/‖∇F‖².

    At θ = 0 each sample's gradient row is ±½·s·x with s = ±1 the class sign, and s·x ~ N(m, I): the gradient is
    Gaussian with mean ½(m, −m) and covariance ¼I per row, so tr(Σ)/‖∇F‖² = dim/‖m‖² exactly.
    """
    gen = torch.Generator().manual_seed(seed)
    m = torch.randn(dim, generator=gen, dtype=torch.float64)
    m = m * mean_norm / m.norm()
    y = torch.randint(0, 2, (b,), generator=gen)
    x = (2 * y - 1)[:, None] * m + torch.randn(b, dim, generator=gen, dtype=torch.float64)
    model = nn.Linear(dim, 2, bias=False).double()
    nn.init.zeros_(model.weight)
    return per_sample_grads(model, x, y), dim / mean_norm**2


def _digits_run(config: Any, seed: int, test: BatchTest | None, samples: int) -> tuple[Trajectory, nn.Module]:
    data = task_data("digits", seed, 0, 0, 0, 0)
    torch.manual_seed(derive(seed, "digits", "init"))
    model = DigitsCNN()
    n = len(data["y_train"])
    sampler = AdaptiveBatchSampler(n, config.b0, n, derive(seed, "digits", "batches"))
    opt = make_optimizer("adagrad", model.parameters(), config.lr)
    trajectory = train_adaptive(
        model,
        opt,
        data["x_train"],
        data["y_train"],
        sampler,
        budget=samples,
        lr_at=functools.partial(constant_lr, lr=config.lr),
        test=test,
        evaluate=lambda: evaluate(model, data["x_test"], data["y_test"])[0],
        checkpoints=config.checkpoints,
    )
    return trajectory, model


def run_smoke(config: Any, seed: int) -> Result:
    """The analytic norm test, η = 10⁹ against constant AdaGrad, and a short digits run with the augmented IP test."""
    configure(threads=1)
    grads, ratio = logistic_gradients(config.logistic_dim, config.logistic_batch, 1.0, derive(seed, "logistic"))
    measured = norm_test(grads, config.eta)
    analytic = ratio / config.eta**2
    n = len(task_data("digits", seed, 0, 0, 0, 0)["y_train"])
    huge, huge_model = _digits_run(config, seed, BatchTest("norm", eta=1e9), config.equal_samples)
    _, const_model = _digits_run(config, seed, None, config.equal_samples)
    difference = max(
        (a - b).abs().max().item() for a, b in zip(huge_model.parameters(), const_model.parameters(), strict=True)
    )
    test = BatchTest("augmented_ip", theta=config.theta, nu=config.nu)
    tested, _ = _digits_run(config, seed, test, config.digits_epochs * n)
    constant, _ = _digits_run(config, seed, None, config.digits_epochs * n)
    metrics = {
        "analytic/norm_test_over_analytic": measured / analytic,
        "eta1e9/max_parameter_difference": difference,
        "eta1e9/batch_changes": float(len(set(huge.batch_sizes) - {config.b0})),
        "eta1e9/steps": float(huge.steps),
        "digits_aug_ip/test_accuracy": tested.checkpoint_values[-1],
        "digits_aug_ip/final_batch_size": float(tested.checkpoint_batch_sizes[-1]),
        "digits_aug_ip/monotone": float(np.all(np.diff(tested.checkpoint_batch_sizes) >= 0)),
        "digits_aug_ip/step_reduction": constant.steps / tested.steps,
        f"digits_const{config.b0}/test_accuracy": constant.checkpoint_values[-1],
    }
    series = {
        "digits_aug_ip/samples": [float(s) for s in tested.checkpoint_samples],
        "digits_aug_ip/batch_size": [float(b) for b in tested.checkpoint_batch_sizes],
        "digits_aug_ip/test_accuracy": tested.checkpoint_values,
    }
    return Result(metrics=metrics, series=series)


# ----------------------------------------------------------------------------------------------------- paper
def load_paper_data(dataset: str, data: str, data_dir: str, device: str) -> dict[str, Tensor]:
    """MNIST (grey, N×1×28×28) or CIFAR-10 (N×3×32×32) in [0, 1]: torchvision's download, or a local ``.npz`` of
    uint8 ``x_train``, ``y_train``, ``x_test``, ``y_test`` (images (N, H, W) or (N, H, W, 3))."""
    if data == "download":
        import torchvision

        cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.CIFAR10
        sets = [cls(data_dir, train=train, download=True) for train in (True, False)]
        arrays = {}
        for split, s in zip(("train", "test"), sets, strict=True):
            arrays[f"x_{split}"], arrays[f"y_{split}"] = np.asarray(s.data), np.asarray(s.targets)
    else:
        with np.load(data) as file:
            arrays = {k: file[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    out = {}
    for split in ("train", "test"):
        x = torch.from_numpy(arrays[f"x_{split}"]).float().div(255)
        out[f"x_{split}"] = (x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)).contiguous().to(device)
        out[f"y_{split}"] = torch.from_numpy(np.asarray(arrays[f"y_{split}"], dtype=np.int64)).to(device)
    return out


def run_paper(config: Any, seed: int) -> Result:
    """The official MNIST CNN (constant lr min(lr, max_lr)) or CIFAR-10 CNN (warm-up + cosine) run with a test."""
    configure()
    data = load_paper_data(config.dataset, config.data, config.data_dir, config.device)
    torch.manual_seed(derive(seed, "init"))
    size = data["x_train"].shape[-1]
    model = (DigitsCNN(image_size=size) if config.dataset == "mnist" else CifarCNN(image_size=size)).to(config.device)
    n = len(data["y_train"])
    sampler = AdaptiveBatchSampler(n, config.b0, min(config.b_max, n), derive(seed, "batches"))
    if config.warmup_samples is None:
        lr_at = functools.partial(constant_lr, lr=config.lr, max_lr=config.max_lr)
    else:
        lr_at = functools.partial(
            warmup_cosine_lr,
            lr=config.lr,
            warmup_samples=config.warmup_samples,
            decay_samples=config.decay_samples,
            min_lr=config.min_lr,
        )
    implementation = "compiled" if config.device == "cuda" else "foreach"
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, implementation=implementation)
    trajectory = train_adaptive(
        model,
        opt,
        data["x_train"],
        data["y_train"],
        sampler,
        budget=config.samples,
        lr_at=lr_at,
        test=BatchTest(config.test, eta=config.eta, theta=config.theta, nu=config.nu, blockwise=config.blockwise),
        test_interval=config.test_interval,
        chunk_size=config.chunk_size,
        evaluate=lambda: evaluate(model, data["x_test"], data["y_test"])[0],
        checkpoints=config.checkpoints,
    )
    record = _arm_record(trajectory, model, {**data, "x_val": data["x_test"], "y_val": data["y_test"]}, config.b0)
    arm = f"{config.dataset}_{config.optimizer}_{config.test}"
    return Result(
        metrics={f"{arm}/{k}": v for k, v in record["metrics"].items() if math.isfinite(v)},
        series={f"{arm}/{k}": v for k, v in record["series"].items()},
    )
