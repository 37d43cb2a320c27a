"""The paperzoo benchmark of EVA: configs, claims and metric specs (the runners are in :mod:`.experiment`).

- smoke (seconds): a 2-layer Llama (d = 32) pretrained here for 100 steps on addition; EVA (rho 1 and 2) on
  subtraction batches: the convergence loop ends, the ranks sum to the budget, rho = 1 is uniform; our EVA
  against peft's ``get_eva_state_dict`` on the same model and batches (same ranks, same subspaces); then 30
  fine-tuning steps of LoRA, PiSSA and EVA: zero-B adapters reproduce the base logits, every loss falls.
- full (minutes, 2 CPU cores): the tiny Llama of the shared arithmetic testbed (4 layers, d = 128) pretrained on
  addition traces (cached on disk by config hash), fine-tuned 300 steps on subtraction, r = 8 on q, k, v, o, up,
  down, 3 seeds. Headline: the official EVA scripts' scaling (lora_alpha = 1, EVA's alpha not adjusted) for LoRA,
  PiSSA (peft), EVA rho = 1 and rho = 2 (ours, in a peft LoRA model); second setting: lora_alpha = r with EVA's
  alpha adjusted (peft's default) for LoRA and EVA rho = 2. Every arm has its own 5-point learning-rate grid, chosen
  by mean validation exact match; early training loss, steps to a target loss, validation loss and exact match,
  held-out exact match, the per-layer rank distribution. The grid runs go to 2 worker processes.
- paper (GPUs, the hub): Llama-2-7B fine-tuned on MetaMathQA by LoRA, PiSSA and EVA rho = 1, 2 (the EVA scripts'
  recipe), greedy exact match on GSM8K and MATH (the shared ``math_sft`` testbed); model and data swappable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from paperzoo.eva import experiment, perf, plots
from paperzoo.eva.eva import EvaConfig
from paperzoo.eva.train import EVA_RHO, METHODS, FinetuneConfig, Grid, arm_name, check_grid, parse_arm
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.testbeds.arithmetic_lm import DEFAULT_CACHE_DIR, ModelConfig, PretrainConfig
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

# The EVA scripts adapt every linear layer of the blocks (the full scale keeps the brief's six).
PAPER_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _check_methods(methods: tuple[str, ...]) -> None:
    if not methods:
        raise ValueError("methods must hold at least one method")
    for m in methods:
        check_one_of("methods", m, METHODS)


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: EVA checks and 30 steps of each method (official scaling, lora_alpha = 1) on a 2-layer Llama (d = 32)
    pretrained for 100 steps."""

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
        _check_methods(self.methods)


# Each arm's 5-point learning-rate grid, a factor 2 apart on one lattice (1.25e-3 x 2^k), placed by pilot runs so that
# its best point lies inside (the README gives the reasons). Unsuffixed arms: the official EVA scaling (the headline);
# "_alpha_r" arms: lora_alpha = r with EVA's alpha adjusted (peft's default; the previous design).
FULL_GRID: Grid = (
    ("lora", (5e-3, 1e-2, 2e-2, 4e-2, 8e-2)),
    ("pissa", (5e-3, 1e-2, 2e-2, 4e-2, 8e-2)),
    ("eva_rho1", (5e-3, 1e-2, 2e-2, 4e-2, 8e-2)),
    ("eva_rho2", (5e-3, 1e-2, 2e-2, 4e-2, 8e-2)),
    ("lora_alpha_r", (2.5e-3, 5e-3, 1e-2, 2e-2, 4e-2)),
    ("eva_rho2_alpha_r", (2.5e-3, 5e-3, 1e-2, 2e-2, 4e-2)),
)


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: pretrain on addition (bone's base, same cache), fine-tune on subtraction by every
    arm of ``lr_grid`` at each of its learning rates, on ``workers`` processes."""

    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(steps=800, batch_size=32, lr=3e-3, warmup=30, digits=(1, 2))
    )
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=300))
    lr_grid: Grid = FULL_GRID
    cache_dir: str | None = DEFAULT_CACHE_DIR
    n_base_eval: int = 300
    # Fine-tuning runs in parallel, one per process (one thread each): the 2 cores of the budget.
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_grid("lr_grid", self.lr_grid)
        check_positive_int("n_base_eval", self.n_base_eval)
        check_positive_int("workers", self.workers)

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(arm for arm, _ in self.lr_grid)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's math fine-tuning (the ml-jku/EVA README and scripts): Llama-2-7B on MetaMathQA, 1 epoch,
    lr 5e-4, batch 4 x grad-accum 2, max length 512, cosine with 3% warm-up, no weight decay, bf16; r = 16 on
    every linear layer of the blocks, lora_alpha 1; EVA with rho in {1, 2}, tau 0.99, SVD batch size 16; greedy
    exact match on GSM8K and MATH. ``base_model``, ``dataset``, ``gsm8k`` and ``math`` take a hub id or a local
    folder / ``.jsonl`` file; ``max_steps`` and ``eval_limit`` cut a run short (a first check)."""

    base_model: str = "meta-llama/Llama-2-7b-hf"
    dataset: str = "meta-math/MetaMathQA"
    split: str = "train"
    n_train: int | None = None
    gsm8k: str = "openai/gsm8k:main"
    math: str = "DigitalLearningGmbH/MATH-lighteval"
    eval_limit: int | None = None
    max_length: int = 512
    batch_size: int = 4
    grad_accum: int = 2
    lr: float = 5e-4
    warmup_ratio: float = 0.03
    epochs: int = 1
    max_steps: int | None = None
    max_new_tokens: int = 512
    eval_batch: int = 32
    r: int = 16
    lora_alpha: float = 1.0  # the official train.py default
    # The official train.py sets the redistributed ranks only (no alpha_pattern): alpha stays lora_alpha in every
    # layer. True gives peft's default (alpha_l = alpha rank_l / r).
    adjust_scaling_factors: bool = False
    targets: tuple[str, ...] = PAPER_TARGETS
    tau: float = 0.99
    svd_batch_size: int = 16
    methods: tuple[str, ...] = METHODS
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "grad_accum", "epochs", "r", "svd_batch_size", "max_new_tokens",
                     "eval_batch"):  # fmt: skip
            check_positive_int(name, getattr(self, name))
        for name in ("n_train", "eval_limit", "max_steps"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_positive("lora_alpha", self.lora_alpha)
        check_non_negative("warmup_ratio", self.warmup_ratio)
        EvaConfig(tau=self.tau)  # validates tau
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        _check_methods(self.methods)


# ----------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    return (
        *(
            Claim(
                f"{m}: the convergence loop ends with every layer converged", Compare(f"{m}/eva_converged", ">=", 1.0)
            )
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
            for m in config.methods
            if m in ("lora", "eva_rho1", "eva_rho2")
        ),
        *(
            Claim(
                f"{m}: the training loss falls (last 10 / first 10 steps < 0.8)", Compare(f"{m}/loss_ratio", "<", 0.8)
            )
            for m in config.methods
        ),
    )


def accuracy_resolution(config: FullConfig) -> float:
    """The grain of held-out exact match: one of the config's ``n_test`` test problems."""
    return 1.0 / config.finetune.n_test


def redistributed() -> Compare:
    """EVA rho = 2's mechanism acted: the per-layer ranks are not uniform (their std over layers, seed mean, > 0)."""
    return Compare("eva_rho2/rank_std", ">", 0.0)


SCALING_TEXT = {"official": "alpha = 1 (official)", "alpha_r": "alpha = r"}


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """The paper's claims at the tiny-Llama scale, per scaling setting whose LoRA arm is in the grid, on per-seed
    values paired by seed (same base weights, problems and batches; EVA's state from that seed's base model and
    training problems, once per rho). Guards (:func:`~paperzoo.shared.lr_grid.tuned_arm_guards`): both arms above 5%
    test exact match, each learning rate inside its grid; the rho = 2 comparisons carry the mechanism check
    :func:`redistributed`. Exact match resolves to one of ``n_test`` problems; the rank std is a one-sample interval.
    """
    early = config.finetune.early_steps
    accuracy = accuracy_resolution(config)
    claims = []
    for scaling, text in SCALING_TEXT.items():
        lora = arm_name("lora", scaling)
        for method, rho in (("eva_rho2", 2), ("eva_rho1", 1)):
            eva = arm_name(method, scaling)
            if lora not in config.arms or eva not in config.arms:
                continue
            kw = {"guards": tuned_arm_guards(eva, lora, min_test_accuracy=0.05),
                  "mechanism": (redistributed(),) if rho == 2 else ()}  # fmt: skip
            claims += [
                Claim(f"{text}: EVA (rho={rho}) has a lower training loss than LoRA early on (mean of the first "
                      f"{early} steps, both at LoRA's chosen learning rate)",
                      Better(f"{eva}/early_train_loss_at_lora_lr", f"{lora}/early_train_loss", better="lower"),
                      **kw),
                Claim(f"{text}: EVA (rho={rho})'s held-out exact match >= LoRA's",
                      NoWorse(f"{eva}/test_accuracy", f"{lora}/test_accuracy", resolution=accuracy), **kw),
            ]  # fmt: skip
    if "eva_rho2" in {parse_arm(arm)[0] for arm in config.arms}:
        claims.append(
            Claim(
                "rho = 2 redistributes the ranks: a non-uniform distribution (std of the per-layer ranks > 0)",
                Better("eva_rho2/rank_std", 0.0),
                guards=(Compare("eva_rho2/eva_converged", ">=", 1.0), Compare("eva_rho2/budget_error", "<=", 0.0)),
            )
        )
    return tuple(claims)


def paper_claims(config: PaperConfig) -> tuple[Claim, ...]:
    """The paper's table: EVA above LoRA on GSM8K and MATH (for the EVA arms that were run)."""
    if "lora" not in config.methods:
        return ()
    return tuple(
        Claim(
            f"EVA (rho={m[-1]})'s {label} exact match > LoRA's",
            Compare(f"{m}/{task}/accuracy", ">", f"lora/{task}/accuracy"),
        )
        for m in ("eva_rho1", "eva_rho2")
        if m in config.methods
        for task, label in (("gsm8k", "GSM8K"), ("math", "MATH"))
    )


_FULL = FullConfig()

BENCHMARK = Benchmark(
    slug="eva",
    title="EVA: Fine-tuning via Explained Variance Adaptation (Paischer et al., 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": _FULL, "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims, "paper": paper_claims},
    metrics=(
        MetricSpec("pissa/init_logit_max_diff", better="lower", tolerance=1e-5),  # its SVD split rounds
        MetricSpec("*max_diff", better="lower", tolerance=1e-10),
        MetricSpec("*/budget_error", better="lower", tolerance=0.0),
        MetricSpec("*/rank_mismatches", better="lower", tolerance=0.0),
        MetricSpec("*/min_subspace_cosine", better="higher", tolerance=1e-3),
        MetricSpec("*/eva_converged", better="higher", tolerance=0.0),
        MetricSpec("*/loss_ratio", better="lower", tolerance=0.1),
        MetricSpec("*/trainable_params", better="lower", tolerance=0.0),
        # Exact match resolves to one problem of its split (the claims take n_test from the config that was run).
        MetricSpec("*/test_accuracy", better="higher", tolerance=0.05, resolution=accuracy_resolution(_FULL)),
        MetricSpec("*/val_accuracy", better="higher", tolerance=0.05, resolution=1 / _FULL.finetune.n_val),
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
        MetricSpec("*/val_loss", better="lower", tolerance=0.25, relative=True),
        MetricSpec("*/steps_to_target", better="lower", tolerance=0.25, relative=True, resolution=1.0),
    ),
    aggregate={"full": functools.partial(experiment.select_learning_rates, tie_tolerance=1 / _FULL.finetune.n_val)},
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs=(
        "CUDA GPUs, the Hugging Face hub (meta-llama/Llama-2-7b-hf, meta-math/MetaMathQA, openai/gsm8k, MATH) "
        "and `datasets` (pip install 'paperzoo-eva[paper]')"
    ),
)
