"""The continual instruction-tuning loop: one peft LoRA (or one per instruction group) trained task after task
on a tiny Llama, with plain LoRA, fixed-EMA or dynamic-EMA (CoIN) weights, and the accuracy matrix.

Per step (official trainer order): loss -> backward -> clip the gradient norm -> ``optimizer.step()`` -> EMA
update with the clipped gradient. Each task is a fresh run (new AdamW, cosine schedule, fresh EMA); at its end
the EMA replaces the LoRA weights. ``a[i][j]`` is the greedy exact match on task j after training task i.
:func:`run_arms` runs several arms of one seed and rate in one process, the continual ones sharing the first task
(their trajectories are equal until its end), each arm's numbers those of its own :func:`run_arm`.
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
    trackers: Sequence[EMATracker],
) -> tuple[list[float], float]:
    """One task's run over ``batches``, every tracker of ``trackers`` updated after each step; returns the losses
    and the mean step time (ms)."""
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
        for tracker in trackers:
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


# the EMA each arm keeps (grouping: dynamic EMA on each group's LoRA)
_EMA_MODES = {"fixed_ema": "fixed", "dynamic_ema": "dynamic", "grouping": "dynamic"}


def _lora_model(base_state: dict[str, torch.Tensor], model_config: ModelConfig, config: ContinualConfig, seed: int,
                tok: CharTokenizer) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """The base Llama with a fresh peft LoRA ``group0`` (the same init for every arm of a seed); returns the peft
    model and the Llama it wraps (LoRA layers injected in place)."""
    from peft import get_peft_model

    model = build_llama(model_config, tok)
    model.load_state_dict(base_state)
    torch.manual_seed(derive(seed, "lora-init"))  # the LoRA init depends on the seed alone, not on build_llama's draws
    return get_peft_model(model, _lora_config(config), adapter_name="group0"), model


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


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
    check_one_of("arm", arm, ARMS)
    return run_arms((arm,), base_state, model_config, config, seed, tok, tasks)[arm]


def run_arms(
    arms: Sequence[str],
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    config: ContinualConfig,
    seed: int,
    tok: CharTokenizer,
    tasks: Sequence[Task] = TASKS,
) -> dict[str, ArmResult]:
    """Every arm of ``arms`` over the task sequence, each equal (bit for bit) to its own :func:`run_arm`.

    The continual arms (sequential LoRA, fixed EMA, dynamic EMA, grouping) share the first task: the same LoRA
    init, batches and optimizer, and an EMA never feeds back into the raw weights within a task, so one run of
    the first task with a fixed and a dynamic tracker attached gives every arm's trajectory; the arms part at its
    end (LoRA keeps the raw weights, the EMA arms their EMA; grouping's first group is the dynamic EMA's run).
    Each continual arm's ``cpu_s`` holds an equal share of the first task's CPU time."""
    if not arms:
        raise ValueError("arms must hold at least one arm")
    for arm in arms:
        check_one_of("arms", arm, ARMS)
    batches = [task_batches(j, config, seed, tasks) for j in range(config.n_tasks)]
    tests, vals = eval_sets("test", config, seed, tasks), eval_sets("val", config, seed, tasks)
    out = {}
    if "joint" in arms:
        out["joint"] = _run_joint(base_state, model_config, config, seed, tok, batches, tests, vals)
    continual = [arm for arm in dict.fromkeys(arms) if arm != "joint"]
    if not continual:
        return out
    cpu = time.process_time()
    _, model = _lora_model(base_state, model_config, config, seed, tok)
    params = _trainable(model)
    trackers = {mode: EMATracker(params, mode, config.fixed_alpha)
                for mode in dict.fromkeys(_EMA_MODES[a] for a in continual if a in _EMA_MODES)}  # fmt: skip
    first = _train(model, params, batches[0], tok, config, list(trackers.values()))
    raw = [p.detach().clone() for p in params]
    shared_cpu = (time.process_time() - cpu) / len(continual)
    for arm in continual:
        tracker = trackers.get(_EMA_MODES.get(arm, ""))
        out[arm] = _continue(arm, raw, tracker, first, shared_cpu, base_state, model_config, config, seed, tok,
                             tasks, batches, tests, vals)  # fmt: skip
    return out


def _run_joint(
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    config: ContinualConfig,
    seed: int,
    tok: CharTokenizer,
    batches: Sequence[list[list[Example]]],
    tests: Sequence[list[Example]],
    vals: Sequence[list[Example]],
) -> ArmResult:
    """Multitask joint training: one LoRA on every task's examples shuffled, the same total steps; one row."""
    cpu = time.process_time()
    _, model = _lora_model(base_state, model_config, config, seed, tok)
    pool = [e for task_batches_ in batches for batch in task_batches_ for e in batch]
    random.Random(derive(seed, "joint-shuffle")).shuffle(pool)
    mixed = [pool[k : k + config.batch_size] for k in range(0, len(pool), config.batch_size)]
    losses, step_ms = _train(model, _trainable(model), mixed, tok, config, [])
    row = np.array([[accuracy(model, tok, tests[j], config.eval_batch) for j in range(config.n_tasks)]])
    val = _validate(model, tok, vals, config, lambda j: None)
    t = config.n_tasks
    return ArmResult(row, losses, [], math.nan, math.nan, [0] * t, step_ms, *val, time.process_time() - cpu)


def _continue(
    arm: str,
    raw: list[torch.Tensor],
    first_tracker: EMATracker | None,
    first: tuple[list[float], float],
    shared_cpu: float,
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    config: ContinualConfig,
    seed: int,
    tok: CharTokenizer,
    tasks: Sequence[Task],
    batches: Sequence[list[list[Example]]],
    tests: Sequence[list[Example]],
    vals: Sequence[list[Example]],
) -> ArmResult:
    """A continual arm from the end of the shared first task (``raw``: its raw LoRA weights, ``first_tracker``:
    the arm's EMA over it, ``first``: its losses and step time) through the remaining tasks."""
    cpu = time.process_time()
    peft_model, model = _lora_model(base_state, model_config, config, seed, tok)
    grouper = InstructionGrouper(config.threshold) if arm == "grouping" else None
    t = config.n_tasks
    matrix = np.full((t, t), np.nan)
    losses, step_times = list(first[0]), [first[1]]
    alphas: list[float] = []
    groups = [grouper.assign(tasks[0].instructions)[0] if grouper is not None else 0]
    fallbacks = total = 0
    gap = math.nan
    with torch.no_grad():
        start = raw if first_tracker is None else first_tracker.ema
        for p, value in zip(_trainable(model), start, strict=True):  # the first task's end: this arm's weights
            p.copy_(value)
    if first_tracker is not None:
        alphas += first_tracker.alphas.mean(1).tolist()
        fallbacks += first_tracker.fallbacks if arm != "fixed_ema" else 0
        total += first_tracker.alphas.numel()
        gap = max(float((p - e).abs().max()) for p, e in zip(raw, first_tracker.ema, strict=True))

    def route(j: int) -> int:  # test time: grouping sends task j to its group (the others have one LoRA)
        if grouper is None:
            return 0
        group = grouper.route(tasks[j].instructions)
        peft_model.set_adapter(f"group{group}")
        return group

    trained = {0: 1}  # tasks trained into each group so far: a group's weights change only when it trains
    scores: dict[tuple[int, int, int], float] = {}  # (task, group, trained[group]) -> accuracy (grouping reuses)

    for i in range(t):
        if i > 0:
            group = 0
            if grouper is not None:
                group, new = grouper.assign(tasks[i].instructions)
                if new and group > 0:
                    torch.manual_seed(derive(seed, f"lora-init/{group}"))
                    peft_model.add_adapter(f"group{group}", _lora_config(config))
                peft_model.set_adapter(f"group{group}")
            groups.append(group)
            trained[group] = trained.get(group, 0) + 1
            params = _trainable(model)
            tracker = None
            if arm != "lora":
                tracker = EMATracker(params, _EMA_MODES[arm], config.fixed_alpha)
            task_losses, ms = _train(model, params, batches[i], tok, config, [tracker] if tracker else [])
            losses += task_losses
            step_times.append(ms)
            if tracker is not None:
                alphas += tracker.alphas.mean(1).tolist()
                fallbacks += tracker.fallbacks if arm != "fixed_ema" else 0
                total += tracker.alphas.numel()
                tracker.replace()
        for j in range(i + 1):
            group = route(j)
            key = (j, group, trained[group])
            if key not in scores:
                scores[key] = accuracy(model, tok, tests[j], config.eval_batch)
            matrix[i, j] = scores[key]
    val = _validate(model, tok, vals, config, route)
    share = fallbacks / total if arm in ("dynamic_ema", "grouping") else math.nan
    step_ms = float(np.mean(step_times))
    cpu_s = time.process_time() - cpu + shared_cpu
    return ArmResult(matrix, losses, alphas, share, gap, groups, step_ms, *val, cpu_s)
