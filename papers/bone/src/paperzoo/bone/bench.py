"""The paperzoo benchmark of Bone: configs, claims and metric specs (the runners are in :mod:`.experiment`).

- smoke (seconds): the layer against an independent dense reconstruction, merge/unmerge, our model against
  peft's MiSS ``bat``; then 50 fine-tuning steps of bat, bone, LoRA and PiSSA on a random 2-layer Llama:
  every loss falls, and the zero-init adapters reproduce the base logits exactly at step 0.
- full (minutes, 2 CPU cores): a tiny Llama (4 layers, d = 128, d_ff = 256) pretrained here on addition traces
  (cached on disk by config hash), then fine-tuned on subtraction traces by bat, bone, LoRA, PiSSA (matched
  trainable parameters) and full fine-tuning, each at the same 3 learning rates, 3 seeds; the learning rate
  of each method is chosen by mean validation exact match; steps to a target training loss, loss curves and
  held-out greedy exact match.
- paper (GPUs, the hub): LLaMA2-7B fine-tuned on MetaMathQA by bat, LoRA and PiSSA (the official scripts'
  recipe), greedy exact match on GSM8K and MATH (the shared ``math_sft`` testbed); model and data swappable.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from paperzoo.bone import experiment, perf, plots
from paperzoo.bone.adapter import LLAMA_TARGETS
from paperzoo.bone.train import METHODS, FinetuneConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.lr_grid import tuned_arm_guards
from paperzoo.shared.testbeds.arithmetic_lm import DEFAULT_CACHE_DIR, ModelConfig, PretrainConfig
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

ADAPTERS = ("bat", "bone", "lora", "pissa")


def _check_methods(methods: tuple[str, ...]) -> None:
    if not methods:
        raise ValueError("methods must hold at least one method")
    for m in methods:
        check_one_of("methods", m, METHODS)


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
        _check_methods(self.methods)


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
        _check_methods(self.methods)
        if not self.learning_rates:
            raise ValueError("learning_rates must hold at least one value")
        for lr in self.learning_rates:
            check_positive("learning_rates", lr)
        check_positive_int("n_base_eval", self.n_base_eval)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's headline: LLaMA2-7B on MetaMathQA (the official llama/scripts: 1 epoch, lr 2e-5, batch 128,
    cosine, no warm-up or weight decay, max length 512, bf16; all seven projections; Bone r = 64 vs LoRA/PiSSA
    at matched parameters, alpha = rank), greedy exact match on GSM8K and MATH. ``base_model``, ``dataset``,
    ``gsm8k`` and ``math`` take a hub id or a local folder / ``.jsonl`` file; ``max_steps`` and ``eval_limit``
    cut a run short (a first check)."""

    base_model: str = "meta-llama/Llama-2-7b-hf"
    dataset: str = "meta-math/MetaMathQA"
    split: str = "train"
    n_train: int | None = 100_000
    gsm8k: str = "openai/gsm8k:main"
    math: str = "DigitalLearningGmbH/MATH-lighteval"
    eval_limit: int | None = None
    max_length: int = 512
    batch_size: int = 4
    grad_accum: int = 32  # 4 x 32 = 128 sequences per step, the official scripts' batch
    lr: float = 2e-5
    epochs: int = 1
    warmup_ratio: float = 0.0
    max_steps: int | None = None
    max_new_tokens: int = 512
    eval_batch: int = 32
    r: int = 64
    methods: tuple[str, ...] = ("bat", "lora", "pissa")
    targets: tuple[str, ...] = LLAMA_TARGETS
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size", "grad_accum", "epochs", "r", "max_new_tokens", "eval_batch"):
            check_positive_int(name, getattr(self, name))
        for name in ("n_train", "eval_limit", "max_steps"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_non_negative("warmup_ratio", self.warmup_ratio)
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        _check_methods(self.methods)


# ----------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    return (
        Claim(
            "bat's forward equals F.linear with the dense block update built by a loop (float64, <= 1e-12)",
            Compare("bat/dense_reconstruction_max_err", "<=", 1e-12),
        ),
        Claim(
            "merge then forward equals the unmerged forward (<= 1e-10, float64)",
            Compare("bat/merge_max_err", "<=", 1e-10),
        ),
        Claim("unmerge restores W exactly (<= 1e-10, float64)", Compare("bat/unmerge_max_err", "<=", 1e-10)),
        Claim(
            "our bat equals peft's MiSS init_weights='bat' on a whole Llama (<= 1e-10, float64)",
            Compare("bat/peft_miss_max_diff", "<=", 1e-10),
        ),
        *(
            Claim(f"{m}: zero init reproduces the base logits exactly", Compare(f"{m}/init_logit_max_diff", "<=", 0.0))
            for m in config.methods
            if m in ("bat", "bone", "lora")
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


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """The paper's claims at the tiny-Llama scale, on per-seed values paired by seed: every method of a seed
    fine-tunes the same base weights on the same problems and batches (the shared loop's ``random.Random(seed)``).

    Steps to the target loss resolve to one step (``MetricSpec``); held-out exact match to one of the config's
    ``n_test`` problems (claim-level: the config that was run). The race guard's budget is the config's steps.
    """
    steps = config.finetune.steps
    target = config.finetune.target_loss
    accuracy = accuracy_resolution(config)

    def race(other: str, name: str) -> Claim:
        return Claim(
            f"bat (the paper's Bone) reaches training loss {target:g} in fewer steps than {name}",
            Better("bat/steps_to_target", f"{other}/steps_to_target", better="lower"),
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
            NoWorse("bat/test_accuracy", "lora/test_accuracy", resolution=accuracy),
            guards=tuned_arm_guards("bat", "lora", min_test_accuracy=0.05),
        ),
    )


def paper_claims(config: PaperConfig) -> tuple[Claim, ...]:
    """The paper's table: bat (Bone) above LoRA and PiSSA on GSM8K and MATH (for the baselines that were run)."""
    if "bat" not in config.methods:
        return ()
    return tuple(
        Claim(
            f"bat's {label} exact match > {other}'s",
            Compare(f"bat/{task}/accuracy", ">", f"{other}/{task}/accuracy"),
        )
        for other in ("lora", "pissa")
        if other in config.methods
        for task, label in (("gsm8k", "GSM8K"), ("math", "MATH"))
    )


_FULL = FullConfig()

BENCHMARK = Benchmark(
    slug="bone",
    title="Bone: Block Affine Transformation as PEFT for LLMs (Kang, 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": _FULL, "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims, "paper": paper_claims},
    metrics=(
        MetricSpec("pissa/init_logit_max_diff", better="lower", tolerance=1e-5),  # its SVD split rounds
        MetricSpec("*_max_err", better="lower", tolerance=1e-10),
        MetricSpec("*max_diff", better="lower", tolerance=1e-10),
        MetricSpec("*/loss_ratio", better="lower", tolerance=0.1),
        MetricSpec("*/trainable_params", better="lower", tolerance=0.0),
        # Exact match resolves to one problem of its split (the claims take n_test from the config that was run).
        MetricSpec("*/test_accuracy", better="higher", tolerance=0.05, resolution=accuracy_resolution(_FULL)),
        MetricSpec("*/val_accuracy", better="higher", tolerance=0.05, resolution=1 / _FULL.finetune.n_val),
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
        MetricSpec("*/steps_to_target", better="lower", tolerance=0.25, relative=True, resolution=1.0),
    ),
    aggregate={"full": functools.partial(experiment.select_learning_rates, tie_tolerance=1 / _FULL.finetune.n_val)},
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs=(
        "CUDA GPUs, the Hugging Face hub (meta-llama/Llama-2-7b-hf, meta-math/MetaMathQA, openai/gsm8k, MATH) "
        "and `datasets` (pip install 'paperzoo-bone[paper]')"
    ),
)
