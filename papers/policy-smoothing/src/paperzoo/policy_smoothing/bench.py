"""The paperzoo benchmark of policy smoothing: a declaration (configs, claims, metric specs, ``BENCHMARK``).

- smoke (seconds): the CDF certificate on synthetic returns against statsmodels' Clopper-Pearson bounds (B = 0 gives
  sum p_i, an always-T policy gives T (alpha/T)^(1/N), monotone in B); SB3 DQN trains 2k steps on the noisy
  frame-stacked CartPole-v0 and its smoothed policy is certified and attacked within budget.
- full (minutes, 2 CPU cores): SB3 DQN (MLP 64x64, 5-frame stack) on CartPole-v0 for sigma in {0 (undefended),
  0.2, 0.4}, noise in training and test, best checkpoint on model-selection episodes; certificate from N = 2000
  other episodes on the B grid 0..1; the undefended and sigma = 0.2 agents attacked by the adaptive gradient attack
  on a B grid 0..1 (100 episodes per B, worst over thresholds x targets). 1e5 DQN steps per sigma. 3 seeds.
- paper: the official CartPole setting (ReCePS' reuse of the original scripts: MLP 256x256, 5e5 steps, batch 1024,
  lr 1e-4; sigma up to 0.8; N = 10,000; 128 noise samples per attack step of 0.01), run by the full runner;
  ``paper_config("ALE/Pong-v5")`` / ``paper_config("ALE/Freeway-v5")``: the Atari games with the official CNN DQN.

The runners live in ``experiment.py``, the figures in ``plots.py``, the speed figures in ``perf.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.policy_smoothing import experiment, perf, plots
from paperzoo.policy_smoothing.attack import AttackConfig
from paperzoo.policy_smoothing.envs import ATARI_IDS
from paperzoo.policy_smoothing.experiment import arm, tag
from paperzoo.policy_smoothing.policy import DQNConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int, check_range

ENV_IDS = ("CartPole-v0", "CartPole-v1", *ATARI_IDS)  # CartPole: gymnasium's numpy-vectorised CartPoleVectorEnv


def _check_common(config) -> None:
    check_one_of("env_id", config.env_id, ENV_IDS)
    check_positive_int("frames", config.frames)
    check_positive_int("horizon", config.horizon)
    check_range("alpha", config.alpha, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    for name in ("certify_episodes", "attack_episodes"):
        check_positive_int(name, getattr(config, name))
    if not config.attack_budgets:
        raise ValueError("attack_budgets must not be empty")
    for budget in config.attack_budgets:
        check_non_negative("attack_budgets", budget)


# ---------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class SmokeConfig:
    """Synthetic certificate checks, then a short DQN run certified and attacked."""

    sigma: float = 0.2
    synthetic_episodes: int = 1000
    alpha: float = 0.05
    horizon: int = 200
    env_id: str = "CartPole-v0"
    frames: int = 5
    dqn: DQNConfig = field(
        default_factory=lambda: DQNConfig(
            steps=2000, net_arch=(64, 64), learning_rate=2.3e-3, batch_size=64, eval_freq=1000, select_episodes=10
        )
    )
    certify_episodes: int = 100
    attack_budgets: tuple[float, ...] = (0.0, 0.5)
    attack_episodes: int = 4
    attack: AttackConfig = field(default_factory=lambda: AttackConfig(step_size=0.05, samples=8))
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_non_negative("sigma", self.sigma)
        check_positive_int("synthetic_episodes", self.synthetic_episodes)
        _check_common(self)


@dataclass(frozen=True)
class FullConfig:
    """DQN per sigma (0: undefended), certified on the B grid; the attack sigmas attacked on the attack B grid."""

    sigmas: tuple[float, ...] = (0.0, 0.2, 0.4)
    reference_sigma: float = 0.2  # the smoothed agent the attack and the undefended agent are compared with
    attack_sigmas: tuple[float, ...] = (0.0, 0.2)
    env_id: str = "CartPole-v0"
    frames: int = 5
    horizon: int = 200  # T: returns + reward_shift are integers in [0, T]
    reward_shift: float = 0.0
    alpha: float = 0.05
    dqn: DQNConfig = field(
        default_factory=lambda: DQNConfig(
            steps=100_000,
            net_arch=(64, 64),
            learning_rate=2.3e-3,
            batch_size=64,
            n_envs=4,
            eval_freq=2000,
            select_episodes=50,
        )
    )
    certify_episodes: int = 2000
    budgets: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
    attack_budgets: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
    attack_episodes: int = 100
    attack: AttackConfig = field(
        default_factory=lambda: AttackConfig(
            step_size=0.01, samples=32, thresholds=(0.0, 0.05, 0.2), targets=(None, 0, 1)
        )
    )
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_common(self)
        if not self.sigmas or len(set(self.sigmas)) != len(self.sigmas):
            raise ValueError(f"sigmas must be distinct and non-empty, got {self.sigmas}")
        for sigma in self.sigmas:
            check_non_negative("sigma", sigma)
        if self.reference_sigma not in self.sigmas or self.reference_sigma <= 0:
            raise ValueError(f"reference_sigma must be one of the sigmas > 0, got {self.reference_sigma}")
        for sigma in self.attack_sigmas:
            if sigma not in self.sigmas:
                raise ValueError(f"attack_sigmas must be among the sigmas {self.sigmas}, got {sigma}")
        if not self.budgets or self.budgets[0] != 0.0 or list(self.budgets) != sorted(set(self.budgets)):
            raise ValueError(f"budgets must be increasing from 0, got {self.budgets}")
        for budget in self.attack_budgets:
            if budget not in self.budgets:
                raise ValueError(f"attack_budgets must be on the certificate grid budgets, got {budget}")
        check_positive_int("workers", self.workers)


# The official Atari DQN (ReCePS' Freeway script): SB3's NatureCNN (no hidden MLP), lr 1e-4, buffer 1e4, learning
# from step 1e5, batch 32, one gradient step every 4, target update every 1000, exploration 0.2 to 0.01, 1e7 steps,
# best model on 100 evaluation episodes every 1e5 steps.
ATARI_DQN = DQNConfig(
    steps=10_000_000,
    net_arch=(),
    learning_rate=1e-4,
    buffer_size=10_000,
    learning_starts=100_000,
    batch_size=32,
    train_freq=4,
    gradient_steps=1,
    target_update_interval=1000,
    exploration_fraction=0.2,
    exploration_final_eps=0.01,
    eval_freq=100_000,
    select_episodes=100,
)
# T and the shift of each game's returns: Pong is one round (-1 or +1); Freeway counts crossings in 250 steps
ATARI_RETURNS = {"ALE/Pong-v5": (2, 1.0), "ALE/Freeway-v5": (10, 0.0)}


def paper_config(env_id: str = "CartPole-v0") -> FullConfig:
    """The official setting of ``env_id``, sigma in {0, 0.2, 0.4, 0.6, 0.8}, N = 10,000, alpha = 0.05, the attack
    with step 0.01 and 128 noise samples. CartPole: DQN defaults of ``DQNConfig`` (MLP 256x256, 5e5 steps, batch
    1024, lr 1e-4), 5 frames; Atari (``ALE/Pong-v5`` one round, ``ALE/Freeway-v5``): ``ATARI_DQN``, 4 frames of
    84x84 pixels in [0, 1] (sigma on that scale), 250 steps per episode."""
    check_one_of("env_id", env_id, ENV_IDS)
    atari = env_id in ATARI_IDS
    horizon, shift = ATARI_RETURNS.get(env_id, (200, 0.0))
    return FullConfig(
        env_id=env_id,
        frames=4 if atari else 5,
        horizon=horizon,
        reward_shift=shift,
        sigmas=(0.0, 0.2, 0.4, 0.6, 0.8),
        attack_sigmas=(0.0, 0.2, 0.4, 0.6, 0.8),
        dqn=ATARI_DQN if atari else DQNConfig(),
        certify_episodes=10_000,
        attack_episodes=1000,
        attack=AttackConfig(
            step_size=0.01, samples=128, thresholds=(0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0), targets=(None, 0, 1)
        ),
        workers=2,
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The certificate's limits on synthetic returns, and the attack's budget on a trained agent."""
    return (
        Claim(
            "B = 0 gives sum_i CP_lower(#{R > i}, N, alpha/T) (statsmodels)", Compare("synthetic/b0_error", "<=", 1e-9)
        ),
        Claim(
            "An always-T policy is certified T (alpha/T)^(1/N) at B = 0",
            Compare("synthetic/always_t_error", "<=", 1e-9),
        ),
        Claim("The certificate is non-increasing in B", Compare("synthetic/non_increasing", ">=", 1.0)),
        Claim(
            "The adaptive attack never exceeds its total l2 budget",
            Compare("dqn/attack_within_budget", ">=", 1.0),
            mechanism=(Compare("dqn/attack_spent", ">", 0.0),),
        ),
    )


CLEAN_FLOOR = 150.0  # non-degeneracy: the sigma = 0.2 smoothed agent's clean reward (of T = 200)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """The certificate holds against the attack, larger sigma decays more slowly, the undefended agent collapses.

    Paired by seed: every sigma's DQN starts from the same weights (``derive(seed, "dqn")``) and all arms are
    certified and attacked on the same initial states. Guards: the sigma = 0.2 agent learned (clean >= 150); the
    undefended agent learned; the attack spent budget (mechanism).
    """
    ref, top = arm(config.reference_sigma), max(config.budgets)
    learned = Compare(f"{ref}/clean_reward", ">=", CLEAN_FLOOR)
    claims = [
        Claim(
            f"Non-degeneracy: the clean reward of the sigma = {config.reference_sigma:g} smoothed agent is >= "
            f"{CLEAN_FLOOR:g}",
            Compare(f"{ref}/clean_reward", ">=", CLEAN_FLOOR),
        )
    ]
    if config.reference_sigma in config.attack_sigmas:
        claims.append(
            Claim(
                f"The attacked sigma = {config.reference_sigma:g} smoothed agent's reward is >= its certificate at "
                "every attacked B > 0 (worst minus certificate over B, >= 0; a violation is a bug)",
                NoWorse(f"{ref}/attacked_minus_cert_min", 0.0),
                guards=(learned,),
                mechanism=(Compare(f"{ref}/attack_spent", ">", 0.0),),
            )
        )
    larger = [s for s in config.sigmas if s > config.reference_sigma]
    if larger:
        big = arm(max(larger))
        claims.append(
            Claim(
                f"A larger sigma decays more slowly: R_cert({top:g}) / R_cert(0) is larger at sigma = {max(larger):g} "
                f"than at sigma = {config.reference_sigma:g}",
                Better(f"{big}/cert_ratio", f"{ref}/cert_ratio"),
                guards=(learned, Compare(f"{big}/cert_{tag(0.0)}", ">=", config.horizon / 2)),
            )
        )
    if 0.0 in config.attack_sigmas and 0.0 in config.sigmas:
        claims.append(
            Claim(
                f"The attacked undefended agent falls below the sigma = {config.reference_sigma:g} certificate at some "
                f"B <= {max(config.attack_budgets):g} (max over B of certificate minus attacked reward, > 0)",
                Better(f"sigma0/cert_minus_attacked_max_vs_{ref}", 0.0),
                guards=(learned, Compare("sigma0/clean_reward", ">=", CLEAN_FLOOR)),
                mechanism=(Compare("sigma0/attack_spent", ">", 0.0),),
            )
        )
    return tuple(claims)


_SMOKE, _FULL = SmokeConfig(), FullConfig()

BENCHMARK = Benchmark(
    slug="policy-smoothing",
    title="Policy Smoothing for Provably Robust Reinforcement Learning (ICLR 2022)",
    framework="torch",
    scales={"smoke": _SMOKE, "full": _FULL, "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("synthetic/*_error", better="lower", tolerance=1e-9),
        MetricSpec("synthetic/non_increasing", better="higher", tolerance=0.0),
        MetricSpec("synthetic/cert_b0", better="higher", tolerance=1e-6),
        MetricSpec("dqn/attack_within_budget", better="higher", tolerance=0.0),
        MetricSpec("dqn/clean_reward", better="higher", tolerance=30.0),
        # Rewards are means of integer returns over N (certificate) or attack_episodes episodes.
        MetricSpec("*/clean_reward", better="higher", tolerance=30.0, resolution=1 / _FULL.certify_episodes),
        MetricSpec("*/attacked_*", better="higher", tolerance=40.0, resolution=1 / _FULL.attack_episodes),
        MetricSpec("*/cert_*", better="higher", tolerance=30.0),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="a GPU or many cores and hours (5e5 DQN steps per sigma, N = 10,000 certification episodes, "
    "128-sample attacks)",
)
