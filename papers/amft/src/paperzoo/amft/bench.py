"""The paperzoo benchmark of AMFT: a declaration (configs, claims, metric specs); runners in ``experiment.py``.

- smoke (seconds): the meta-gradient against a central finite difference (float64, tiny model), the
  controller on scripted entropy sequences, and 30 steps of SFT-only, RL-only and AMFT on a 1-layer model.
- full (minutes, 2 CPU cores): every regime of the brief (SFT-only, RL-only, SFT->RL, fixed mu in
  {0.2, 0.5, 0.8}, AMFT and its three ablations) at equal optimizer steps from one shared base model per
  seed, on column-wise addition; greedy exact match on 500 ID problems (1-3 digit operands whose lengths
  differ by at most one) and 500 OOD problems (a 1-digit and a 3-digit operand: a length mix held out of
  fine-tuning, on which the base model has partial skill).
- paper: the paper's math RL setting (official config): a hub causal LM (Qwen2.5-Math-7B) trained by each
  regime on OpenR1-Math-46k prompts and demonstrations, with a final-answer verifier as the reward, then greedy
  exact match of the final answer on MATH-500; for GPUs (``--allow-download``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.amft import experiment, plots
from paperzoo.amft.math_rl import QWEN_MATH_TEMPLATE, MathData
from paperzoo.amft.model import ModelConfig
from paperzoo.amft.task import ID_LENGTHS, OOD_LENGTHS, max_trace_tokens
from paperzoo.amft.train import REGIMES, BaseConfig, TrainConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse
from paperzoo.shared.validate import check_one_of, check_positive_int


def _check_regimes(regimes: tuple[str, ...]) -> None:
    if not regimes:
        raise ValueError("regimes must name at least one regime")
    for r in regimes:
        check_one_of("regimes", r, REGIMES)


def _check_lengths(id_lengths: tuple[tuple[int, int], ...], ood_lengths: tuple[tuple[int, int], ...]) -> None:
    for name, pairs in (("id_lengths", id_lengths), ("ood_lengths", ood_lengths)):
        if not pairs or any(len(p) != 2 or min(p) < 1 for p in pairs):
            raise ValueError(f"{name} must be non-empty (len(a), len(b)) pairs of lengths >= 1, got {pairs}")
    if set(id_lengths) & set(ood_lengths):
        shared = sorted(set(id_lengths) & set(ood_lengths))
        raise ValueError(f"ood_lengths must be disjoint from id_lengths, both hold {shared}")


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: meta-gradient check, scripted controller, 30 steps of three regimes on a 1-layer model."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_layer=1, n_embd=32, n_head=2, n_positions=96))
    base: BaseConfig = field(default_factory=lambda: BaseConfig(pretrain_steps=0, sft_steps=40, batch_size=16))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=30, batch_size=4, group_size=2, max_new_tokens=16, warmup_steps=3, meta_update_freq=10, val_batch=4
        )
    )
    regimes: tuple[str, ...] = ("sft", "rl", "amft")
    workers: int = 1  # processes for the regimes (a pool's start-up would not fit the smoke budget)
    id_lengths: tuple[tuple[int, int], ...] = ID_LENGTHS
    ood_lengths: tuple[tuple[int, int], ...] = OOD_LENGTHS
    n_demos: int = 200
    n_eval: int = 50
    scripted_steps: int = 20
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_regimes(self.regimes)
        if "amft" not in self.regimes:
            raise ValueError(f"regimes must include 'amft' (the smoke claims check its mu), got {self.regimes}")
        for name in ("n_demos", "n_eval", "scripted_steps", "workers"):
            check_positive_int(name, getattr(self, name))
        _check_lengths(self.id_lengths, self.ood_lengths)


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: a ~0.33M-parameter Llama on column-wise addition, every regime.

    Controller deviations (README): eta_meta = 600 and eta_H = 0.1 instead of the official 1e-4 and 5e-4
    (with those mu moves by < 0.01 in a 100-step run at this scale), K = 10 instead of 20 and H* over the
    demonstrations' response positions instead of every non-pad position. ``TrainConfig()`` keeps the official
    values: ``dataclasses.replace(config.train, eta_meta=1e-4, eta_entropy=5e-4, meta_update_freq=20,
    target_entropy_positions="all")`` restores them.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    base: BaseConfig = field(
        default_factory=lambda: BaseConfig(pretrain_steps=0, sft_steps=600, batch_size=32, sft_digits=(1, 2, 3))
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=100, batch_size=8, group_size=4, lr=3e-4, max_new_tokens=max_trace_tokens(ID_LENGTHS),
        warmup_steps=4, meta_update_freq=10, val_batch=32, eval_every=20, eval_problems=100,
        eta_meta=600.0, eta_entropy=0.1, target_entropy_positions="response",
    ))  # fmt: skip
    regimes: tuple[str, ...] = REGIMES
    workers: int = 2  # processes for the regimes (the 2 cores); the numbers do not depend on it
    id_lengths: tuple[tuple[int, int], ...] = ID_LENGTHS
    ood_lengths: tuple[tuple[int, int], ...] = OOD_LENGTHS
    n_demos: int = 2000  # the brief: limited demonstrations (2k traces) vs unlimited RL prompts
    n_eval: int = 500  # greedy exact match on 500 ID + 500 OOD problems
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_regimes(self.regimes)
        for name in ("n_demos", "n_eval", "workers"):
            check_positive_int(name, getattr(self, name))
        _check_lengths(self.id_lengths, self.ood_lengths)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's math setting (official configs: main_config.yaml, model_qwen7b.yaml, amft_params.yaml).

    The official config spells the model ``Qwen/Qwen2.5-7B-Math``; the hub name is ``Qwen/Qwen2.5-Math-7B``.
    ``base_model``/``tokenizer`` take a hub id or a local folder; each ``MathData.source`` a hub data set id
    or a local ``.jsonl`` file. Policy lr 1e-6, 500 steps, 50 warm-up steps, batch 8, max length 2048,
    mu_0 = 0.8, eta_meta = 1e-4, eta_H = 5e-4, K = 20, PPO eps = 0.2, c_v = 0.1, c_H = 0.01 (official).
    """

    base_model: str = "Qwen/Qwen2.5-Math-7B"
    tokenizer: str = ""  # "" = the base model's
    eos_token: str = "<|im_end|>"  # ends a turn of the chat template; "" = the tokenizer's eos
    dtype: str = "float32"  # master weights; the steps run under train.mixed_precision
    prompt_template: str = QWEN_MATH_TEMPLATE
    train_data: MathData = field(
        default_factory=lambda: MathData(
            "Elliott/OpenR1-Math-46k-8192", "train", question="prompt", solution="target", answer="reward_model"
        )
    )
    eval_data: MathData = field(
        default_factory=lambda: MathData(
            "HuggingFaceH4/MATH-500", "test", question="problem", solution="solution", answer="answer"
        )
    )
    n_val: int = 256  # prompts held out of the training set for U_val
    max_seq_length: int = 2048
    regimes: tuple[str, ...] = ("sft", "rl", "sft_then_rl", "amft")
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=500, batch_size=8, group_size=8, lr=1e-6, max_new_tokens=1024, warmup_steps=50,
            meta_update_freq=20, val_batch=8, mixed_precision="bf16", device="cuda",
        )
    )  # fmt: skip
    eval_max_new_tokens: int = 1024
    eval_batch: int = 32
    device: str = "cuda"

    def __post_init__(self) -> None:
        if not self.base_model:
            raise ValueError("base_model must name a hub model or a local folder, got ''")
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        _check_regimes(self.regimes)
        if "{question}" not in self.prompt_template:
            raise ValueError(f"prompt_template must contain '{{question}}', got {self.prompt_template!r}")
        for name in ("n_val", "max_seq_length", "eval_max_new_tokens", "eval_batch"):
            check_positive_int(name, getattr(self, name))
        if self.n_val < self.train.val_batch:
            raise ValueError(f"n_val must be >= train.val_batch ({self.train.val_batch}), got {self.n_val}")


# ------------------------------------------------------------------------------------------------ claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The meta-gradient is exact; mu stays in the configured [mu_min, mu_max]; the entropy term's direction."""
    lo, hi = config.train.mu_min, config.train.mu_max
    return (
        Claim(
            "The val_reward meta-gradient equals a central finite difference of U_val(theta'(mu)) (rel. err < 1e-6)",
            Compare("amft/meta_grad_rel_err", "<", 1e-6),
            guards=(Compare("amft/meta_grad_abs", ">", 1e-8),),
        ),
        Claim(f"mu stays within [mu_min, mu_max] = [{lo:g}, {hi:g}] (AMFT run)", Compare("amft/mu_min_seen", ">=", lo)),
        Claim(
            f"mu stays within [mu_min, mu_max] = [{lo:g}, {hi:g}] (AMFT run, upper)",
            Compare("amft/mu_max_seen", "<=", hi),
        ),
        Claim(
            "mu stays within bounds under a large scripted entropy swing",
            Compare("controller/mu_max_seen", "<=", hi),
            guards=(Compare("controller/mu_min_seen", ">=", lo),),
        ),
        Claim(
            "Entropy below target -> mu grows (more imitation)", Compare("controller/mu_change_low_entropy", ">", 0.0)
        ),
        Claim(
            "Entropy above target -> mu shrinks (more exploration)",
            Compare("controller/mu_change_high_entropy", "<", 0.0),
        ),
    )


# The mechanism guard of every full claim (issue on AMFT: "Guard every AMFT claim on mu having moved by at
# least 0.1"): a claim about the adaptive weight says nothing when the controller left mu where it started.
MU_MOVED = 0.1


def mu_moved(arm: str = "amft") -> Compare:
    """mu's range over the run (after the SFT warm-up) is at least :data:`MU_MOVED`, on the seed means (the
    mean of ``mu_max_seen - mu_min_seen`` is the difference of their means: no range metric is needed)."""
    return Compare(f"{arm}/mu_max_seen", ">=", f"{arm}/mu_min_seen", margin=MU_MOVED)


OOD_FLOOR = 0.05  #: the OOD claims' guard: SFT solves this share of the OOD problems (not all near zero)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """AMFT no worse than SFT->RL and than the best fixed mu, on OOD and on ID (1 point of slack), for the
    regimes that ran; on per-seed values paired by seed (every regime of a seed starts from the seed's base
    model and draws the same demonstrations, batch order and test problems).

    Resolution: one test problem, ``1 / n_eval`` (greedy exact match over the config's ``n_eval`` problems;
    claim-level, because ``n_eval`` differs between scales). Guards: each compared arm learned the ID task
    (> 5% greedy exact match); for OOD, the SFT arm (the best OOD arm when it did not run) solves at least
    :data:`OOD_FLOOR` of the OOD problems and more than one of them. Mechanism: AMFT's mu moved by at least
    :data:`MU_MOVED`.
    """
    ood_floor = max(OOD_FLOOR, 1.0 / config.n_eval)
    resolution = 1.0 / config.n_eval
    fixed = tuple(r for r in config.regimes if r.startswith("fixed_mu_"))
    mechanism = (mu_moved(),)
    ood_arm = "sft/ood_accuracy" if "sft" in config.regimes else Max("*/ood_accuracy")

    def learned(*arms: str) -> tuple[Compare, ...]:
        return (*(Compare(f"{a}/id_accuracy", ">", 0.05) for a in arms), Compare(ood_arm, ">=", ood_floor))

    claims: list[Claim] = []
    if {"amft", "sft_then_rl"} <= set(config.regimes):
        claims.append(
            Claim(
                "AMFT's OOD accuracy >= SFT->RL's",
                NoWorse("amft/ood_accuracy", "sft_then_rl/ood_accuracy", resolution=resolution),
                guards=learned("amft", "sft_then_rl"),
                mechanism=mechanism,
            )
        )
    if "amft" in config.regimes and fixed:
        claims.append(
            Claim(
                "AMFT's OOD accuracy >= the best fixed mu's",
                NoWorse("amft/ood_accuracy", Max("fixed_mu_*/ood_accuracy"), resolution=resolution),
                guards=learned("amft", *fixed),
                mechanism=mechanism,
            )
        )
        claims.append(
            Claim(
                "No ID loss: AMFT's ID accuracy within 1 point of the best fixed mu's or better",
                NoWorse("amft/id_accuracy", Max("fixed_mu_*/id_accuracy"), delta=0.01, resolution=resolution),
                guards=(Compare("amft/id_accuracy", ">", 0.05), Compare(Max("fixed_mu_*/id_accuracy"), ">", 0.05)),
                mechanism=mechanism,
            )
        )
    if {"amft", "sft_then_rl"} <= set(config.regimes):
        claims.append(
            Claim(
                "No ID loss: AMFT's ID accuracy within 1 point of SFT->RL's or better",
                NoWorse("amft/id_accuracy", "sft_then_rl/id_accuracy", delta=0.01, resolution=resolution),
                guards=(Compare("amft/id_accuracy", ">", 0.05), Compare("sft_then_rl/id_accuracy", ">", 0.05)),
                mechanism=mechanism,
            )
        )
    if "amft" in config.regimes:
        claims.append(
            Claim(
                "AMFT's mu falls over training: imitation early, exploration later (mean mu, first vs last third)",
                Better("amft/mu_early", "amft/mu_late"),
                mechanism=mechanism,
            )
        )
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="amft",
    title="AMFT: meta-learned imitation-exploration balance (He et al., 2025)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("amft/meta_grad_rel_err", better="lower", tolerance=1e-6),
        MetricSpec("amft/meta_grad_abs", better="higher", tolerance=0.5, relative=True),
        # resolution: one of the n_eval test problems, which differs by scale: declared on the claims
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
        MetricSpec("controller/mu_change_low_entropy", better="higher", tolerance=1e-6),
        MetricSpec("controller/mu_change_high_entropy", better="lower", tolerance=1e-6),
        MetricSpec("*mu_min_seen", better="higher", tolerance=0.05),
        MetricSpec("*mu_max_seen", better="lower", tolerance=0.05),
        MetricSpec("*/final_mu", better="higher", tolerance=0.05),
        MetricSpec("*/mean_reward", better="higher", tolerance=0.1),
        MetricSpec("*/target_entropy", better="lower", tolerance=0.2, relative=True),
        MetricSpec("*/optimizer_steps", better="higher", tolerance=0.0),
        MetricSpec("*/generated_tokens", better="lower", tolerance=0.5, relative=True),
    ),
    plot={"full": plots.plot_full},
    paper_needs=(
        "a CUDA GPU (full fine-tuning of the 7B model with fp32 master weights and the meta-gradient needs "
        "~170 GB, i.e. a sharded multi-GPU setup; a 1.5B base fits one 80 GB GPU), the Hugging Face hub "
        "(Qwen/Qwen2.5-Math-7B, Elliott/OpenR1-Math-46k-8192, HuggingFaceH4/MATH-500) and the `paper` extra "
        "(`datasets`)"
    ),
)
