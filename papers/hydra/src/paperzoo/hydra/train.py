"""The CPU-scale experiment: a tiny ``transformers`` ViT pretrained on digits 0-4, then fine-tuned on six
VTAB-style downstream tasks built from scikit-learn's digits by each method.

Methods (:data:`METHODS`): ``probe`` (the head alone), ``full`` (every parameter), ``lora`` and ``lora_bias``
(Hugging Face peft, ``lora_bias`` = a bias on B), ``par`` / ``seq`` (one Hydra branch) and ``hydra`` (both), all on
the attention output projection and fc2 of every block, the new head trained in every method (as the official
VTAB script does). Hydra has ``rank`` per branch; every other adapter gets, per target layer, the rank whose
trainable count is nearest Hydra's on that layer (:func:`matched_ranks`).

``transformers`` and ``peft`` are imported inside the functions that need them, so that ``paperzoo.hydra`` itself
imports only torch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.hydra.adapter import VIT_TARGETS, HydraConfig, apply_hydra, hydra_layers, target_shapes
from paperzoo.hydra.layer import BRANCHES, hydra_parameter_count
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import warmup_cosine_schedule, weight_decay_groups
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

METHODS = ("probe", "full", "lora", "lora_bias", "par", "seq", "hydra")
ADAPTERS = ("lora", "lora_bias", "par", "seq", "hydra")
TASKS = ("digits_5_9", "rotated", "inverted", "lit_count", "parity", "flipped")
BRANCHES_OF = {"par": ("par",), "seq": ("seq",), "hydra": BRANCHES}


# ------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ModelConfig:
    """The tiny ViT: 8x8 one-channel images, 2x2 patches (16 tokens + CLS), width 64, 4 blocks, 4 heads, MLP 4d."""

    image_size: int = 8
    patch_size: int = 2
    hidden_size: int = 64
    layers: int = 4
    heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "hidden_size", "layers", "heads", "mlp_ratio"):
            check_positive_int(name, getattr(self, name))


def build_vit(config: ModelConfig, n_classes: int) -> nn.Module:
    """A randomly initialised ``transformers`` ``ViTForImageClassification`` from ``config`` (no dropout)."""
    from transformers import ViTConfig, ViTForImageClassification

    vit_config = ViTConfig(
        image_size=config.image_size, patch_size=config.patch_size, num_channels=1,
        hidden_size=config.hidden_size, num_hidden_layers=config.layers, num_attention_heads=config.heads,
        intermediate_size=config.mlp_ratio * config.hidden_size, num_labels=n_classes,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return ViTForImageClassification(vit_config)


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(pixel_values=x).logits


def cls_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the head of a ``ViTForImageClassification`` reads: the last hidden state (after the final layer norm) at
    the CLS token, so that ``logits(model, x) == model.classifier(cls_features(model, x))``."""
    return model.vit(pixel_values=x).last_hidden_state[:, 0]


# ------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TaskData:
    """One task's images (n, 1, 8, 8) and labels, per split, and its number of classes."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def majority_rate(self) -> float:
        """The test accuracy of always predicting the most frequent training class."""
        return float((self.y_test == torch.bincount(self.y_train).argmax()).float().mean())


def task_arrays(
    task: str, x: np.ndarray, y: np.ndarray, lit_edges: np.ndarray, flip_seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``task`` from digit images ``x`` (n, 8, 8) in [0, 1] and digit labels ``y``:
    digits 5-9 (label - 5), rotated 90 degrees (10 classes), inverted 1 - x (10), the number of lit pixels (> 0.5)
    bucketed by ``lit_edges`` (5), digit parity (2), and whether the image was mirrored left-right (2; the mirrored
    half drawn from ``flip_seed``)."""
    check_one_of("task", task, TASKS)
    if task == "digits_5_9":
        keep = y >= 5
        return x[keep], y[keep] - 5
    if task == "rotated":
        return np.rot90(x, 1, axes=(1, 2)).copy(), y
    if task == "inverted":
        return 1.0 - x, y
    if task == "lit_count":
        return x, np.searchsorted(lit_edges, (x > 0.5).sum(axis=(1, 2)), side="right").astype(np.int64)
    if task == "parity":
        return x, y % 2
    flip = np.random.default_rng(flip_seed).random(len(x)) < 0.5
    return np.where(flip[:, None, None], x[:, :, ::-1], x), flip.astype(np.int64)


def make_tasks(n_train: int, n_val: int, n_test: int, tasks: tuple[str, ...] = TASKS) -> dict[str, TaskData]:
    """Every downstream task on the shared digits split (the same images for every seed): the first ``n_train``
    training, ``n_val`` validation and ``n_test`` test images of each task (after a fixed shuffle)."""
    split = load_digits_split()
    lit = (split.x_train > 0.5).sum(axis=(1, 2))
    edges = np.quantile(lit, [0.2, 0.4, 0.6, 0.8])  # 5 lit-pixel buckets of about equal training mass
    out = {}
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    for task in tasks:
        parts = {}
        for name, n in sizes.items():
            x, y = getattr(split, f"x_{name}"), getattr(split, f"y_{name}")
            xt, yt = task_arrays(task, x, y, edges, derive(0, f"mirrored/{name}"))
            order = np.random.default_rng(derive(0, f"{task}/{name}")).permutation(len(yt))[:n]
            parts[f"x_{name}"] = torch.from_numpy(np.ascontiguousarray(xt[order], dtype=np.float32)).unsqueeze(1)
            parts[f"y_{name}"] = torch.from_numpy(yt[order].astype(np.int64))
        out[task] = TaskData(**parts, n_classes=int(parts["y_train"].max()) + 1)
    return out


def pretrain_data(n_val: int) -> TaskData:
    """Digits 0-4 of the shared split (training and validation images), 5 classes."""
    split = load_digits_split()
    parts = {}
    for name, x, y in (("train", split.x_train, split.y_train), ("val", split.x_val, split.y_val),
                       ("test", split.x_test, split.y_test)):  # fmt: skip
        keep = y < 5
        parts[f"x_{name}"] = torch.from_numpy(x[keep]).unsqueeze(1)
        parts[f"y_{name}"] = torch.from_numpy(y[keep])
    parts["x_val"], parts["y_val"] = parts["x_val"][:n_val], parts["y_val"][:n_val]
    return TaskData(**parts, n_classes=5)


def augment(x: torch.Tensor, max_degrees: float, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """A random rotation in [-max_degrees, max_degrees] and shift in [-max_shift, max_shift] pixels per image
    (bilinear, zero fill), as one batched ``affine_grid`` / ``grid_sample``."""
    n, _, h, _ = x.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * max_shift / h)  # grid units: 2 / size per pixel
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Top-1 accuracy (a fraction) and mean cross-entropy in eval mode."""
    model.eval()
    out = logits(model, x)
    return float((out.argmax(1) == y).float().mean()), float(F.cross_entropy(out, y))


def train_loop(
    model: nn.Module, data: TaskData, steps: int, batch_size: int, lr: float, weight_decay: float, warmup: int,
    seed: int, augmentation: tuple[float, float] | None = None,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] = logits,
) -> list[float]:  # fmt: skip
    """AdamW (weight decay on matrices only) with linear warm-up and cosine decay, ``steps`` minibatches drawn
    epoch by epoch in an order fixed by ``seed``; returns each step's training loss. ``forward(model, x)`` gives
    the logits of a batch of ``data.x_train``."""
    optimizer = torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr)
    schedule = warmup_cosine_schedule(optimizer, steps, warmup)
    order_gen = torch.Generator().manual_seed(derive(seed, "batch order"))
    aug_gen = torch.Generator().manual_seed(derive(seed, "augmentation"))
    n = len(data.y_train)
    batches: list[torch.Tensor] = []
    while len(batches) < steps:
        batches += list(torch.randperm(n, generator=order_gen).split(batch_size))
    model.train()
    losses = []
    for batch in batches[:steps]:
        x = data.x_train[batch]
        if augmentation is not None:
            x = augment(x, *augmentation, aug_gen)
        loss = F.cross_entropy(forward(model, x), data.y_train[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def train_probe(
    model: nn.Module, data: TaskData, steps: int, batch_size: int, lr: float, weight_decay: float, warmup: int,
    seed: int,
) -> list[float]:  # fmt: skip
    """The linear probe of ``model`` (frozen backbone without dropout, as :func:`build_vit` makes it) trained as
    :func:`train_loop` trains the whole model (the same head, batches and AdamW), but on the training images' CLS
    features computed once: the frozen backbone's forward pass runs once instead of at every step. The loss of a
    batch B is ``CE(W f(x_B) + b, y_B)`` with ``f = cls_features``, equal to the whole model's up to float rounding
    (the features of a batch of all training images instead of one of ``batch_size``)."""
    with torch.no_grad():
        features = cls_features(model.eval(), data.x_train)
    head_data = dataclasses.replace(data, x_train=features)
    return train_loop(model.classifier, head_data, steps, batch_size, lr, weight_decay, warmup, seed,
                      forward=lambda head, x: head(x))  # fmt: skip


# ------------------------------------------------------------------------------------------- pretraining
@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining the tiny ViT on digits 0-4 with random rotations (+-15 deg) and shifts (+-1 px)."""

    model: ModelConfig = ModelConfig()
    steps: int = 1200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 50
    max_degrees: float = 15.0
    max_shift: float = 1.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        for name in ("weight_decay", "warmup", "max_degrees", "max_shift"):
            check_non_negative(name, getattr(self, name))


def pretrain(config: PretrainConfig, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The pretrained backbone's state (``vit.*``, without the 5-way head) and its digits 0-4 accuracies."""
    data = pretrain_data(n_val=10_000)
    torch.manual_seed(derive(seed, "pretrain init"))
    model = build_vit(config.model, 5)
    losses = train_loop(model, data, config.steps, config.batch_size, config.lr, config.weight_decay, config.warmup,
                        derive(seed, "pretrain"), (config.max_degrees, config.max_shift))  # fmt: skip
    metrics = {
        "pretrain/val_accuracy": evaluate(model, data.x_val, data.y_val)[0],
        "pretrain/test_accuracy": evaluate(model, data.x_test, data.y_test)[0],
        "pretrain/final_train_loss": float(np.mean(losses[-20:])),
    }
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    return state, metrics


# ------------------------------------------------------------------------------------------- methods
def matched_ranks(model: nn.Module, method: str, rank: int, targets: tuple[str, ...] = VIT_TARGETS) -> dict[str, int]:
    """Per target name, the rank of ``method`` whose trainable count on that layer is nearest Hydra's with ``rank``
    per branch (``hydra`` itself: ``rank``). LoRA trains ``k (d_in + d_out)`` (+ ``d_out`` with ``lora_bias``)."""
    shapes = target_shapes(model, targets)
    out = {}
    for t in targets:
        d_in, d_out = next(s for name, s in shapes.items() if name == t or name.endswith("." + t))
        budget = hydra_parameter_count(d_in, d_out, rank)
        if method in ("lora", "lora_bias"):
            per_rank, fixed = d_in + d_out, d_out if method == "lora_bias" else 0
        else:
            one = hydra_parameter_count(d_in, d_out, 1, BRANCHES_OF[method])
            per_rank = hydra_parameter_count(d_in, d_out, 2, BRANCHES_OF[method]) - one
            fixed = one - per_rank
        out[t] = min(min(d_in, d_out), max(1, round((budget - fixed) / per_rank)))
    return out


def attach_method(model: nn.Module, method: str, rank: int, scale: float, dropout: float,
                  targets: tuple[str, ...] = VIT_TARGETS) -> nn.Module:  # fmt: skip
    """Prepare ``model`` (a ``ViTForImageClassification`` with a fresh head) for ``method``, in place.

    - ``probe``: the head alone trains; ``full``: every parameter.
    - ``par`` / ``seq`` / ``hydra``: :func:`apply_hydra` (vision-code defaults: xavier, biases) with scale s and
      dropout, ranks from :func:`matched_ranks`.
    - ``lora`` / ``lora_bias``: peft ``LoraConfig`` at matched per-layer ranks, ``lora_alpha = s * rank`` (the
      same output scale s as Hydra), ``lora_dropout`` = Hydra's dropout (peft applies it to the input).
    The classifier head trains in every method.
    """
    check_one_of("method", method, METHODS)
    if method == "full":
        return model.requires_grad_(True)
    if method == "probe":
        model.requires_grad_(False)
    else:
        ranks = matched_ranks(model, method, rank, targets)
        if method in BRANCHES_OF:
            apply_hydra(model, HydraConfig(target_modules=targets, rank=rank, scale=scale, dropout=dropout,
                                           branches=BRANCHES_OF[method], rank_pattern=ranks))  # fmt: skip
        else:
            from peft import LoraConfig, inject_adapter_in_model

            base = ranks[targets[0]]
            config = LoraConfig(
                r=base, lora_alpha=scale * base, target_modules=list(targets), lora_dropout=dropout,
                rank_pattern={t: k for t, k in ranks.items() if k != base},
                alpha_pattern={t: scale * k for t, k in ranks.items() if k != base},
                lora_bias=method == "lora_bias",
            )  # fmt: skip
            inject_adapter_in_model(config, model)
    model.classifier.requires_grad_(True)
    return model


# ------------------------------------------------------------------------------------------- fine-tuning
@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning one task: AdamW (weight decay 1e-4 on matrices, the official VTAB configs), warm-up + cosine.

    ``rank`` is Hydra's rank per branch; ``scale`` and ``dropout`` Hydra's s and branch dropout (LoRA: the same)."""

    steps: int = 150
    batch_size: int = 32
    warmup: int = 10
    weight_decay: float = 1e-4
    rank: int = 4
    scale: float = 1.0
    dropout: float = 0.2
    n_train: int = 256
    n_val: int = 140
    n_test: int = 180

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "rank", "n_train", "n_val", "n_test"):
            check_positive_int(name, getattr(self, name))
        check_non_negative("warmup", self.warmup)
        check_non_negative("weight_decay", self.weight_decay)
        check_positive("scale", self.scale)
        check_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)


def finetune(
    backbone: dict[str, torch.Tensor], model_config: ModelConfig, data: TaskData, method: str, lr: float,
    config: FinetuneConfig, seed: int, task: str,
) -> tuple[dict[str, float], list[float]]:  # fmt: skip
    """Fine-tune the pretrained ``backbone`` with a new head on one task by ``method`` at ``lr``: validation and test
    accuracy, validation loss, trainable parameters, mean step time, losses; for Hydra arms, the norm of the
    trained up-projections (``seq_up_norm``, ``par_up_norm``: the branches' mechanism acted); and the training
    loss of every step."""
    torch.manual_seed(derive(seed, f"{task}/head"))  # the same new head for every method of a seed and task
    model = build_vit(model_config, data.n_classes)
    model.load_state_dict(backbone, strict=False)
    attach_method(model, method, config.rank, config.scale, config.dropout)
    start = time.perf_counter()
    train = train_probe if method == "probe" else train_loop  # the probe: the frozen backbone's features once
    losses = train(model, data, config.steps, config.batch_size, lr, config.weight_decay, config.warmup,
                   derive(seed, f"{task}/finetune"))  # fmt: skip
    step_ms = 1000 * (time.perf_counter() - start) / config.steps
    val_accuracy, val_loss = evaluate(model, data.x_val, data.y_val)
    out = {
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "test_accuracy": evaluate(model, data.x_test, data.y_test)[0],
        "trainable_params": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "first_train_loss": float(np.mean(losses[:10])),
        "final_train_loss": float(np.mean(losses[-10:])),
        "step_ms": step_ms,
    }
    layers = [layer for _, layer in hydra_layers(model)]
    for branch in ("par", "seq"):
        ups = [getattr(layer, f"{branch}_up") for layer in layers if getattr(layer, f"{branch}_up") is not None]
        if ups:
            out[f"{branch}_up_norm"] = float(torch.stack([u.weight.detach().norm() for u in ups]).mean())
    return out, losses
