"""The paperzoo benchmark of constrained-rlhf: a declaration (configs, claims, metric specs); runners in
``experiment.py``, figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): a tiny pretrained GPT-2, 20 PPO iterations with one constraint (task METEOR, intent held by a
  sigmoid multiplier); advantages finite, KL logged, scripted return streams move each kind of multiplier the
  documented way.
- full (minutes, 2 cores): step 1, three fixed-weight PPO runs locate the proxy points theta; step 2 at equal
  environment steps: best fixed-weight PPO, PPO-SAT, constrained "kl" (equality at theta), constrained "all"
  (upper bounds at theta), NM-PPO; 3 seeds.
- paper: the official dialog hyperparameters (GPT-2 small from config, lr 1e-6, KL 0.2, 100 iterations) on the
  generated dialogues (DailyDialog and the real METEOR / intent models are not wired in: see the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.constrained_rlhf import experiment, perf, plots
from paperzoo.constrained_rlhf.dialogue import ModelConfig, PretrainConfig
from paperzoo.constrained_rlhf.ppo import COMPONENTS, PPOConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

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
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("iterations", "eval_every", "eval_dialogues", "workers"):
            check_positive_int(name, getattr(self, name))
        if self.iterations % self.eval_every:
            raise ValueError(f"iterations must be a multiple of eval_every, got {self.iterations}, {self.eval_every}")
        if not self.fixed_weights or any(len(w) != len(COMPONENTS) for w in self.fixed_weights):
            raise ValueError(f"fixed_weights must hold (METEOR, intent) pairs, got {self.fixed_weights}")
        check_positive("classifier_l2", self.classifier_l2)
        check_positive("nm_tol", self.nm_tol)


def paper_config() -> FullConfig:
    """The official dialog config: GPT-2 small (from config), lr 1e-6, n_steps 256 x 10 envs (~256 episodes),
    batch 64 tokens (~8 episodes), 5 epochs, KL 0.2, 20 new tokens, 100 iterations, evaluation every 5."""
    return FullConfig(
        pretrain=PretrainConfig(model=ModelConfig(n_layer=12, n_embd=768, n_head=12, n_positions=64), p_long=0.1),
        ppo=PPOConfig(lr=1e-6, batch_episodes=256, minibatch_episodes=8, epochs=5, kl_coef=0.2, max_new_tokens=20),
        iterations=100,
        eval_every=5,
        workers=1,
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
    paper_needs="a GPU (GPT-2 small, 100 iterations x 256 episodes per arm)",
)
