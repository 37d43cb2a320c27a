"""The CPU-scale experiment: a tiny Llama pretrained here on addition (the shared
:mod:`paperzoo.shared.testbeds.arithmetic_lm`, cached on disk by its config hash), then fine-tuned on subtraction, a
skill it has never seen, by LoRA and PiSSA (Hugging Face peft) and by EVA with rho = 1 and rho = 2 (our EVA
initialisation, loaded into a peft LoRA model), all at the same rank budget (r = 8 on q, k, v, o, up, down).

``transformers`` and ``peft`` are imported inside the functions that need them (importing them costs seconds).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.eva.eva import EvaConfig, EvaState, compute_eva_state, init_lora_from_eva
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    FinetuneResult,
    ModelConfig,
    Problem,
    Splits,
    lm_batch,
    steps_to_target,
)
from paperzoo.shared.testbeds.arithmetic_lm import (
    finetune as finetune_llama,
)
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

# The brief's targets (the EVA paper adapts every linear layer of attention and MLP; here q, k, v, o, up, down).
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj")
METHODS = ("lora", "pissa", "eva_rho1", "eva_rho2")
EVA_RHO = {"eva_rho1": 1.0, "eva_rho2": 2.0}


# LoRA scaling settings: lora_alpha and EVA's adjust_scaling_factors (a layer's update is (alpha_l / rank_l) B A x).
# - "official": the ml-jku/EVA train.py default lora_alpha = 1 for every method; EVA's redistributed layers keep
#   alpha = 1 (train.py sets a rank_pattern and no alpha_pattern), so layer l is scaled by 1 / rank_l.
# - "alpha_r": lora_alpha = r (scaling 1, as the Bone/PiSSA scripts); EVA adjusts alpha_l = alpha rank_l / r (peft's
#   EvaConfig default, adjust_scaling_factors=True), so every layer is scaled by 1.
SCALINGS = ("official", "alpha_r")


def lora_alpha(r: int, scaling: str) -> float:
    """The ``lora_alpha`` of a scaling setting (:data:`SCALINGS`): 1 (``"official"``) or r (``"alpha_r"``)."""
    check_one_of("scaling", scaling, SCALINGS)
    return 1.0 if scaling == "official" else float(r)


def arm_name(method: str, scaling: str) -> str:
    """A benchmark arm's name: the method under the official scaling (``eva_rho2``), else suffixed
    (``eva_rho2_alpha_r``)."""
    check_one_of("method", method, METHODS)
    check_one_of("scaling", scaling, SCALINGS)
    return method if scaling == "official" else f"{method}_{scaling}"


def parse_arm(arm: str) -> tuple[str, str]:
    """``(method, scaling)`` of an arm name made by :func:`arm_name`; ``ValueError`` for any other name."""
    for scaling in SCALINGS[1:]:
        if arm.endswith(f"_{scaling}"):
            method = arm.removesuffix(f"_{scaling}")
            if method in METHODS:
                return method, scaling
    if arm in METHODS:
        return arm, SCALINGS[0]
    suffixes = "/".join(f"_{s}" for s in SCALINGS[1:])
    raise ValueError(f"arm must be a method of {METHODS}, optionally suffixed by {suffixes}; got {arm!r}")


def lora_config(r: int, method: str = "lora", targets: Sequence[str] = TARGETS, alpha: float | None = None) -> object:
    """The peft ``LoraConfig`` every method starts from: rank r on ``targets``, ``lora_alpha = alpha`` (default r,
    scaling 1), no dropout. PiSSA: ``init_lora_weights="pissa"`` (exact SVD of W); LoRA and EVA: ``True`` (kaiming
    A, zero B; EVA then overwrites A)."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=float(r) if alpha is None else alpha,
        target_modules=list(targets),
        lora_dropout=0.0,
        bias="none",
        init_lora_weights="pissa" if method == "pissa" else True,
    )


def eva_batches(tok: CharTokenizer, problems: Sequence[Problem], batch_size: int, seed: int) -> list[dict]:
    """The EVA dataloader: the training problems in a seed-dependent order, in batches of ``batch_size``
    (``input_ids``, ``attention_mask``, ``labels``: the label mask keeps only the trace tokens)."""
    check_positive_int("batch_size", batch_size)
    order = list(problems)
    random.Random(seed).shuffle(order)
    return [lm_batch(tok, order[i : i + batch_size]) for i in range(0, len(order) - batch_size + 1, batch_size)]


def run_eva(
    model: nn.Module, tok: CharTokenizer, problems: Sequence[Problem], r: int, rho: float, batch_size: int, seed: int,
    **eva_kwargs: object,
) -> tuple[EvaState, float]:  # fmt: skip
    """EVA on ``model`` with the training problems; returns the state and its wall time in seconds."""
    loader = eva_batches(tok, problems, batch_size, seed)
    start = time.perf_counter()
    state = compute_eva_state(model, loader, TARGETS, r, EvaConfig(rho=rho, **eva_kwargs))
    return state, time.perf_counter() - start


Grid = tuple[tuple[str, tuple[float, ...]], ...]


def check_grid(name: str, grid: Grid) -> None:
    """A learning-rate grid per arm: every arm a name of :func:`arm_name`, once, with increasing positive rates."""
    if not grid:
        raise ValueError(f"{name} must hold at least one arm")
    arms = [arm for arm, _ in grid]
    if len(set(arms)) != len(arms):
        raise ValueError(f"{name} names an arm twice: {arms}")
    for arm, lrs in grid:
        parse_arm(arm)
        if not lrs or any(not lr > 0 for lr in lrs) or list(lrs) != sorted(set(lrs)):
            raise ValueError(f"{name}[{arm!r}] must be increasing positive learning rates, got {lrs}")


def attach_method(
    model: nn.Module, method: str, r: int, eva_state: EvaState | None = None, scaling: str = "official"
) -> nn.Module:
    """Wrap ``model`` in a peft LoRA model for ``method`` under the ``scaling`` setting (:data:`SCALINGS`); EVA needs
    its precomputed ``eva_state`` (its ``adjust_scaling_factors`` is set by the setting)."""
    check_one_of("method", method, METHODS)
    config = lora_config(r, method, alpha=lora_alpha(r, scaling))
    if method in EVA_RHO:
        if eva_state is None:
            raise ValueError(f"method {method!r} needs an eva_state (compute_eva_state on the base model)")
        adjust = dataclasses.replace(eva_state.config, adjust_scaling_factors=scaling == "alpha_r")
        return init_lora_from_eva(model, dataclasses.replace(eva_state, config=adjust), config)
    from peft import get_peft_model

    return get_peft_model(model, config)


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning on subtraction: AdamW (no weight decay), cosine decay without warm-up, r = 8 on every target."""

    steps: int = 200
    batch_size: int = 16
    r: int = 8
    n_train: int = 2000
    n_val: int = 200
    n_test: int = 500
    digits: tuple[int, ...] = (1, 2)
    target_loss: float = 0.3
    loss_window: int = 10
    early_steps: int = 30
    eval_batch: int = 256
    eva_batch_size: int = 16

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "r", "n_train", "n_val", "n_test", "loss_window", "early_steps",
                     "eval_batch", "eva_batch_size"):  # fmt: skip
            check_positive_int(name, getattr(self, name))
        check_positive("target_loss", self.target_loss)
        if self.early_steps > self.steps:
            raise ValueError(f"early_steps must be <= steps={self.steps}, got {self.early_steps}")


def trainable_parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def finetune(
    base_state: dict[str, torch.Tensor],
    model_config: ModelConfig,
    method: str,
    lr: float,
    config: FinetuneConfig,
    splits: Splits,
    seed: int,
    tok: CharTokenizer,
    eva_state: EvaState | None = None,
    evaluate: bool = True,
    probe: torch.Tensor | None = None,
    scaling: str = "official",
) -> FinetuneResult:
    """Fine-tune a fresh copy of the base weights by ``method`` under ``scaling`` at learning rate ``lr`` (the shared
    loop, :func:`paperzoo.shared.testbeds.arithmetic_lm.finetune`: same batches for every method), evaluate
    greedily."""
    return finetune_llama(
        base_state, model_config, lambda model: attach_method(model, method, config.r, eva_state, scaling), lr,
        config.steps, config.batch_size, splits, seed, tok, config.eval_batch, evaluate, probe,
    )  # fmt: skip


def loss_metrics(losses: Sequence[float], config: FinetuneConfig) -> dict[str, float]:
    """Early loss (mean of the first ``early_steps``), mean, final (last ``loss_window``) and steps to the target."""
    return {
        "early_train_loss": statistics.fmean(losses[: config.early_steps]),
        "mean_train_loss": statistics.fmean(losses),
        "final_train_loss": statistics.fmean(losses[-config.loss_window :]),
        "steps_to_target": float(steps_to_target(losses, config.target_loss, config.loss_window)),
    }


def rank_metrics(state: EvaState) -> dict[str, float]:
    """Summary of a rank distribution: min, max, std over layers, layers changed from r and removed (rank 0),
    the budget check (sum of ranks - budget, 0 when conserved), batches to convergence."""
    ranks = list(state.ranks.values())
    return {
        "rank_min": float(min(ranks)),
        "rank_max": float(max(ranks)),
        "rank_std": float(statistics.pstdev(ranks)),
        "layers_changed": float(sum(v != state.base_ranks[k] for k, v in state.ranks.items())),
        "layers_removed": float(sum(v == 0 for v in ranks)),
        "budget_error": float(sum(ranks) - state.budget),
        "eva_batches": float(state.batches),
        "eva_converged": float(state.converged),
    }
