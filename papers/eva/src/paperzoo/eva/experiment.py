"""The scale runners of the EVA benchmark (declared in :mod:`paperzoo.eva.bench`).

- :func:`run_smoke`: EVA (rho 1 and 2) on a random 2-layer Llama, against peft's ``get_eva_state_dict``; then a few
  fine-tuning steps of every method.
- :func:`run_full`: pretrain a tiny Llama on addition (cached), EVA once per seed and rho, fine-tune on subtraction
  with every arm (method x scaling) x its learning rates, on worker processes; :func:`select_learning_rates` is its
  cross-seed aggregate step.
- :func:`run_paper`: a hub causal LM fine-tuned on MetaMathQA by LoRA, PiSSA and EVA (rho 1, 2), exact match on
  GSM8K and MATH (the shared :mod:`paperzoo.shared.testbeds.math_sft`).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from paperzoo.eva.eva import EvaConfig, EvaState, compute_eva_state, init_lora_from_eva
from paperzoo.eva.train import (
    EVA_RHO,
    TARGETS,
    arm_name,
    eva_batches,
    finetune,
    lora_config,
    loss_metrics,
    parse_arm,
    rank_metrics,
    run_eva,
)
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds import math_sft
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    Splits,
    build_llama,
    lm_batch,
    prepare_experiment,
    pretrained_base,
    subtraction_splits,
)
from paperzoo.shared.torch import HF_LIBRARIES, configure

if TYPE_CHECKING:
    from paperzoo.eva.bench import FullConfig, PaperConfig, SmokeConfig


# ----------------------------------------------------------------------------------------------- smoke
def peft_agreement(model: torch.nn.Module, loader: list[dict], r: int, rho: float) -> dict[str, float]:
    """Our EVA against peft's ``get_eva_state_dict`` on the same model and batches (both randomized SVD, seed 42):
    the number of layers whose rank differs, and the smallest cosine of the principal angles between the two
    A row spaces over all layers (1 = identical subspaces; signs and order do not matter)."""
    import peft
    from peft.tuners.lora.eva import get_eva_state_dict

    ours = compute_eva_state(model, loader, TARGETS, r, EvaConfig(rho=rho))
    config = peft.LoraConfig(r=r, target_modules=list(TARGETS), init_lora_weights="eva",
                             eva_config=peft.EvaConfig(rho=rho))  # fmt: skip
    theirs = get_eva_state_dict(model, loader, config, show_progress_bar=False)
    mismatches = sum(ours.ranks[name] != (theirs[name].shape[0] if name in theirs else 0) for name in ours.ranks)
    cosines = [
        float(torch.linalg.svdvals(a.double() @ theirs[name].double().T).min())
        for name, a in ours.components.items()
        if name in theirs and theirs[name].shape == a.shape
    ]
    return {"rank_mismatches": float(mismatches), "min_subspace_cosine": min(cosines) if cosines else 0.0}


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    # One intra-op thread: the tiny model's ops are too small to split on a shared 2-core machine.
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    tok = CharTokenizer()
    f = config.finetune
    base_state, _ = pretrained_base(config.pretrain, tok, cache_dir=None)
    splits = subtraction_splits(f.n_train, f.n_val, f.n_test, f.digits, seed)
    base = build_llama(config.pretrain.model, tok)
    base.load_state_dict(base_state)
    base.eval()
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    states = {}
    for method, rho in EVA_RHO.items():
        states[method], _ = run_eva(base, tok, splits.train, f.r, rho, f.eva_batch_size, seed)
        metrics |= {f"{method}/{k}": v for k, v in rank_metrics(states[method]).items()}
        series[f"{method}/ranks"] = [float(v) for v in states[method].ranks.values()]
    loader = eva_batches(tok, splits.train, f.eva_batch_size, seed)
    metrics |= {f"peft_eva/{k}": v for k, v in peft_agreement(base, loader, f.r, 2.0).items()}
    probe = lm_batch(tok, splits.train[:4])["input_ids"]
    for method in config.methods:
        res = finetune(base_state, config.pretrain.model, method, config.lr, f, splits, seed, tok,
                       eva_state=states.get(method), evaluate=False, probe=probe)  # fmt: skip
        first, last = res.train_loss[:10], res.train_loss[-10:]
        metrics[f"{method}/loss_ratio"] = statistics.fmean(last) / statistics.fmean(first)
        metrics[f"{method}/init_logit_max_diff"] = res.init_logit_max_diff
        metrics[f"{method}/trainable_params"] = float(res.trainable_params)
        series[f"{method}/train_loss"] = res.train_loss
    return Result(metrics, series)


# ----------------------------------------------------------------------------------------------- full
def finetune_job(
    base_state: dict[str, torch.Tensor], config: FullConfig, arm: str, lr: float, splits: Splits, seed: int,
    eva_state: EvaState | None,
) -> tuple[dict[str, float], list[float]]:  # fmt: skip
    """One grid run (``arm`` at ``lr``), in whichever process runs it (one thread, deterministic): its metrics
    (unprefixed) and its training-loss curve."""
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    method, scaling = parse_arm(arm)
    f = config.finetune
    res = finetune(base_state, config.pretrain.model, method, lr, f, splits, seed, CharTokenizer(), eva_state,
                   scaling=scaling)  # fmt: skip
    metrics = loss_metrics(res.train_loss, f) | {
        "val_accuracy": res.val_accuracy,
        "val_loss": res.val_loss,
        "test_accuracy": res.test_accuracy,
        "trainable_params": float(res.trainable_params),
        "step_ms": res.step_ms,
    }
    return metrics, res.train_loss


def run_full(config: FullConfig, seed: int) -> Result:
    """Pretrain (cached) and evaluate the base model, run EVA once per rho on this seed's training problems, then
    every arm of ``config.lr_grid`` at each of its learning rates (on ``config.workers`` processes). Metrics
    ``<arm>@<lr>/<metric>`` per run, EVA's rank summary ``eva_rho<k>/<metric>``; series: training losses and ranks."""
    # One intra-op thread: the tiny model's ops are too small to split on a shared 2-core machine.
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    tok = CharTokenizer()
    f = config.finetune
    experiment = prepare_experiment(
        config.pretrain, tok, config.cache_dir, f.n_train, f.n_val, f.n_test, f.digits, config.n_base_eval,
        f.eval_batch, seed,
    )  # fmt: skip
    base_state, base, splits = experiment.base_state, experiment.base, experiment.splits
    metrics: dict[str, float] = dict(experiment.metrics)
    series: dict[str, list[float]] = {}
    states = {}
    for method in sorted({parse_arm(arm)[0] for arm in config.arms} & set(EVA_RHO)):
        # EVA depends on the base model and the data only: one state per seed, shared by learning rates and scalings.
        states[method], seconds = run_eva(base, tok, splits.train, f.r, EVA_RHO[method], f.eva_batch_size, seed)
        metrics |= {f"{method}/{k}": v for k, v in rank_metrics(states[method]).items()}
        metrics[f"{method}/eva_init_s"] = seconds
        series[f"{method}/ranks"] = [float(v) for v in states[method].ranks.values()]
    runs = [(arm, lr) for arm, lrs in config.lr_grid for lr in lrs]
    jobs = [(base_state, config, arm, lr, splits, seed, states.get(parse_arm(arm)[0])) for arm, lr in runs]
    results = run_jobs([(finetune_job, job) for job in jobs], config.workers, f"fine-tuning, seed {seed}")
    for (arm, lr), (found, losses) in zip(runs, results, strict=True):
        key = grid_key(arm, lr)
        metrics |= {f"{key}/{k}": v for k, v in found.items()}
        series[f"{key}/train_loss"] = losses
    return Result(metrics, series)


SELECTED = (
    "val_accuracy", "val_loss", "test_accuracy", "early_train_loss", "steps_to_target", "mean_train_loss",
    "final_train_loss", "trainable_params", "step_ms",
)  # fmt: skip


def select_learning_rates(per_seed: list[dict[str, float]], tie_tolerance: float) -> list[dict[str, float]]:
    """Each arm's learning rate by mean validation exact match over seeds (shared ``lr_grid``; within ``tie_tolerance``,
    one validation problem, the lower mean validation loss); then, for each EVA
    arm whose grid holds the learning rate chosen for LoRA under the same scaling, its early training loss at that
    rate: ``<arm>/early_train_loss_at_lora_lr`` (the paper compares convergence at one shared learning rate)."""
    out = lr_grid.select_learning_rates(per_seed, SELECTED, tie_tolerance)
    for m in out:
        for arm in {k.split("@")[0] for k in m if "@" in k}:
            method, scaling = parse_arm(arm)
            lora_lr = m.get(f"{arm_name('lora', scaling)}/lr")
            key = f"{grid_key(arm, lora_lr)}/early_train_loss" if lora_lr is not None else ""
            if method in EVA_RHO and key in m:
                m[f"{arm}/early_train_loss_at_lora_lr"] = m[key]
    return out


# ----------------------------------------------------------------------------------------------- paper
class SftBatches:
    """EVA's dataloader at paper scale: the training records in an order drawn from ``derive(seed, "eva batches")``
    (not the fine-tuning order), tokenised lazily into SFT batches (prompt and padding labelled -100, so EVA's label
    mask keeps the response tokens); re-iterable."""

    def __init__(self, tokenizer: Any, records: Sequence[dict[str, str]], batch_size: int, max_length: int,
                 seed: int) -> None:  # fmt: skip
        self.tokenizer, self.batch_size, self.max_length = tokenizer, batch_size, max_length
        self.records = list(records)
        random.Random(derive(seed, "eva batches")).shuffle(self.records)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for i in range(0, len(self.records) - self.batch_size + 1, self.batch_size):
            yield math_sft.sft_batch(self.tokenizer, self.records[i : i + self.batch_size], self.max_length)


def attach_paper_method(
    model: nn.Module, tokenizer: Any, method: str, config: PaperConfig, train: Sequence[dict[str, str]], seed: int
) -> tuple[nn.Module, EvaState | None]:
    """Wrap ``model`` in a peft LoRA model (rank ``config.r``, ``config.lora_alpha``, ``config.targets``) for
    ``method``; EVA first runs on the model with batches of ``config.svd_batch_size`` training records."""
    lora = dataclasses.replace(lora_config(config.r, method, config.targets), lora_alpha=config.lora_alpha)
    if method not in EVA_RHO:
        from peft import get_peft_model

        return get_peft_model(model, lora), None
    loader = SftBatches(tokenizer, train, config.svd_batch_size, config.max_length, seed)
    eva = EvaConfig(rho=EVA_RHO[method], tau=config.tau, adjust_scaling_factors=config.adjust_scaling_factors)
    state = compute_eva_state(model, loader, config.targets, config.r, eva)
    return init_lora_from_eva(model, state, lora), state


def run_paper(config: PaperConfig, seed: int) -> Result:
    """Each method fine-tunes a fresh copy of ``config.base_model`` on MetaMathQA (the EVA scripts' recipe: Alpaca
    prompt, loss on the response, AdamW lr 5e-4, 3% warm-up then cosine, one epoch, length 512), then greedy
    zero-shot exact match on GSM8K and MATH. Metrics ``<method>/gsm8k/accuracy``, ``<method>/math/accuracy``,
    ``<method>/final_train_loss``, ``<method>/trainable_params``, and EVA's rank summary; series
    ``<method>/train_loss`` and ``<method>/ranks``."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    train = math_sft.load_records(config.dataset, config.split, config.n_train)
    eval_sets = math_sft.load_eval_sets(math_sft.gsm8k_and_math(config.gsm8k, config.math, config.eval_limit))
    recipe = math_sft.Recipe(
        lr=config.lr, batch_size=config.batch_size, grad_accum=config.grad_accum, epochs=config.epochs,
        max_length=config.max_length, warmup_ratio=config.warmup_ratio, weight_decay=0.0,
        max_steps=config.max_steps,
    )  # fmt: skip
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for method in config.methods:
        states: list[EvaState] = []

        def attach(model: nn.Module, tokenizer: Any, method: str = method, states: list = states) -> nn.Module:
            peft_model, state = attach_paper_method(model, tokenizer, method, config, train, seed)
            states.extend([state] if state is not None else [])
            return peft_model

        found, losses = math_sft.run_method(
            config.base_model, attach, train, recipe, eval_sets, seed, config.dtype, config.device,
            config.max_new_tokens, config.eval_batch,
        )  # fmt: skip
        metrics |= {f"{method}/{k}": v for k, v in found.items()}
        series[f"{method}/train_loss"] = losses
        for state in states:
            metrics |= {f"{method}/{k}": v for k, v in rank_metrics(state).items()}
            series[f"{method}/ranks"] = [float(v) for v in state.ranks.values()]
    return Result(metrics, series)
