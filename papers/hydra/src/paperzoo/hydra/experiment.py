"""The scale runners of the Hydra benchmark (declared in :mod:`paperzoo.hydra.bench`).

- :func:`run_smoke`: the layer against its limiting cases (peft's LoRA with ``lora_bias``, ``(I + s W_s)`` after
  the base layer), merge / unmerge, then a few fine-tuning steps of LoRA and Hydra on a briefly pretrained ViT.
- :func:`run_full`: pretrain the tiny ViT on digits 0-4, fine-tune it on six downstream tasks with every method at
  every learning rate of its grid; :func:`select_learning_rates` is the cross-seed aggregate step.
- :func:`run_paper`: a hub ViT (ViT-B/16) on VTAB-1k tasks given as ``.npz`` files, each method in turn.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from paperzoo.hydra.adapter import VIT_TARGETS, apply_hydra, hydra_layers, merge_hydra, unmerge_hydra
from paperzoo.hydra.layer import HydraLinear
from paperzoo.hydra.train import (
    METHODS,
    TASKS,
    FinetuneConfig,
    ModelConfig,
    TaskData,
    attach_method,
    evaluate,
    finetune,
    logits,
    make_tasks,
    pretrain,
    train_loop,
)
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import HF_LIBRARIES, configure

if TYPE_CHECKING:
    from paperzoo.hydra.bench import FullConfig, PaperConfig, SmokeConfig


# ----------------------------------------------------------------------------------------------- smoke
def randomize(layer: HydraLinear, generator: torch.Generator, std: float = 0.1) -> None:
    """Every trainable branch parameter (U included) to N(0, std^2)."""
    with torch.no_grad():
        for p in layer.parameters():
            if p.requires_grad:
                p.copy_(std * torch.randn(p.shape, generator=generator, dtype=p.dtype))


def layer_checks(seed: int) -> dict[str, float]:
    """float64 checks of one layer: parallel-only vs peft's LoRA layer with ``lora_bias`` given the same weights
    (b_D = 0), sequential-only vs ``(I + s W_s)(W0 x + b0) + s c``, merge and unmerge errors of Hydra."""
    from peft import LoraConfig, inject_adapter_in_model

    gen = torch.Generator().manual_seed(derive(seed, "layer checks"))
    x = torch.randn(7, 24, generator=gen, dtype=torch.float64)
    s = 0.7
    holder = nn.Sequential()
    holder.add_module("lin", nn.Linear(24, 16).double())
    base = nn.Linear(24, 16).double()
    base.load_state_dict(holder.lin.state_dict())
    par = HydraLinear(base, 3, s, branches=("par",))
    randomize(par, gen)
    with torch.no_grad():
        par.par_down.bias.zero_()
        inject_adapter_in_model(LoraConfig(r=3, lora_alpha=3 * s, target_modules=["lin"], lora_bias=True), holder)
        holder.lin.lora_A["default"].weight.copy_(par.par_down.weight)
        holder.lin.lora_B["default"].weight.copy_(par.par_up.weight)
        holder.lin.lora_B["default"].bias.copy_(par.par_up.bias)
        peft_diff = float((par(x) - holder(x)).abs().max())

        seq = HydraLinear(nn.Linear(24, 16).double(), 3, s, branches=("seq",))
        randomize(seq, gen)
        w_s = seq.seq_up.weight @ seq.seq_down.weight
        c = seq.seq_up.weight @ seq.seq_down.bias + seq.seq_up.bias
        h = seq.base(x)
        seq_diff = float((seq(x) - (h @ (torch.eye(16, dtype=torch.float64) + s * w_s).T + s * c)).abs().max())

        hydra = HydraLinear(nn.Linear(24, 16).double(), 3, s)
        randomize(hydra, gen)
        w0, b0 = hydra.base.weight.clone(), hydra.base.bias.clone()
        y = hydra(x)
        hydra.merge()
        merge_err = float((hydra(x) - y).abs().max())
        hydra.unmerge()
        unmerge_err = max(float((hydra.base.weight - w0).abs().max()), float((hydra.base.bias - b0).abs().max()))
    return {
        "par/peft_lora_bias_max_diff": peft_diff,
        "seq/formula_max_diff": seq_diff,
        "hydra/merge_max_err": merge_err,
        "hydra/unmerge_max_err": unmerge_err,
    }


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    metrics = layer_checks(seed)
    backbone, _ = pretrain(config.pretrain, seed)
    f = config.finetune
    data = make_tasks(f.n_train, f.n_val, f.n_test, (config.task,))[config.task]
    series = {}
    for method in config.methods:
        found, losses = finetune(backbone, config.pretrain.model, data, method, config.lr, config.finetune, seed,
                                 config.task)  # fmt: skip
        metrics[f"{method}/loss_ratio"] = statistics.fmean(losses[-10:]) / statistics.fmean(losses[:10])
        metrics[f"{method}/trainable_params"] = found["trainable_params"]
        series[f"{method}/train_loss"] = losses
    metrics |= model_merge_checks(backbone, config.pretrain.model, data, config.finetune, seed)
    return Result(metrics, series)


def model_merge_checks(backbone: dict[str, torch.Tensor], model_config: ModelConfig, data: TaskData,
                       config: FinetuneConfig, seed: int) -> dict[str, float]:  # fmt: skip
    """On the whole ViT (float32): zero-init Hydra gives the base logits exactly; with random branches, merged
    and unmerged logits agree."""
    from paperzoo.hydra.train import build_vit

    torch.manual_seed(derive(seed, "merge check"))
    model = build_vit(model_config, data.n_classes).eval()
    model.load_state_dict(backbone, strict=False)
    x = data.x_test[:32]
    with torch.no_grad():
        base = logits(model, x)
        apply_hydra(model, rank=config.rank, scale=config.scale)
        init_diff = float((logits(model, x) - base).abs().max())
        gen = torch.Generator().manual_seed(derive(seed, "merge check branches"))
        for _, layer in hydra_layers(model):
            randomize(layer, gen, 0.05)
        adapted = logits(model, x)
        merge_hydra(model)
        merged_diff = float((logits(model, x) - adapted).abs().max())
        unmerge_hydra(model)
    return {"hydra/init_logit_max_diff": init_diff, "hydra/model_merge_max_diff": merged_diff}


# ----------------------------------------------------------------------------------------------- full
def finetune_job(backbone: dict[str, torch.Tensor], model_config: ModelConfig, data: TaskData, method: str, lr: float,
                 config: FinetuneConfig, seed: int, task: str) -> tuple[dict[str, float], list[float]]:  # fmt: skip
    """One grid run in whichever process runs it (one thread, deterministic)."""
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    return finetune(backbone, model_config, data, method, lr, config, seed, task)


def run_full(config: FullConfig, seed: int) -> Result:
    """Pretrain on digits 0-4 (this seed), then every method x task x learning rate of ``config.lr_grid`` on
    ``config.workers`` processes. Metrics ``<method>/<task>@<lr>/<metric>``, ``<task>/majority_rate``, and the
    pretrained model's digits 0-4 accuracy."""
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    backbone, metrics = pretrain(config.pretrain, seed)
    f = config.finetune
    tasks = make_tasks(f.n_train, f.n_val, f.n_test, config.tasks)
    metrics |= {f"{task}/majority_rate": tasks[task].majority_rate for task in config.tasks}
    runs = [(method, task, lr) for method, lrs in config.lr_grid for task in config.tasks for lr in lrs]
    jobs = [(finetune_job, (backbone, config.pretrain.model, tasks[t], m, lr, f, seed, t)) for m, t, lr in runs]
    series: dict[str, list[float]] = {}
    results = run_jobs(jobs, config.workers, f"fine-tuning, seed {seed}")
    for (method, task, lr), (found, losses) in zip(runs, results, strict=True):
        key = grid_key(f"{method}/{task}", lr)
        metrics |= {f"{key}/{k}": v for k, v in found.items()}
        series[f"{key}/train_loss"] = losses
    return Result(metrics, series)


SELECTED = ("val_accuracy", "val_loss", "test_accuracy", "trainable_params", "final_train_loss", "step_ms")


def select_learning_rates(per_seed: list[dict[str, float]], tie_tolerance: float) -> list[dict[str, float]]:
    """Each (method, task)'s learning rate by mean validation accuracy over seeds (shared ``lr_grid``; within
    ``tie_tolerance``, one validation image, the lower validation loss); then per method and seed, over the tasks:
    ``mean_test_accuracy``, ``min_margin_over_majority`` (its worst task's test accuracy minus that task's
    majority-class rate), ``lr_edge_fraction``, ``trainable_params`` (mean), and the mean up-projection norms."""
    out = lr_grid.select_learning_rates(per_seed, SELECTED, tie_tolerance)
    for m in out:
        methods = sorted({k.split("/")[0] for k in m if "@" in k})
        tasks = sorted({k.split("/")[1].split("@")[0] for k in m if "@" in k})
        for method in methods:
            acc = [m[f"{method}/{t}/test_accuracy"] for t in tasks]
            m[f"{method}/mean_test_accuracy"] = float(np.mean(acc))
            m[f"{method}/min_margin_over_majority"] = min(
                a - m[f"{t}/majority_rate"] for a, t in zip(acc, tasks, strict=True)
            )
            m[f"{method}/lr_edge_fraction"] = float(np.mean([m[f"{method}/{t}/lr_at_edge"] for t in tasks]))
            m[f"{method}/trainable_params"] = float(np.mean([m[f"{method}/{t}/trainable_params"] for t in tasks]))
            for branch in ("par", "seq"):
                norms = [m.get(grid_key(f"{method}/{t}", m[f"{method}/{t}/lr"]) + f"/{branch}_up_norm") for t in tasks]
                if all(v is not None for v in norms):
                    m[f"{method}/{branch}_up_norm"] = float(np.mean(norms))
    return out


# ----------------------------------------------------------------------------------------------- paper
def load_task(path: Path, image_size: int) -> TaskData:
    """A VTAB-1k task from ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``: uint8 images (N, H, W, 3) and
    labels; the official split: 800 + 200 training images, here trained on together; test as validation too),
    resized to ``image_size`` and normalised to [-1, 1] (the ViT-B/16 in21k preprocessing)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}

    def images(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)
        t = nn.functional.interpolate(t, size=(image_size, image_size), mode="bilinear", align_corners=False)
        return (t - 0.5) / 0.5

    y_train, y_test = (torch.from_numpy(arrays[k].astype(np.int64)) for k in ("y_train", "y_test"))
    x_train, x_test = images(arrays["x_train"]), images(arrays["x_test"])
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return TaskData(x_train, y_train, x_test, y_test, x_test, y_test, n_classes)


def run_paper(config: PaperConfig, seed: int) -> Result:
    """Each method fine-tunes ``config.base_model`` (a ``ViTForImageClassification`` checkpoint, new head) on each
    VTAB-1k task (``<data_dir>/<task>.npz``) with the official recipe (AdamW, lr, wd 1e-4, 10 warm-up epochs +
    cosine, 100 epochs, batch 64; Hydra rank 2 per branch, the task's scale, dropout 0.2) and reports test accuracy."""
    from transformers import ViTForImageClassification

    configure(deterministic=False, quiet=HF_LIBRARIES)
    metrics: dict[str, float] = {}
    for task in config.tasks:
        data = load_task(Path(config.data_dir).expanduser() / f"{task}.npz", config.image_size)
        steps = config.epochs * math.ceil(len(data.y_train) / config.batch_size)
        data = TaskData(*(t.to(config.device) if isinstance(t, torch.Tensor) else t for t in vars(data).values()))
        scale = dict(config.scales).get(task, 1.0)
        for method in config.methods:
            torch.manual_seed(derive(seed, f"{task}/head"))
            model = ViTForImageClassification.from_pretrained(
                config.base_model, num_labels=data.n_classes, ignore_mismatched_sizes=True
            ).to(config.device)
            attach_method(model, method, config.rank, scale, config.dropout, VIT_TARGETS)
            train_loop(model, data, config.max_steps or steps, config.batch_size, config.lr, config.weight_decay,
                       config.warmup_epochs * math.ceil(len(data.y_train) / config.batch_size),
                       derive(seed, f"{task}/finetune"))  # fmt: skip
            metrics[f"{method}/{task}/test_accuracy"] = evaluate(model, data.x_test, data.y_test)[0]
    for method in config.methods:
        metrics[f"{method}/mean_test_accuracy"] = float(np.mean([metrics[f"{method}/{t}/test_accuracy"]
                                                                 for t in config.tasks]))  # fmt: skip
    return Result(metrics, {})


__all__ = ["METHODS", "TASKS", "run_full", "run_paper", "run_smoke", "select_learning_rates"]
