"""The continual instruction-tuning loop: one peft LoRA (or one per instruction group) trained task after task
on a tiny Llama, with plain LoRA, fixed-EMA or dynamic-EMA (CoIN) weights, and the accuracy matrix.

Per step (official trainer order): loss -> backward -> clip the gradient norm -> ``optimizer.step()`` -> EMA
update with the clipped gradient. Each task is a fresh run (new AdamW, cosine schedule, fresh EMA); at its end
the EMA replaces the LoRA weights. ``a[i][j]`` is the greedy exact match on task j after training task i.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from paperzoo.coin.ema import EMATracker
from paperzoo.coin.grouping import InstructionGrouper
from paperzoo.coin.tasks import TASKS, Example, Task, accuracy, example_batch, make_examples
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.arithmetic_lm import CharTokenizer, ModelConfig, build_llama, lm_loss
from paperzoo.shared.torch import warmup_cosine_schedule
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

ARMS = ("lora", "fixed_ema", "dynamic_ema", "grouping", "joint")
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ContinualConfig:
    """The continual protocol: ``steps`` AdamW steps per task (the joint arm: ``steps`` x tasks on mixed batches),
    LoRA rank ``r`` with ``lora_alpha = 2 r`` (the official 128 / 256), gradient clipping at ``max_grad_norm``
    (the HF trainer's default 1.0), fixed-EMA ``alpha`` (beta 0.99), grouping ``threshold`` (0.30, diverse
    instructions)."""

    n_tasks: int = 6
    steps: int = 100
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 3
    r: int = 8
    max_grad_norm: float = 1.0
    lengths: tuple[int, ...] = (4, 5, 6)
    n_test: int = 200
    n_val: int = 100
    fixed_alpha: float = 0.01
    threshold: float = 0.30
    eval_batch: int = 256
    arms: tuple[str, ...] = ARMS
    targets: tuple[str, ...] = field(default=LLAMA_TARGETS)

    def __post_init__(self) -> None:
        for name in ("n_tasks", "steps", "batch_size", "r", "n_test", "n_val", "eval_batch"):
            check_positive_int(name, getattr(self, name))
        if self.n_tasks > len(TASKS):
            raise ValueError(f"n_tasks must be <= {len(TASKS)}, got {self.n_tasks}")
        check_positive("lr", self.lr)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_non_negative("warmup", self.warmup)
        for name in ("fixed_alpha", "threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if not self.arms:
            raise ValueError("arms must hold at least one arm")
        for arm in self.arms:
            check_one_of("arms", arm, ARMS)


@dataclass
class ArmResult:
    """One arm of one seed: the accuracy matrix (NaN above the diagonal; the joint arm: one row), the per-step
    training loss, alpha_t per step (mean over tensors), the dynamic fallback share, the groups, the step time,
    and the final model's mean validation accuracy and answer loss over every task (the learning-rate choice)."""

    matrix: np.ndarray
    train_loss: list[float]
    alpha_mean: list[float]
    fallback_share: float
    ema_raw_gap: float
    groups: list[int]
    step_ms: float
    val_accuracy: float = math.nan
    val_loss: float = math.nan
    cpu_s: float = math.nan


def forgetting(matrix: np.ndarray) -> float:
    """mean_{j < T-1} (max_{j <= i < T-1} a[i][j] - a[T-1][j]) over the lower triangle of the T x T matrix."""
    t = matrix.shape[0]
    if t < 2:
        return math.nan
    return float(np.mean([matrix[j : t - 1, j].max() - matrix[t - 1, j] for j in range(t - 1)]))


def backward_transfer(matrix: np.ndarray) -> float:
    """BWT = mean_{j < T-1} (a[T-1][j] - a[j][j])."""
    t = matrix.shape[0]
    if t < 2:
        return math.nan
    return float(np.mean([matrix[t - 1, j] - matrix[j, j] for j in range(t - 1)]))


def _lora_config(config: ContinualConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.r, lora_alpha=2 * config.r, target_modules=list(config.targets), lora_dropout=0.0, bias="none"
    )


def _train(
    model: nn.Module,
    params: list[nn.Parameter],
    batches: Sequence[list[Example]],
    tok: CharTokenizer,
    config: ContinualConfig,
    tracker: EMATracker | None,
) -> tuple[list[float], float]:
    """One task's run over ``batches``; returns the losses and the mean step time (ms)."""
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0, fused=True)  # one kernel for all tensors
    sched = warmup_cosine_schedule(opt, len(batches), config.warmup)
    model.train()
    losses = []
    start = time.perf_counter()
    for examples in batches:
        loss = lm_loss(model, example_batch(tok, examples))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        opt.step()
        sched.step()
        if tracker is not None:
            tracker.update()  # after the step, with the clipped gradient still in .grad
        losses.append(loss.item())
    model.eval()
    return losses, 1000 * (time.perf_counter() - start) / len(batches)


def task_batches(task: int, config: ContinualConfig, seed: int, tasks: Sequence[Task] = TASKS) -> list[list[Example]]:
    """The training batches of ``task`` for ``seed`` (every arm sees these, in this order)."""
    rng = random.Random(derive(seed, f"train/{task}"))
    return [make_examples(task, config.batch_size, config.lengths, rng.randrange(2**31), tasks)
            for _ in range(config.steps)]  # fmt: skip


def eval_sets(split: str, config: ContinualConfig, seed: int, tasks: Sequence[Task] = TASKS) -> list[list[Example]]:
    """Each task's ``"val"`` (``n_val``) or ``"test"`` (``n_test``) examples, drawn from their own seeds."""
    n = config.n_val if split == "val" else config.n_test
    return [make_examples(j, n, config.lengths, derive(seed, f"{split}/{j}"), tasks) for j in range(config.n_tasks)]


@torch.no_grad()
def answer_loss(model: nn.Module, tok: CharTokenizer, examples: Sequence[Example], batch: int) -> float:
    """Mean answer cross-entropy over ``examples`` (the mean of the batches' means)."""
    return float(np.mean([float(lm_loss(model, example_batch(tok, examples[k : k + batch])))
                          for k in range(0, len(examples), batch)]))  # fmt: skip


def _validate(
    model: nn.Module, tok: CharTokenizer, vals: Sequence[list[Example]], config: ContinualConfig, route
) -> tuple[float, float]:
    """The final model's mean validation accuracy and answer loss over the tasks (``route(j)`` picks the adapter)."""
    accs, losses = [], []
    for j, examples in enumerate(vals):
        route(j)
        accs.append(accuracy(model, tok, examples, config.eval_batch))
        losses.append(answer_loss(model, tok, examples, config.eval_batch))
    return float(np.mean(accs)), float(np.mean(losses))


def run_arm(
    arm: str,
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    config: ContinualConfig,
    seed: int,
    tok: CharTokenizer,
    tasks: Sequence[Task] = TASKS,
) -> ArmResult:
    """Train ``arm`` over the task sequence from the base weights; evaluate after every task (lower triangle)."""
    from peft import get_peft_model

    check_one_of("arm", arm, ARMS)
    cpu = time.process_time()
    model = build_llama(model_config, tok)
    model.load_state_dict(base_state)
    torch.manual_seed(derive(seed, "lora-init"))  # the LoRA init depends on the seed alone, not on build_llama's draws
    peft_model = get_peft_model(model, _lora_config(config), adapter_name="group0")
    tests, vals = eval_sets("test", config, seed, tasks), eval_sets("val", config, seed, tasks)
    t = config.n_tasks
    batches = [task_batches(j, config, seed, tasks) for j in range(t)]
    if arm == "joint":
        pool = [e for task_batches_ in batches for batch in task_batches_ for e in batch]
        random.Random(derive(seed, "joint-shuffle")).shuffle(pool)
        mixed = [pool[k : k + config.batch_size] for k in range(0, len(pool), config.batch_size)]
        params = [p for p in model.parameters() if p.requires_grad]
        losses, step_ms = _train(model, params, mixed, tok, config, None)
        row = np.array([[accuracy(model, tok, tests[j], config.eval_batch) for j in range(t)]])
        val = _validate(model, tok, vals, config, lambda j: None)
        return ArmResult(row, losses, [], math.nan, math.nan, [0] * t, step_ms, *val, time.process_time() - cpu)
    grouper = InstructionGrouper(config.threshold) if arm == "grouping" else None
    matrix = np.full((t, t), np.nan)
    losses, alphas, groups, step_times = [], [], [], []
    fallbacks = total = 0
    gap = math.nan

    def route(j: int) -> None:  # test time: grouping sends task j to its group (the others have one LoRA)
        if grouper is not None:
            peft_model.set_adapter(f"group{grouper.route(tasks[j].instructions)}")

    for i in range(t):
        group = 0
        if grouper is not None:
            group, new = grouper.assign(tasks[i].instructions)
            if new and group > 0:
                torch.manual_seed(derive(seed, f"lora-init/{group}"))
                peft_model.add_adapter(f"group{group}", _lora_config(config))
            peft_model.set_adapter(f"group{group}")
        groups.append(group)
        params = [p for p in model.parameters() if p.requires_grad]
        tracker = None
        if arm != "lora":
            tracker = EMATracker(params, "fixed" if arm == "fixed_ema" else "dynamic", config.fixed_alpha)
        task_losses, ms = _train(model, params, batches[i], tok, config, tracker)
        losses += task_losses
        step_times.append(ms)
        if tracker is not None:
            alphas += tracker.alphas.mean(1).tolist()
            fallbacks += tracker.fallbacks if arm != "fixed_ema" else 0
            total += tracker.alphas.numel()
            if i == 0:
                gap = max(float((p.detach() - e).abs().max()) for p, e in zip(tracker.params, tracker.ema, strict=True))
            tracker.replace()
        for j in range(i + 1):
            route(j)
            matrix[i, j] = accuracy(model, tok, tests[j], config.eval_batch)
    val = _validate(model, tok, vals, config, route)
    share = fallbacks / total if arm in ("dynamic_ema", "grouping") else math.nan
    step_ms = float(np.mean(step_times))
    return ArmResult(matrix, losses, alphas, share, gap, groups, step_ms, *val, time.process_time() - cpu)
