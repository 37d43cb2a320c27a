"""The paperzoo benchmark of EVA.

- smoke (seconds): a 2-layer Llama (d = 32) pretrained here for 100 steps on addition; EVA (rho 1 and 2) on
  subtraction batches: the convergence loop ends, the ranks sum to the budget, rho = 1 is uniform; our EVA
  against peft's ``get_eva_state_dict`` on the same model and batches (same ranks, same subspaces); then 30
  fine-tuning steps of LoRA, PiSSA and EVA: zero-B adapters reproduce the base logits, every loss falls.
- full (minutes, 2 CPU cores): the tiny Llama of the shared arithmetic testbed (4 layers, d = 128) pretrained on
  addition traces (cached on disk by config hash), fine-tuned on subtraction by LoRA, PiSSA (peft), EVA rho = 1
  and EVA rho = 2 (ours, in a peft LoRA model), r = 8 on q, k, v, o, up, down, at the same 3 learning rates,
  3 seeds; each method's learning rate by mean validation exact match; early training loss, steps to a target
  loss, held-out greedy exact match, the per-layer rank distribution.
- paper: Llama-2-7B on MetaMathQA (the EVA scripts' recipe) as config, for GPUs (see README).
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

from paperzoo.eva.eva import EvaConfig, compute_eva_state
from paperzoo.eva.train import (
    EVA_RHO,
    METHODS,
    TARGETS,
    FinetuneConfig,
    eva_batches,
    finetune,
    lora_config,
    loss_metrics,
    rank_metrics,
    run_eva,
)
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
    cosine_schedule,
    lm_batch,
    lm_loss,
    prepare_experiment,
    pretrained_base,
    subtraction_splits,
)
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

for noisy in ("transformers", "peft", "accelerate"):
    logging.getLogger(noisy).setLevel(logging.ERROR)


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: EVA checks and 30 steps of each method on a 2-layer Llama (d = 32) pretrained for 100 steps."""

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
            steps=30, batch_size=8, r=4, n_train=256, n_val=1, n_test=1, digits=(1, 2), early_steps=10,
            eva_batch_size=16,
        )
    )  # fmt: skip
    lr: float = 1e-2
    methods: tuple[str, ...] = METHODS
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        for m in self.methods:
            check_one_of("methods", m, METHODS)


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: pretrain on addition (bone's base, same cache), fine-tune on subtraction."""

    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(steps=800, batch_size=32, lr=3e-3, warmup=30, digits=(1, 2))
    )
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
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
    """The paper's math fine-tuning (the ml-jku/EVA README and scripts): Llama-2-7B on MetaMathQA, 1 epoch,
    lr 5e-4, batch 4 x grad-accum 2 per GPU, max length 512, cosine with 3% warm-up, no weight decay, bf16; r = 16
    on every linear layer; EVA with rho in {1, 2}, tau 0.99, SVD batch size 16; evaluated on GSM8k and MATH."""

    base_model: str = "meta-llama/Llama-2-7b-hf"
    dataset: str = "meta-math/MetaMathQA"
    max_length: int = 512
    batch_size: int = 4
    grad_accum: int = 2
    lr: float = 5e-4
    warmup_ratio: float = 0.03
    epochs: int = 1
    r: int = 16
    lora_alpha: float = 1.0  # the official train.py default
    rhos: tuple[float, ...] = (1.0, 2.0)
    tau: float = 0.99
    svd_batch_size: int = 16
    methods: tuple[str, ...] = METHODS
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "grad_accum", "epochs", "r", "svd_batch_size"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        for rho in self.rhos:
            EvaConfig(rho=rho, tau=self.tau)  # validates rho and tau
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        for m in self.methods:
            check_one_of("methods", m, METHODS)


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
def run_full(config: FullConfig, seed: int) -> Result:
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
    for method in (m for m in config.methods if m in EVA_RHO):
        # EVA depends on the base model and the data only: one state per seed, shared by the learning rates.
        states[method], seconds = run_eva(base, tok, splits.train, f.r, EVA_RHO[method], f.eva_batch_size, seed)
        metrics |= {f"{method}/{k}": v for k, v in rank_metrics(states[method]).items()}
        metrics[f"{method}/eva_init_s"] = seconds
        series[f"{method}/ranks"] = [float(v) for v in states[method].ranks.values()]
    runs = [(m, lr) for m in config.methods for lr in config.learning_rates]
    for method, lr in progress(runs, desc=f"fine-tuning, seed {seed}", total=len(runs)):
        res = finetune(base_state, config.pretrain.model, method, lr, f, splits, seed, tok, states.get(method))
        key = grid_key(method, lr)
        metrics |= {f"{key}/{k}": v for k, v in loss_metrics(res.train_loss, f).items()}
        metrics |= {
            f"{key}/val_accuracy": res.val_accuracy,
            f"{key}/val_loss": res.val_loss,
            f"{key}/test_accuracy": res.test_accuracy,
            f"{key}/trainable_params": float(res.trainable_params),
            f"{key}/step_ms": res.step_ms,
        }
        series[f"{key}/train_loss"] = res.train_loss
    return Result(metrics, series)


SELECTED = (
    "val_accuracy", "val_loss", "test_accuracy", "early_train_loss", "steps_to_target", "mean_train_loss",
    "final_train_loss", "trainable_params", "step_ms",
)  # fmt: skip


def aggregate(per_seed: list[dict[str, float]]) -> list[dict[str, float]]:
    """Each method's learning rate by mean validation exact match over seeds (shared ``lr_grid``)."""
    if not any("@" in k for k in per_seed[0]):
        return per_seed
    return lr_grid.select_learning_rates(per_seed, SELECTED)


def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training loss of each method at its chosen learning rate (mean ± std over seeds); EVA's ranks per layer."""
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
    paths = [
        plot_curves(folder / "train_loss.png", curves, title="Fine-tuning on subtraction: training loss",
                    xlabel="step", ylabel="trace cross-entropy", logy=True)
    ]  # fmt: skip
    if all("eva_rho2/ranks" in r["series"] for r in records):
        paths.append(plot_ranks(records, folder / "eva_ranks.png"))
    return paths


def plot_ranks(records: list[dict[str, Any]], path: Path) -> Path:
    """Bars: EVA's rank per layer (rho = 2, one bar per seed), against the uniform r of LoRA."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = FullConfig()
    names = [f"{i}.{t.split('_')[0]}" for i in range(cfg.pretrain.model.n_layer) for t in TARGETS]
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=120)
    width = 0.8 / len(records)
    for j, r in enumerate(records):
        ranks = r["series"]["eva_rho2/ranks"]
        ax.bar([i + j * width for i in range(len(ranks))], ranks, width=width, label=f"seed {r['seed']}")
    ax.axhline(cfg.finetune.r, color="k", linestyle="--", linewidth=1, label=f"r = {cfg.finetune.r} (LoRA, EVA rho=1)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names, rotation=90, fontsize=7)
    ax.set(title="EVA rho = 2: rank per layer (layer.projection)", ylabel="rank")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------- paper
def run_paper(config: PaperConfig, seed: int) -> Result:  # pragma: no cover - needs GPUs and the hub
    raise NotImplementedError(
        f"the paper scale ({config.base_model} on {config.dataset}, GSM8k/MATH evaluation) is documented as config "
        "only; the library (compute_eva_state / init_lora_from_eva / get_eva_model) applies to it unchanged"
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
def median_s(fn: Any, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def perf(device: str) -> dict[str, float]:
    """EVA's initialisation on the full-scale base model (pretrained; read from the cache, trained if absent) and
    the subtraction training set (batches of 16), against one fine-tuning epoch of LoRA (2,000 problems in
    batches of 16 = 125 AdamW steps) and against peft's own EVA (``get_eva_state_dict``, same batches and config)."""
    import peft
    from peft import get_peft_model
    from peft.tuners.lora.eva import get_eva_state_dict

    warnings.filterwarnings("ignore")
    configure(threads=1, deterministic=False)
    tok = CharTokenizer()
    cfg = FullConfig()
    f = cfg.finetune
    base_state, _ = pretrained_base(cfg.pretrain, tok, cfg.cache_dir)
    splits = subtraction_splits(f.n_train, f.n_val, f.n_test, f.digits, 0)
    base = build_llama(cfg.pretrain.model, tok).to(device)
    base.load_state_dict(base_state)
    base.eval()
    loader = [{k: v.to(device) for k, v in b.items()} for b in eva_batches(tok, splits.train, f.eva_batch_size, 0)]
    figures: dict[str, float] = {}
    for name, rho in (("rho1", 1.0), ("rho2", 2.0)):
        state = compute_eva_state(base, loader, TARGETS, f.r, EvaConfig(rho=rho))
        figures[f"eva_{name}/batches"] = float(state.batches)
        figures[f"eva_{name}/init_s"] = median_s(lambda rho=rho: compute_eva_state(base, loader, TARGETS, f.r,
                                                                                   EvaConfig(rho=rho)))  # fmt: skip
        peft_config = peft.LoraConfig(r=f.r, target_modules=list(TARGETS), init_lora_weights="eva",
                                      eva_config=peft.EvaConfig(rho=rho))  # fmt: skip
        figures[f"peft_eva_{name}/init_s"] = median_s(
            lambda c=peft_config: get_eva_state_dict(base, loader, c, show_progress_bar=False)
        )
        figures[f"eva_{name}/over_peft_eva"] = figures[f"eva_{name}/init_s"] / figures[f"peft_eva_{name}/init_s"]

    # One epoch of LoRA fine-tuning (what EVA's one-off cost is compared with).
    torch.manual_seed(0)
    model = build_llama(cfg.pretrain.model, tok).to(device)
    model.load_state_dict(base_state)
    peft_model = get_peft_model(model, lora_config(f.r))
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    sched = cosine_schedule(opt, f.steps)
    steps = f.n_train // f.batch_size
    chunks = [splits.train[i * f.batch_size : (i + 1) * f.batch_size] for i in range(steps)]
    batches = [{k: v.to(device) for k, v in lm_batch(tok, chunk).items()} for chunk in chunks]
    model.train()
    start = time.perf_counter()
    for batch in batches:
        loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    figures["lora_epoch/s"] = time.perf_counter() - start
    figures["lora_epoch/steps"] = float(steps)
    for name in ("rho1", "rho2"):
        figures[f"eva_{name}/over_epoch"] = figures[f"eva_{name}/init_s"] / figures["lora_epoch/s"]
    return figures


# ----------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    *(
        Claim(f"{m}: the convergence loop ends with every layer converged", Compare(f"{m}/eva_converged", ">=", 1.0))
        for m in EVA_RHO
    ),
    *(
        Claim(
            f"{m}: the ranks sum to the budget (sum_l r_l)",
            Compare(f"{m}/budget_error", "<=", 0.0),
            guards=(Compare(f"{m}/budget_error", ">=", 0.0),),
        )
        for m in EVA_RHO
    ),
    Claim("rho = 1: every layer keeps rank r (uniform)", Compare("eva_rho1/rank_std", "<=", 0.0)),
    Claim(
        "our EVA assigns the same rank to every layer as peft's get_eva_state_dict (same model, batches, seed)",
        Compare("peft_eva/rank_mismatches", "<=", 0.0),
    ),
    Claim(
        "our EVA components span the same subspaces as peft's (min principal-angle cosine >= 0.999)",
        Compare("peft_eva/min_subspace_cosine", ">=", 0.999),
    ),
    *(
        Claim(f"{m}: zero B reproduces the base logits exactly", Compare(f"{m}/init_logit_max_diff", "<=", 0.0))
        for m in ("lora", "eva_rho1", "eva_rho2")
    ),
    *(
        Claim(f"{m}: the training loss falls (last 10 / first 10 steps < 0.8)", Compare(f"{m}/loss_ratio", "<", 0.8))
        for m in METHODS
    ),
)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    early = config.finetune.early_steps
    claims = []
    for m, rho in (("eva_rho2", 2), ("eva_rho1", 1)):
        guards = tuned_arm_guards(m, "lora", min_test_accuracy=0.05)
        claims += [
            Claim(
                f"EVA (rho={rho}) has a lower training loss than LoRA early on (mean of the first {early} steps)",
                Compare(f"{m}/early_train_loss", "<", "lora/early_train_loss"),
                guards=guards,
            ),
            Claim(
                f"EVA (rho={rho})'s held-out exact match >= LoRA's",
                Compare(f"{m}/test_accuracy", ">=", "lora/test_accuracy"),
                guards=guards,
            ),
        ]
    claims.append(
        Claim(
            "rho = 2 redistributes the ranks: a non-uniform distribution (std of the per-layer ranks > 0)",
            Compare("eva_rho2/rank_std", ">", 0.0),
            guards=(Compare("eva_rho2/eva_converged", ">=", 1.0), Compare("eva_rho2/budget_error", "<=", 0.0)),
        )
    )
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="eva",
    title="EVA: Fine-tuning via Explained Variance Adaptation (Paischer et al., 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": full_claims(FullConfig())},
    metrics=(
        MetricSpec("pissa/init_logit_max_diff", better="lower", tolerance=1e-5),  # its SVD split rounds
        MetricSpec("*max_diff", better="lower", tolerance=1e-10),
        MetricSpec("*/budget_error", better="lower", tolerance=0.0),
        MetricSpec("*/rank_mismatches", better="lower", tolerance=0.0),
        MetricSpec("*/min_subspace_cosine", better="higher", tolerance=1e-3),
        MetricSpec("*/eva_converged", better="higher", tolerance=0.0),
        MetricSpec("*/loss_ratio", better="lower", tolerance=0.1),
        MetricSpec("*/trainable_params", better="lower", tolerance=0.0),
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
    ),
    aggregate=aggregate,
    plot=plot,
    perf=perf,
    paper_needs="CUDA GPUs, the Hugging Face hub (meta-llama/Llama-2-7b-hf, meta-math/MetaMathQA) and `datasets`",
)
