"""The paperzoo benchmark of constrained-rlhf: a declaration (configs, claims, metric specs); runners in
``experiment.py``, figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): a tiny pretrained GPT-2, 20 PPO iterations with one constraint (task METEOR, intent held by a
  sigmoid multiplier); advantages finite, KL logged, scripted return streams move each kind of multiplier the
  documented way.
- full (minutes, 2 cores): step 1, three fixed-weight PPO runs locate the proxy points theta; step 2 at equal
  environment steps: best fixed-weight PPO, PPO-SAT, constrained "kl" (equality at theta), constrained "all"
  (upper bounds at theta), NM-PPO; 3 seeds.
- paper: the official dialog setting: GPT-2 (hub) on DailyDialog (context of 5 turns), nltk METEOR and the
  RoBERTa intent classifier as the two constrained components, step 2 at the official thresholds (METEOR 0.238,
  intent 0.44), lr 1e-6, KL 0.2, top-k 20, 20 new tokens, 100 iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.constrained_rlhf import experiment, perf, plots
from paperzoo.constrained_rlhf.dailydialog import NLTK_DATA
from paperzoo.constrained_rlhf.dialogue import ModelConfig, PretrainConfig
from paperzoo.constrained_rlhf.ppo import COMPONENTS, PPOConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int, check_range

CACHE = "~/.cache/paperzoo/constrained-rlhf"


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: one constraint on a tiny base model."""

    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(model=ModelConfig(n_layer=1, n_embd=32), steps=100, batch_size=32)
    )
    ppo: PPOConfig = field(
        default_factory=lambda: PPOConfig(batch_episodes=16, minibatch_episodes=8, epochs=1, lr=1e-3)
    )
    iterations: int = 20
    threshold: float = 0.5  # intent lower bound
    eval_every: int = 20
    eval_dialogues: int = 32
    classifier_l2: float = 0.05
    lagrange_lr: float = 0.1
    lagrange_momentum: float = 0.1
    scripted_steps: int = 5
    cache_dir: str | None = CACHE
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("iterations", "eval_every", "eval_dialogues", "scripted_steps"):
            check_positive_int(name, getattr(self, name))
        check_range("threshold", self.threshold, 0.0, 1.0)


@dataclass(frozen=True)
class DailyDialogConfig:
    """The paper's task (RL4LMs' dialog config). ``data``: ``"hub"`` (``datasets``, downloaded: the ``paper``
    extra) or a folder of the original release's text files; the models are hub ids or local folders;
    ``nltk_data``: ``"download"`` (fetch nltk's wordnet / punkt_tab when missing), ``"installed"`` or ``"none"``
    (offline stand-ins: no synonym matches, no sentence splitting)."""

    data: str = "hub"
    hub_dataset: str = "li2017dailydialog/daily_dialog"  # RL4LMs' "daily_dialog", under its current name
    hub_revision: str | None = None  # e.g. a Parquet revision where ``datasets`` no longer runs loading scripts
    policy_model: str = "gpt2"
    intent_model: str = "rajkumarrrk/roberta-daily-dialog-intent-classifier"
    context_size: int = 5
    max_prompt_length: int = 128
    nltk_data: str = "download"
    intent_batch: int = 64

    def __post_init__(self) -> None:
        for name in ("context_size", "max_prompt_length", "intent_batch"):
            check_positive_int(name, getattr(self, name))
        check_one_of("nltk_data", self.nltk_data, NLTK_DATA)


@dataclass(frozen=True)
class FullConfig:
    """The two-step protocol of the brief at CPU scale (see the README for every choice that could decide it)."""

    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(p_long=0.1))
    # KL 0.05 instead of the official 0.2: at 0.2 the proxies saturate below their overoptimisation within the
    # budget (pilot: E still rising at 300 iterations), so there would be nothing for the constraints to fix.
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(lr=3e-4, kl_coef=0.05))
    iterations: int = 200
    eval_every: int = 10
    eval_dialogues: int = 256
    fixed_weights: tuple[tuple[float, float], ...] = ((1.5, 0.5), (1.0, 1.0), (0.5, 1.5))  # (METEOR, intent)
    classifier_l2: float = 0.05
    lagrange_lr: float = 0.1
    lagrange_momentum: float = 0.1
    nm_tol: float = 0.01
    workers: int = 2
    cache_dir: str | None = CACHE
    # theta of step 2 (METEOR, intent); None: located by step 1's fixed-weight runs
    thresholds: tuple[float, ...] | None = None
    # the task: None, the generated dialogues; set, DailyDialog with the real reward models (the paper scale)
    dialog: DailyDialogConfig | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.thresholds is not None and len(self.thresholds) != len(COMPONENTS):
            raise ValueError(f"thresholds must hold one value per component {COMPONENTS}, got {self.thresholds}")
        for name in ("iterations", "eval_every", "eval_dialogues", "workers"):
            check_positive_int(name, getattr(self, name))
        if self.iterations % self.eval_every:
            raise ValueError(f"iterations must be a multiple of eval_every, got {self.iterations}, {self.eval_every}")
        if not self.fixed_weights or any(len(w) != len(COMPONENTS) for w in self.fixed_weights):
            raise ValueError(f"fixed_weights must hold (METEOR, intent) pairs, got {self.fixed_weights}")
        check_positive("classifier_l2", self.classifier_l2)
        check_positive("nm_tol", self.nm_tol)


PAPER_THRESHOLDS = (0.238, 0.44)  # (METEOR, intent): the official dialog config's constraint thresholds


def paper_config() -> FullConfig:
    """The official dialog config: GPT-2 on DailyDialog (:class:`DailyDialogConfig`), thresholds METEOR 0.238 and
    intent 0.44, lr 1e-6, n_steps 256 x 10 envs (~256 episodes), batch 64 tokens (~8 episodes), 5 epochs, KL 0.2,
    top-k 20, 20 new tokens, 100 iterations, evaluation every 5 (``pretrain`` is unused: the base is GPT-2)."""
    return FullConfig(
        ppo=PPOConfig(
            lr=1e-6, batch_episodes=256, minibatch_episodes=8, epochs=5, kl_coef=0.2, max_new_tokens=20, top_k=20
        ),
        iterations=100,
        eval_every=5,
        workers=1,
        thresholds=PAPER_THRESHOLDS,
        dialog=DailyDialogConfig(),
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    return (
        Claim("Mixed advantages are finite", Compare("smoke/advantages_finite", ">=", 1.0)),
        Claim("The KL to the initial policy is logged and positive", Compare("smoke/kl", ">", 0.0)),
        *(
            Claim(f"A scripted return stream moves a {k} multiplier the documented way", Compare(m, ">=", 1.0))
            for k, m in (
                ("equality", "scripted/equality_direction_ok"),
                ("lower-bound", "scripted/lower_direction_ok"),
                ("upper-bound", "scripted/upper_direction_ok"),
            )
        ),
    )


RESOLUTION = 0.005  # E: a mean over 3 evaluations x eval_dialogues sampled replies; below this is noise
OVEROPT_MARGIN = 0.05  # "E below its own peak by a stated margin"
NM_DELTA = 0.02


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Constrained > best fixed-weight on final E and closer to theta; NM-PPO no worse; fixed-weight overoptimises.

    All comparisons are paired by seed (same base weights, rollout prompts and evaluation dialogues). Guards:
    step 1 showed overoptimisation (the fixed-weight run whose peak located theta fell from it by more than the
    margin: else there is nothing to fix) and the multipliers moved."""
    overopt = Compare("fixed_peak/peak_drop", ">", OVEROPT_MARGIN)
    above_base = Compare("fixed_best/max_E", ">", "base/E")
    return (
        Claim(
            "Constrained PPO ('kl', equality at the proxy points) ends with a higher E than the best fixed-weight PPO",
            Better("mu_kl/final_E", "fixed_best/final_E", resolution=RESOLUTION),
            guards=(overopt, above_base),
            mechanism=(Compare("mu_kl/lambda_moved", ">", 0.05),),
        ),
        Claim(
            "Constrained PPO ('all', upper bounds at the proxy points) ends with a higher E than the best fixed-weight",
            Better("mu_all/final_E", "fixed_best/final_E", resolution=RESOLUTION),
            guards=(overopt, above_base),
            mechanism=(Compare("mu_all/lambda_moved", ">", 0.05),),
        ),
        Claim(
            "Constrained PPO ('kl') keeps the components closer to theta: sum_i |V_i - theta_i| below fixed-weight's",
            Better("mu_kl/gap", "fixed_best/gap", better="lower", resolution=RESOLUTION),
            guards=(overopt,),
            mechanism=(Compare("mu_kl/lambda_moved", ">", 0.05),),
        ),
        Claim(
            f"NM-PPO (thresholds found within one run) ends with E >= the best fixed-weight's (delta {NM_DELTA})",
            NoWorse("nm/final_E", "fixed_best/final_E", delta=NM_DELTA, resolution=RESOLUTION),
            guards=(overopt,),
            mechanism=(Compare("nm/evaluations", ">=", 3.0),),
        ),
        Claim(
            f"Fixed-weight PPO overoptimises: the run that located theta ends with E below its own peak by > "
            f"{OVEROPT_MARGIN} while its proxy (sum of components) still rises",
            Better("fixed_peak/max_E", "fixed_peak/final_E", margin=OVEROPT_MARGIN, resolution=RESOLUTION),
            guards=(Compare("fixed_peak/proxy_rise", ">", 0.0), Compare("fixed_peak/max_E", ">", "base/E")),
        ),
    )


BENCHMARK = Benchmark(
    slug="constrained-rlhf",
    title="Confronting Reward Model Overoptimization with Constrained RLHF (ICLR 2024)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("smoke/advantages_finite", better="higher", tolerance=0.0),
        MetricSpec("scripted/*", better="higher", tolerance=0.0),
        MetricSpec("*/final_E", better="higher", tolerance=0.05),
        MetricSpec("smoke/E", better="higher", tolerance=0.1),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs=(
        "a GPU; GPT-2, the RoBERTa intent classifier and DailyDialog (hub, the `paper` extra's datasets, or its "
        "text files) and nltk's wordnet / punkt_tab data, downloaded when missing"
    ),
)
