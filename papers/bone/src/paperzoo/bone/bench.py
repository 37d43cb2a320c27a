"""The paperzoo benchmark of Bone.

- smoke (seconds): the layer against an independent dense reconstruction, merge/unmerge, our model against
  peft's MiSS ``bat``; then 50 fine-tuning steps of bat, bone, LoRA and PiSSA on a random 2-layer Llama:
  every loss falls, and the zero-init adapters reproduce the base logits exactly at step 0.
- full (minutes, 2 CPU cores): a tiny Llama (4 layers, d = 128, d_ff = 256) pretrained here on addition traces
  (cached on disk by config hash), then fine-tuned on subtraction traces by bat, bone, LoRA, PiSSA (matched
  trainable parameters) and full fine-tuning, each at the same 3 learning rates, 3 seeds; the learning rate
  of each method is chosen by mean validation exact match; steps to a target training loss, loss curves and
  held-out greedy exact match.
- paper: LLaMA2-7B on MetaMathQA (the official scripts' recipe) as config, for GPUs (see README).
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from paperzoo.bone.adapter import LLAMA_TARGETS, apply_bone, bone_layers, merge_and_unload
from paperzoo.bone.layer import BoneLinear
from paperzoo.bone.train import METHODS, FinetuneConfig, finetune
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result, lr_grid
from paperzoo.shared.lr_grid import grid_key, tuned_arm_guards
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.progress import progress
from paperzoo.shared.torch import configure
from paperzoo.shared.torch.arithmetic_lm import (
    DEFAULT_CACHE_DIR,
    CharTokenizer,
    ModelConfig,
    PretrainConfig,
    build_llama,
    lm_batch,
    make_problems,
    prepare_experiment,
    pretrained_base,
    steps_to_target,
    subtraction_splits,
)
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

for noisy in ("transformers", "peft", "accelerate"):
    logging.getLogger(noisy).setLevel(logging.ERROR)

ADAPTERS = ("bat", "bone", "lora", "pissa")


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: layer checks, then 50 steps of each adapter on a 2-layer Llama (d = 32) pretrained for 100 steps."""

    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(
            model=ModelConfig(n_layer=2, d_model=32, d_ff=64, n_head=2),
            steps=100,
            batch_size=16,
            lr=1e-2,
            warmup=10,
            digits=(1, 2),
        )
    )
    finetune: FinetuneConfig = field(
        default_factory=lambda: FinetuneConfig(
            steps=50, batch_size=8, r=8, n_train=200, n_val=1, n_test=1, digits=(1, 2)
        )
    )
    lr: float = 1e-2
    methods: tuple[str, ...] = ADAPTERS
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        for m in self.methods:
            check_one_of("methods", m, METHODS)


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: pretrain on addition, fine-tune on subtraction, 5 methods x 3 learning rates."""

    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(steps=800, batch_size=32, lr=3e-3, warmup=30, digits=(1, 2))
    )
    finetune: FinetuneConfig = field(
        default_factory=lambda: FinetuneConfig(
            steps=150, batch_size=16, r=8, n_train=2000, n_val=200, n_test=500, digits=(1, 2), target_loss=0.3
        )
    )
    methods: tuple[str, ...] = METHODS
    learning_rates: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    cache_dir: str | None = DEFAULT_CACHE_DIR
    n_base_eval: int = 300
    device: str = "cpu"

    def __post_init__(self) -> None:
        for m in self.methods:
            check_one_of("methods", m, METHODS)
        if not self.learning_rates:
            raise ValueError("learning_rates must hold at least one value")
        for lr in self.learning_rates:
            check_positive("learning_rates", lr)
        check_positive_int("n_base_eval", self.n_base_eval)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's headline: LLaMA2-7B on MetaMathQA (the official llama/scripts: 1 epoch, lr 2e-5, cosine,
    no warm-up or weight decay, max length 512, bf16; all seven projections; Bone r = 64 vs LoRA/PiSSA at
    matched parameters (alpha = rank); evaluated on GSM8k and MATH)."""

    base_model: str = "meta-llama/Llama-2-7b-hf"
    dataset: str = "meta-math/MetaMathQA"
    split: str = "train[:100000]"
    max_length: int = 512
    batch_size: int = 128  # the official scripts' comment; their flags give 2 x 16 per GPU
    lr: float = 2e-5
    epochs: int = 1
    r: int = 64
    methods: tuple[str, ...] = METHODS
    targets: tuple[str, ...] = LLAMA_TARGETS
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "epochs", "r"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        for m in self.methods:
            check_one_of("methods", m, METHODS)


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
        res = finetune(base_state, config.pretrain.model, method, lr, config.finetune, splits, seed, tok)
        key = grid_key(method, lr)
        ft = config.finetune
        metrics |= {
            f"{key}/val_accuracy": res.val_accuracy,
            f"{key}/val_loss": res.val_loss,
            f"{key}/test_accuracy": res.test_accuracy,
            f"{key}/steps_to_target": float(steps_to_target_of(res.train_loss, ft)),
            f"{key}/mean_train_loss": statistics.fmean(res.train_loss),
            f"{key}/final_train_loss": statistics.fmean(res.train_loss[-ft.loss_window :]),
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


def aggregate(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Each method's learning rate by mean validation exact match over seeds (shared ``lr_grid``); then, per
    seed, the fewer steps to the target of bat and each baseline (the race guard: one of them got there)."""
    if not any("@" in k for k in per_seed[0]):
        return per_seed
    out = lr_grid.select_learning_rates(per_seed, SELECTED)
    for m in out:
        for other in ("lora", "pissa"):
            if "bat/steps_to_target" in m and f"{other}/steps_to_target" in m:
                m[f"bat_vs_{other}/fewest_steps"] = min(m["bat/steps_to_target"], m[f"{other}/steps_to_target"])
    return out


def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training loss of each method at its chosen learning rate (mean ± std over seeds)."""
    if records[0]["scale"] != "full":
        return []
    chosen = aggregate([r["metrics"] for r in records])[0]
    methods = [m for m in METHODS if f"{m}/lr" in chosen]
    curves = {
        f"{m} (lr {chosen[f'{m}/lr']:g})": [
            r["series"][f"{grid_key(m, chosen[f'{m}/lr'])}/train_loss"] for r in records
        ]
        for m in methods
    }
    return [
        plot_curves(folder / "train_loss.png", curves, title="Fine-tuning on subtraction: training loss",
                    xlabel="step", ylabel="trace cross-entropy", logy=True)
    ]  # fmt: skip


# ----------------------------------------------------------------------------------------------- paper
def run_paper(config: PaperConfig, seed: int) -> Result:  # pragma: no cover - needs GPUs and the hub
    raise NotImplementedError(
        f"the paper scale ({config.base_model} on {config.dataset}, GSM8k/MATH evaluation) is documented as "
        "config only; the library (apply_bone / BoneConfig) applies to it unchanged, see the README"
    )


def run(config: SmokeConfig | FullConfig | PaperConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    # One intra-op thread: the tiny model's ops are too small to split on a shared 2-core machine.
    configure(threads=1, deterministic=True)
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    if isinstance(config, FullConfig):
        return run_full(config, seed)
    return run_paper(config, seed)


# ----------------------------------------------------------------------------------------------- perf
def median_ms(fn: Any, reps: int = 30, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def perf(device: str) -> dict[str, float]:
    """Forward+backward time (input and adapter gradients) of one 1024 x 1024 layer on 512 tokens with bat and
    bone (r = 64), peft LoRA at matched parameters (rank 32) and the frozen layer alone; forward time of the
    full-scale tiny Llama (batch 64): base, bat unmerged, bat merged (must equal the base)."""
    from peft import LoraConfig, inject_adapter_in_model

    configure(threads=1, deterministic=False)
    torch.manual_seed(0)
    d, tokens, r = 1024, 512, 64
    x = torch.randn(tokens, d, device=device)
    layers: dict[str, nn.Module] = {}
    for variant in ("bat", "bone"):
        layers[variant] = BoneLinear(nn.Linear(d, d).to(device), r, variant)
    holder = nn.Sequential()
    holder.add_module("lin", nn.Linear(d, d).to(device))
    layers["lora"] = inject_adapter_in_model(LoraConfig(r=r // 2, lora_alpha=r // 2, target_modules=["lin"]), holder)
    layers["frozen_linear"] = nn.Linear(d, d).to(device).requires_grad_(False)
    figures: dict[str, float] = {}
    for name, layer in layers.items():
        xin = x.clone().requires_grad_()  # inside a network the input gradient is always needed

        def step(layer: nn.Module = layer, xin: torch.Tensor = xin) -> None:
            layer(xin).sum().backward()

        figures[f"layer_{name}/fwd_bwd_ms"] = median_ms(step)
    for name in ("bat", "bone", "frozen_linear"):
        figures[f"layer_{name}/over_lora"] = figures[f"layer_{name}/fwd_bwd_ms"] / figures["layer_lora/fwd_bwd_ms"]
    figures["layer_bat/trainable_params"] = float(sum(p.numel() for p in layers["bat"].parameters() if p.requires_grad))
    figures["layer_lora/trainable_params"] = float(sum(p.numel() for p in holder.parameters() if p.requires_grad))

    tok = CharTokenizer()
    cfg = FullConfig()
    ids = lm_batch(tok, make_problems(64, "-", (1, 2), 0))["input_ids"].to(device)
    torch.manual_seed(0)
    base = build_llama(cfg.pretrain.model, tok).to(device).eval()
    adapted = build_llama(cfg.pretrain.model, tok).to(device).eval()
    adapted.load_state_dict(base.state_dict())
    apply_bone(adapted, r=cfg.finetune.r)
    with torch.no_grad():
        for _, layer in bone_layers(adapted):
            layer.bone_block.normal_(std=0.01)
        figures["model_base/fwd_ms"] = median_ms(lambda: base(input_ids=ids))
        figures["model_bat_unmerged/fwd_ms"] = median_ms(lambda: adapted(input_ids=ids))
        merged = merge_and_unload(adapted)
        figures["model_bat_merged/fwd_ms"] = median_ms(lambda: merged(input_ids=ids))
    figures["model_bat_unmerged/over_base"] = figures["model_bat_unmerged/fwd_ms"] / figures["model_base/fwd_ms"]
    figures["model_bat_merged/over_base"] = figures["model_bat_merged/fwd_ms"] / figures["model_base/fwd_ms"]
    figures["model_bat_merged/parameters_equal_base"] = float(
        sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in base.parameters())
    )
    return figures


# ----------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    Claim(
        "bat's forward equals F.linear with the dense block update built by a loop (float64, <= 1e-12)",
        Compare("bat/dense_reconstruction_max_err", "<=", 1e-12),
    ),
    Claim(
        "merge then forward equals the unmerged forward (<= 1e-10, float64)", Compare("bat/merge_max_err", "<=", 1e-10)
    ),
    Claim("unmerge restores W exactly (<= 1e-10, float64)", Compare("bat/unmerge_max_err", "<=", 1e-10)),
    Claim(
        "our bat equals peft's MiSS init_weights='bat' on a whole Llama (<= 1e-10, float64)",
        Compare("bat/peft_miss_max_diff", "<=", 1e-10),
    ),
    *(
        Claim(f"{m}: zero init reproduces the base logits exactly", Compare(f"{m}/init_logit_max_diff", "<=", 0.0))
        for m in ("bat", "bone", "lora")
    ),
    *(
        Claim(f"{m}: the training loss falls (last 10 / first 10 steps < 0.8)", Compare(f"{m}/loss_ratio", "<", 0.8))
        for m in ADAPTERS
    ),
)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    steps = config.finetune.steps
    target = config.finetune.target_loss

    def race(other: str, name: str) -> Claim:
        return Claim(
            f"bat (the paper's Bone) reaches training loss {target:g} in fewer steps than {name}",
            Compare("bat/steps_to_target", "<", f"{other}/steps_to_target"),
            guards=(
                *tuned_arm_guards("bat", other, min_test_accuracy=0.05),
                Compare(f"bat_vs_{other}/fewest_steps", "<=", steps),
            ),
        )

    return (
        race("lora", "LoRA"),
        race("pissa", "PiSSA"),
        Claim(
            "bat's held-out exact match >= LoRA's",
            Compare("bat/test_accuracy", ">=", "lora/test_accuracy"),
            guards=tuned_arm_guards("bat", "lora", min_test_accuracy=0.05),
        ),
    )


BENCHMARK = Benchmark(
    slug="bone",
    title="Bone: Block Affine Transformation as PEFT for LLMs (Kang, 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": full_claims(FullConfig())},
    metrics=(
        MetricSpec("pissa/init_logit_max_diff", better="lower", tolerance=1e-5),  # its SVD split rounds
        MetricSpec("*_max_err", better="lower", tolerance=1e-10),
        MetricSpec("*max_diff", better="lower", tolerance=1e-10),
        MetricSpec("*/loss_ratio", better="lower", tolerance=0.1),
        MetricSpec("*/trainable_params", better="lower", tolerance=0.0),
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
    ),
    aggregate=aggregate,
    plot=plot,
    perf=perf,
    paper_needs="CUDA GPUs, the Hugging Face hub (meta-llama/Llama-2-7b-hf, meta-math/MetaMathQA) and `datasets`",
)
