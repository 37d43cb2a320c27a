"""The scale runners of the SGD-SaI benchmark (declared in :mod:`paperzoo.sgd_sai.bench`).

- :func:`run_smoke`: a digits MLP, the first step's closed form, the fixed g-SNR, the state's size and the
  equivalence with per-tensor ``torch.optim.SGD`` (:func:`sgd_equivalence`).
- :func:`run_full`: SGD-SaI, AdamW and SGD-momentum over their learning-rate grids on a tiny ViT (digits,
  :func:`run_vit`) and a character transformer (synthetic language, :func:`run_lm`);
  :func:`select_learning_rates` is its cross-seed aggregate step.
- :func:`run_paper`: the official lr × weight-decay grid of ResNet-18 (:mod:`paperzoo.sgd_sai.cifar`) on CIFAR-10
  (the shared testbed's :func:`~paperzoo.shared.testbeds.classify.load_images`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.sgd_sai import cifar
from paperzoo.sgd_sai.language import ALPHABET
from paperzoo.sgd_sai.lm import LMData, evaluate_lm, lm_data, train_lm
from paperzoo.sgd_sai.models import CharTransformer
from paperzoo.sgd_sai.optimizer import SGDSaI
from paperzoo.sgd_sai.training import (
    OPTIMIZERS,
    make_optimizer,
    make_transformer_optimizer,
    step_decay,
    warmup_cosine,
)
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.data import digits_val_example, load_digits_split
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import (
    MLP,
    CifarInput,
    TinyViT,
    as_tensors,
    evaluate,
    load_images,
    train_classifier,
    train_steps,
)
from paperzoo.shared.torch import configure
from paperzoo.shared.torch.optim import state_bytes_per_param

if TYPE_CHECKING:
    from paperzoo.sgd_sai.bench import CifarGridConfig, SmokeConfig, TransformerConfig

# Inductor warns "No CUDA runtime is found" whenever it compiles on a CPU-only machine: not our news.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


# ---------------------------------------------------------------------------------------------- smoke
def sgd_equivalence(steps: int, seed: int) -> float:
    """Max |θ_SGD-SaI − θ_SGD| over ``steps`` float64 steps, wd = 0, against per-tensor ``torch.optim.SGD``.

    ``warmup_step()`` fixes the scales from the first gradients; torch's SGD with one group per tensor at
    lr·gsnr_p, momentum μ and dampening μ (its buffer starts at g too) is then the same update.
    """
    gen = torch.Generator().manual_seed(seed)
    shapes = ((8, 5), (5,), (3, 4, 2))
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    ours = [nn.Parameter(t.clone()) for t in start]
    theirs = [nn.Parameter(t.clone()) for t in start]
    sai = SGDSaI(ours, lr=1e-2, momentum=0.9, weight_decay=0.0, implementation="single_tensor")
    sgd = None
    worst = 0.0
    for _ in range(steps):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64) + 0.3 for s in shapes]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        if sgd is None:
            sai.warmup_step()
            groups = [{"params": [q], "lr": 1e-2 * sai.lr_scale(p)} for p, q in zip(ours, theirs, strict=True)]
            sgd = torch.optim.SGD(groups, lr=1e-2, momentum=0.9, dampening=0.9, foreach=False)
        sai.step()
        sgd.step()
        worst = max(worst, max((p - q).abs().max().item() for p, q in zip(ours, theirs, strict=True)))
    return worst


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """200 steps of a digits MLP, the first step in float64 against its closed form, AdamW's state size."""
    configure(threads=1)  # a second OpenMP thread on a shared 2-core machine makes these tiny ops 40x slower
    data = as_tensors(load_digits_split(), config.device)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randint(len(data["y_train"]), (config.steps, config.batch_size), generator=gen)

    # First step in float64 against θ(1 − lr·λ) − lr·gsnr·g, gsnr = ‖g‖/(std(g) + ε).
    torch.manual_seed(seed)
    model = MLP().double().to(config.device)
    x0, y0 = data["x_train"][order[0]].double(), data["y_train"][order[0]]
    F.cross_entropy(model(x0), y0).backward()
    before = [(p.detach().clone(), p.grad.clone()) for p in model.parameters()]
    optimizer = SGDSaI(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, implementation="foreach")
    optimizer.step()
    first_step_error = 0.0
    for p, (theta, g) in zip(model.parameters(), before, strict=True):
        gsnr = g.norm() / (g.std() + 1e-8)
        expected = theta * (1 - config.lr * config.weight_decay) - config.lr * gsnr * g
        first_step_error = max(first_step_error, (p.detach() - expected).abs().max().item())

    # 200 steps of the MLP (float32), the g-SNR recorded after the first and the last.
    torch.manual_seed(seed)
    model = MLP().to(config.device)
    opt = SGDSaI(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, implementation=config.implementation
    )
    losses = train_steps(model, opt, data["x_train"], data["y_train"], order[:1])
    first_gsnr = [opt.state[p]["gsnr"] for p in model.parameters()]
    losses += train_steps(model, opt, data["x_train"], data["y_train"], order[1:])
    last_gsnr = [opt.state[p]["gsnr"] for p in model.parameters()]
    accuracy = evaluate(model, data["x_test"], data["y_test"])[0]

    # AdamW's state on the same model after one step, for the memory ratio.
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3)
    adamw.step()
    sai_bytes, adamw_bytes = state_bytes_per_param(opt), state_bytes_per_param(adamw)
    metrics = {
        "sgd_sai/mlp_test_accuracy": accuracy,
        "sgd_sai/mlp_loss_ratio": float(np.mean(losses[-20:]) / np.mean(losses[:20])),
        "sgd_sai/first_step_max_abs_diff": first_step_error,
        "sgd_sai/gsnr_max_change": max(abs(a - b) for a, b in zip(first_gsnr, last_gsnr, strict=True)),
        "sgd_sai/min_gsnr": min(first_gsnr),
        "sgd_sai/state_bytes_per_param": sai_bytes,
        "adamw/state_bytes_per_param": adamw_bytes,
        "sgd_sai/state_over_adamw": sai_bytes / adamw_bytes,
        "sgd_sai/sgd_equivalence_max_abs_diff": sgd_equivalence(config.equivalence_steps, seed),
    }
    return Result(metrics, {"sgd_sai/mlp_loss": losses, "sgd_sai/mlp_gsnr": first_gsnr})


# ----------------------------------------------------------------------------------------------- full
def grid_key(task: str, opt: str, lr: float) -> str:
    """The arm name of one run, e.g. ``vit_sgd_sai@0.0003``."""
    return lr_grid.grid_key(f"{task}_{opt}", lr)


def run_vit(config: TransformerConfig, seed: int, lr: float, opt: str) -> tuple[dict[str, float], dict[str, list]]:
    """One tiny-ViT run on digits: final metrics and per-epoch curves."""
    data = as_tensors(load_digits_split(), config.device)
    torch.manual_seed(seed)  # the same initial weights for every optimizer and learning rate
    model = TinyViT().to(config.device)  # 8×8 digits, 2×2 patches → 16 tokens + class token, dim 64, 2 blocks
    wd = dict(config.vit_weight_decay)[opt]
    optimizer = make_transformer_optimizer(opt, model, lr, wd, config.implementation)  # no decay on 1-D tensors
    schedule = warmup_cosine(config.warmup_fraction)
    history = train_classifier(
        model, lambda _: optimizer, data, config.vit_epochs, config.vit_batch_size, seed, make_scheduler=schedule
    )
    test_accuracy, test_loss = evaluate(model, data["x_test"], data["y_test"])
    metrics = {
        "val_accuracy": history.val_accuracy[-1],
        "val_loss": history.val_loss[-1],
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "train_loss": history.train_loss[-1],
        "state_bytes_per_param": state_bytes_per_param(optimizer),
    }
    return metrics, {"val_accuracy": history.val_accuracy, "train_loss": history.train_loss}


def run_lm(
    config: TransformerConfig, seed: int, lr: float, opt: str, data: LMData
) -> tuple[dict[str, float], dict[str, list]]:
    """One character-transformer run on the synthetic language: final metrics and curves."""
    torch.manual_seed(seed)
    model = CharTransformer(len(ALPHABET), config.lm_context, config.lm_dim, config.lm_depth).to(config.device)
    wd = dict(config.lm_weight_decay)[opt]
    optimizer = make_transformer_optimizer(opt, model, lr, wd, config.implementation)  # no decay on 1-D tensors
    history = train_lm(
        model,
        lambda _: optimizer,
        data,
        config.lm_steps,
        config.lm_batch_size,
        config.lm_eval_every,
        seed,
        warmup_cosine(config.warmup_fraction),
        config.lm_grad_clip,
    )
    test_accuracy, test_loss = evaluate_lm(model, data.test)
    metrics = {
        "val_accuracy": history.val_accuracy[-1],
        "val_loss": history.val_loss[-1],
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "train_loss": float(np.mean(history.train_loss[-config.lm_eval_every :])),
        "state_bytes_per_param": state_bytes_per_param(optimizer),
    }
    return metrics, {"val_loss": history.val_loss, "val_accuracy": history.val_accuracy}


def run_full(config: TransformerConfig, seed: int) -> Result:
    """Every (task, optimizer, learning rate) of the grids from the seed's initial weights and batch order."""
    configure(threads=config.threads)
    grids = {"vit": dict(config.vit_lr_grid), "lm": dict(config.lm_lr_grid)}
    data = lm_data(config) if "lm" in config.tasks else None
    runners = {
        "vit": lambda lr, opt: run_vit(config, seed, lr, opt),
        "lm": lambda lr, opt: run_lm(config, seed, lr, opt, data),
    }
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(task, opt, lr) for task in config.tasks for opt in OPTIMIZERS for lr in grids[task][opt]]
    for task, opt, lr in progress(runs, desc=f"transformers, seed {seed}"):
        values, curves = runners[task](lr, opt)
        # the state's size does not depend on the learning rate: one figure per task and optimizer
        metrics[f"{task}_{opt}/state_bytes_per_param"] = values.pop("state_bytes_per_param")
        arm = grid_key(task, opt, lr)
        metrics |= {f"{arm}/{name}": value for name, value in values.items()}
        series |= {f"{arm}/{name}": curve for name, curve in curves.items()}
    for task in config.tasks:
        metrics[f"{task}/state_sgd_sai_over_adamw"] = (
            metrics[f"{task}_sgd_sai/state_bytes_per_param"] / metrics[f"{task}_adamw/state_bytes_per_param"]
        )
    if data is not None:
        metrics["lm/majority_accuracy"] = data.majority_accuracy
    return Result(metrics, series)


def select_learning_rates(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per arm (task, optimizer), the learning rate with the best mean validation accuracy over the seeds.

    :func:`paperzoo.shared.lr_grid.select_learning_rates`: adds ``<arm>/lr``, ``<arm>/lr_at_edge`` and the
    chosen run's validation/test accuracy and loss and train loss. Ties: within one validation example, the
    lower mean validation loss; the ViT's validation set is 288 digits, the language model's accuracy is over
    thousands of characters (exact ties only there).
    """
    return lr_grid.select_learning_rates(
        per_seed,
        ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "train_loss"),
        lambda arm: digits_val_example() if arm.startswith("vit_") else 0.0,
    )


# ---------------------------------------------------------------------------------------------- paper
def cifar_arm(opt: str, lr: float, weight_decay: float) -> str:
    """The arm name of one grid point, e.g. ``sgd_sai_lr0.001_wd0.0005``."""
    return f"{opt}_lr{lr:g}_wd{weight_decay:g}"


def run_paper(config: CifarGridConfig, seed: int) -> Result:
    """The official robustness grid: each optimizer at every (lr, weight decay), the same initial weights.

    Per point: ``epochs`` of the official recipe (batch ``batch_size``, crop + flip augmentation, the lr
    ×``lr_decay`` every ``lr_decay_every`` epochs), then the final and best test accuracy over the epochs.
    Per optimizer: the best and the mean final test accuracy over its grid (the paper's Fig. 2 reads the
    spread: a robust optimizer is good over a wide region of the grid).
    """
    data = load_images(config.data, config.data_dir, config.device)
    n_classes = int(data["y_train"].max().item()) + 1
    image_size = data["x_train"].shape[-1]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    runs = [(opt, lr, wd) for opt in config.optimizers for lr in config.lrs for wd in config.weight_decays]
    for opt, lr, wd in progress(runs, desc=f"CIFAR grid, seed {seed}"):
        torch.manual_seed(seed)  # the same initial weights for every grid point
        augment = torch.Generator(config.device).manual_seed(derive(seed, "augmentation"))
        model = CifarInput(cifar.build_model(config.model, n_classes, image_size), augment).to(config.device)
        optimizer = make_optimizer(opt, list(model.parameters()), lr, wd, config.implementation)
        history = train_classifier(
            model,
            lambda _, optimizer=optimizer: optimizer,
            data,
            config.epochs,
            config.batch_size,
            derive(seed, "batch order"),
            make_scheduler=step_decay(config.epochs, config.lr_decay_every, config.lr_decay),
        )
        arm = cifar_arm(opt, lr, wd)
        metrics[f"{arm}/test_accuracy"] = history.test_accuracy[-1]
        metrics[f"{arm}/best_test_accuracy"] = max(history.test_accuracy)
        metrics[f"{arm}/train_loss"] = history.train_loss[-1]
        series[f"{arm}/test_accuracy"] = history.test_accuracy
        series[f"{arm}/train_loss"] = history.train_loss
    for opt in config.optimizers:
        finals = [
            metrics[f"{cifar_arm(opt, lr, wd)}/test_accuracy"] for lr in config.lrs for wd in config.weight_decays
        ]
        metrics[f"{opt}/grid_best_test_accuracy"] = max(finals)
        metrics[f"{opt}/grid_mean_test_accuracy"] = float(np.mean(finals))
    metrics["data/chance_accuracy"] = 1.0 / n_classes
    return Result(metrics, series)
