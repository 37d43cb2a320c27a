"""The scale runners of the Bone benchmark (declared in :mod:`paperzoo.bone.bench`).

- :func:`run_smoke`: the layer against an independent dense reconstruction, merge/unmerge, our model against
  peft's MiSS ``bat``; then a few fine-tuning steps of each adapter on a random 2-layer Llama.
- :func:`run_full`: pretrain a tiny Llama on addition (cached), fine-tune it on subtraction with every method x
  learning rate; :func:`select_learning_rates` is its cross-seed aggregate step.
- :func:`run_paper`: a hub causal LM fine-tuned on MetaMathQA by each method, exact match on GSM8K and MATH
  (the shared :mod:`paperzoo.shared.testbeds.math_sft`).
"""

from __future__ import annotations

import statistics
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from paperzoo.bone.adapter import LLAMA_TARGETS, apply_bone, bone_layers
from paperzoo.bone.layer import BoneLinear
from paperzoo.bone.train import FinetuneConfig, attach_method, finetune
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.progress import progress
from paperzoo.shared.testbeds import math_sft
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    ModelConfig,
    build_llama,
    lm_batch,
    make_problems,
    prepare_experiment,
    pretrained_base,
    steps_to_target,
    subtraction_splits,
)
from paperzoo.shared.torch import HF_LIBRARIES, configure

if TYPE_CHECKING:
    from paperzoo.bone.bench import FullConfig, PaperConfig, SmokeConfig


# ----------------------------------------------------------------------------------------------- smoke
def layer_checks(seed: int) -> dict[str, float]:
    """bat against a dense loop (float64), merge/unmerge errors, and a model against peft's MiSS ``bat``."""
    gen = torch.Generator().manual_seed(seed)
    base = nn.Linear(32, 48).double()
    layer = BoneLinear(base, 8, "bat")
    with torch.no_grad():
        layer.bone_block.copy_(0.05 * torch.randn(layer.bone_block.shape, generator=gen, dtype=torch.float64))
    w, b = base.weight.detach().clone(), layer.bone_block.detach()
    dense = torch.zeros_like(w)
    for i in range(48 // 8):
        for j in range(32 // 8):
            dense[i * 8 : (i + 1) * 8, j * 8 : (j + 1) * 8] = w[i * 8 : (i + 1) * 8, j * 8 : (j + 1) * 8] @ b[i] + b[i]
    x = torch.randn(5, 32, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = layer(x)
        dense_err = float((y - nn.functional.linear(x, w + dense, base.bias)).abs().max())
        layer.merge()
        merge_err = float((layer(x) - y).abs().max())
        layer.unmerge()
        unmerge_err = float((base.weight - w).abs().max())
    return {
        "bat/dense_reconstruction_max_err": dense_err,
        "bat/merge_max_err": merge_err,
        "bat/unmerge_max_err": unmerge_err,
        "bat/peft_miss_max_diff": peft_equivalence(seed),
    }


def peft_equivalence(seed: int) -> float:
    """max |logits| difference of our ``bat`` and peft's ``MissConfig(init_weights="bat")`` with the same blocks."""
    from peft import MissConfig, get_peft_model

    tok = CharTokenizer()
    cfg = ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2)
    torch.manual_seed(seed)
    ours = apply_bone(build_llama(cfg, tok).double(), r=4, variant="bat")
    torch.manual_seed(seed)
    theirs = get_peft_model(build_llama(cfg, tok).double(), MissConfig(r=4, init_weights="bat",
                                                                       target_modules=list(LLAMA_TARGETS)))  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    ids = lm_batch(tok, make_problems(4, "-", (1, 2), seed))["input_ids"]
    with torch.no_grad():
        for name, layer in bone_layers(ours):
            block = 0.05 * torch.randn(layer.bone_block.shape, generator=gen, dtype=torch.float64)
            layer.bone_block.copy_(block)
            theirs.get_base_model().get_submodule(name).miss_block["default"].copy_(block)
        return float((ours(input_ids=ids).logits - theirs(input_ids=ids).logits).abs().max())


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    # One intra-op thread: the tiny model's ops are too small to split on a shared 2-core machine.
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    tok = CharTokenizer()
    metrics = layer_checks(seed)
    base_state, _ = pretrained_base(config.pretrain, tok, cache_dir=None)
    f = config.finetune
    splits = subtraction_splits(f.n_train, f.n_val, f.n_test, f.digits, seed)
    probe = lm_batch(tok, splits.train[:4])["input_ids"]
    series = {}
    for method in config.methods:
        res = finetune(base_state, config.pretrain.model, method, config.lr, config.finetune, splits, seed, tok,
                       evaluate=False, probe=probe)  # fmt: skip
        first, last = res.train_loss[:10], res.train_loss[-10:]
        metrics[f"{method}/loss_ratio"] = statistics.fmean(last) / statistics.fmean(first)
        metrics[f"{method}/init_logit_max_diff"] = res.init_logit_max_diff
        metrics[f"{method}/trainable_params"] = float(res.trainable_params)
        series[f"{method}/train_loss"] = res.train_loss
    return Result(metrics, series)


# ----------------------------------------------------------------------------------------------- full
def run_full(config: FullConfig, seed: int) -> Result:
    # One intra-op thread: the tiny model's ops are too small to split on a shared 2-core machine.
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    tok = CharTokenizer()
    f = config.finetune
    experiment = prepare_experiment(
        config.pretrain, tok, config.cache_dir, f.n_train, f.n_val, f.n_test, f.digits, config.n_base_eval,
        f.eval_batch, seed,
    )  # fmt: skip
    base_state, splits = experiment.base_state, experiment.splits
    metrics: dict[str, float] = dict(experiment.metrics)
    series: dict[str, list[float]] = {}
    runs = [(m, lr) for m in config.methods for lr in config.learning_rates]
    for method, lr in progress(runs, desc=f"fine-tuning, seed {seed}", total=len(runs)):
        res = finetune(base_state, config.pretrain.model, method, lr, f, splits, seed, tok)
        key = grid_key(method, lr)
        metrics |= {
            f"{key}/val_accuracy": res.val_accuracy,
            f"{key}/val_loss": res.val_loss,
            f"{key}/test_accuracy": res.test_accuracy,
            f"{key}/steps_to_target": float(steps_to_target_of(res.train_loss, f)),
            f"{key}/mean_train_loss": statistics.fmean(res.train_loss),
            f"{key}/final_train_loss": statistics.fmean(res.train_loss[-f.loss_window :]),
            f"{key}/trainable_params": float(res.trainable_params),
            f"{key}/step_ms": res.step_ms,
        }
        series[f"{key}/train_loss"] = res.train_loss
    return Result(metrics, series)


def steps_to_target_of(losses: list[float], config: FinetuneConfig) -> int:
    return steps_to_target(losses, config.target_loss, config.loss_window)


SELECTED = (
    "val_accuracy", "val_loss", "test_accuracy", "steps_to_target", "mean_train_loss", "final_train_loss",
    "trainable_params", "step_ms",
)  # fmt: skip


def select_learning_rates(per_seed: list[dict[str, float]], tie_tolerance: float) -> list[dict[str, float]]:
    """Each method's learning rate by mean validation exact match over seeds (shared ``lr_grid``; within
    ``tie_tolerance``, one validation example, the lower mean validation loss); then, per seed, the fewer
    steps to the target of bat and each baseline (the race guard: one of them got there)."""
    out = lr_grid.select_learning_rates(per_seed, SELECTED, tie_tolerance)
    for m in out:
        for other in ("lora", "pissa"):
            if "bat/steps_to_target" in m and f"{other}/steps_to_target" in m:
                m[f"bat_vs_{other}/fewest_steps"] = min(m["bat/steps_to_target"], m[f"{other}/steps_to_target"])
    return out


# ----------------------------------------------------------------------------------------------- paper
def run_paper(config: PaperConfig, seed: int) -> Result:
    """Each method fine-tunes a fresh copy of ``config.base_model`` on MetaMathQA (the official scripts' recipe:
    Alpaca prompt, loss on the response, AdamW, cosine, one epoch, length 512), then greedy zero-shot exact match
    on GSM8K and MATH. Metrics ``<method>/gsm8k/accuracy``, ``<method>/math/accuracy``, ``<method>/final_train_loss``,
    ``<method>/trainable_params``; series ``<method>/train_loss``."""
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

        def attach(model: nn.Module, _tokenizer: object, method: str = method) -> nn.Module:
            return attach_method(model, method, config.r, config.targets)[0]

        found, losses = math_sft.run_method(
            config.base_model, attach, train, recipe, eval_sets, seed, config.dtype, config.device,
            config.max_new_tokens, config.eval_batch,
        )  # fmt: skip
        metrics |= {f"{method}/{k}": v for k, v in found.items()}
        series[f"{method}/train_loss"] = losses
    return Result(metrics, series)
