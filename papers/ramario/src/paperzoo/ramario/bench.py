"""The paperzoo benchmark of RAMario (Reptile meta-RL on Super Mario Bros), on the real game at every scale.

A declaration: configs, claims, metric specs, ``BENCHMARK``; the runners live in ``experiment.py``, the figures
in ``plots.py``, the speed figures in ``perf.py``.

- smoke (seconds after TensorFlow's import): 2 Reptile outer iterations (k = 2 inner REINFORCE updates) on two
  mini-levels of 1-1; checks that theta moves by exactly epsilon_j (phi - theta), that k = 0 leaves theta
  unchanged, and a 2-update adaptation on a held-out mini-level of 1-2.
- full (CPU minutes): Mario mini-levels (``envs/minilevels.py``: start states saved from the emulator just before
  the obstacles of a level, 32-step episodes, x-progress as reward). Reptile meta-trained on the mini-levels of
  1-1, 1-3, 1-4, 2-1; few-shot (k updates) on the held-out mini-levels of 1-2 from Reptile's theta and from the
  random initialisation it started from; PPO and DQN trained from scratch on the held-out mini-levels for the same
  number of environment steps as Reptile used in total (meta-training + adaptation); Reptile's supervised sine
  check as a guard; 3 seeds.
- paper: the paper's setting (whole levels from their start, full-length episodes, long meta-training), for a GPU
  machine; the same runner as the full scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.ramario import experiment, perf, plots
from paperzoo.ramario.config import DQNConfig, InnerConfig, PPOConfig
from paperzoo.ramario.envs import HELD_OUT_LEVEL, TRAIN_LEVELS
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

Level = tuple[int, int]


def _check_levels(levels: tuple[Level, ...], held_out: Level) -> None:
    if not levels or any(len(lv) != 2 for lv in levels):
        raise ValueError(f"train_levels must be a non-empty tuple of (world, stage), got {levels!r}")
    if held_out in levels:
        raise ValueError(f"held_out {held_out} must not be a training level")


def _check_tasks(mini_levels: int | None, held_out_mini_levels: int, inner: InnerConfig) -> None:
    if mini_levels is not None:
        check_positive_int("mini_levels", mini_levels)
    check_positive_int("held_out_mini_levels", held_out_mini_levels)
    smallest = 1 if mini_levels is None else min(mini_levels, held_out_mini_levels)
    if inner.episodes > smallest:
        raise ValueError(f"inner.episodes must be at most the {smallest} environments of a task, got {inner.episodes}")


@dataclass(frozen=True)
class SmokeConfig:
    """Two Reptile outer iterations on two mini-levels of 1-1 and a 2-update adaptation on one of 1-2."""

    train_levels: tuple[Level, ...] = ((1, 1),)
    held_out: Level = HELD_OUT_LEVEL
    mini_levels: int | None = 2
    held_out_mini_levels: int = 1
    max_episode_steps: int = 16
    outer_steps: int = 2
    inner: InnerConfig = field(default_factory=lambda: InnerConfig(k=2))
    eval_rounds: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        _check_tasks(self.mini_levels, self.held_out_mini_levels, self.inner)
        for name in ("max_episode_steps", "outer_steps", "eval_rounds"):
            check_positive_int(name, getattr(self, name))


@dataclass(frozen=True)
class FullConfig:
    """Reptile vs random-init adaptation vs PPO and DQN at equal environment steps, on held-out 1-2.

    ``mini_levels``: the first n mini-levels of each training level are its task (None: the whole level from its
    start, one environment: the paper's setting); the held-out task is the first ``held_out_mini_levels`` of 1-2
    (ignored when ``mini_levels`` is None). Episodes last at most ``max_episode_steps`` agent steps. Evaluations
    play ``eval_rounds`` episodes on every held-out environment.
    """

    train_levels: tuple[Level, ...] = TRAIN_LEVELS
    held_out: Level = HELD_OUT_LEVEL
    mini_levels: int | None = 4
    held_out_mini_levels: int = 6
    max_episode_steps: int = 32
    outer_steps: int = 24
    meta_batch: int = 1
    epsilon0: float = 1.0
    epsilon_final: float = 0.0
    inner: InnerConfig = field(default_factory=lambda: InnerConfig(k=5, episodes=2))
    eval_rounds: int = 5
    ppo: PPOConfig = field(default_factory=PPOConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    dqn_eval_epsilon: float = 0.05
    sine_outer_steps: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        _check_tasks(self.mini_levels, self.held_out_mini_levels, self.inner)
        for name in ("max_episode_steps", "outer_steps", "meta_batch", "eval_rounds", "sine_outer_steps"):
            check_positive_int(name, getattr(self, name))
        check_range("epsilon0", self.epsilon0, 0.0, 1.0)
        check_range("epsilon_final", self.epsilon_final, 0.0, 1.0)
        check_range("dqn_eval_epsilon", self.dqn_eval_epsilon, 0.0, 1.0)
        check_non_negative("inner.k", self.inner.k)

    @property
    def eval_episodes(self) -> int:
        """Episodes per evaluation: ``eval_rounds`` on each held-out environment."""
        return self.eval_rounds * (1 if self.mini_levels is None else self.held_out_mini_levels)


def paper_config() -> FullConfig:
    """The paper's setting as far as it is stated: whole levels from their start, full-length episodes (the game's
    own end: death, flag or the 400-tick clock, no step cap), long meta-training ("1M episodes" in the paper; here
    100k outer iterations x k = 3 episodes = 300k training episodes, then PPO/DQN at the same number of environment
    steps)."""
    return FullConfig(
        mini_levels=None,
        max_episode_steps=10_000,
        outer_steps=100_000,
        inner=InnerConfig(k=3),
        eval_rounds=20,
        sine_outer_steps=30_000,
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """Reptile's update rule on the real game (float32 round-off allowed: 1e-6), and k = 0 as a fixed point."""
    return (
        Claim(
            "Reptile's outer step moves theta by exactly epsilon_j (phi - theta)",
            Compare("reptile/outer_step_error", "<=", 1e-6),
            guards=(Compare("reptile/theta_change", ">", 0.0),),
        ),
        Claim(
            "With k = 0 inner updates, the outer step leaves theta unchanged",
            Compare("reptile/k0_theta_change", "<=", 0.0),
        ),
    )


# Guards of the full-scale claims.
# - Some arm learned: the best arm (any of them, before or after adaptation) goes at least one 16-px tile further
#   than the untrained policy (the random init, 0 updates: near-uniform over the 7 actions). If no arm does, every
#   comparison is between arms that learned nothing, and the protocol cannot answer the claim (issue 22: at 6.6k
#   steps on whole levels no arm did, and the verdicts were decided by noise).
# - Reptile meta-learns: on Nichol et al.'s sine regression, Reptile's init adapts to less than half the random
#   init's MSE (the textbook check that the outer loop is Reptile, on a task where it is known to work).
TILE = 16.0
_UNTRAINED = "random_init/progress_0"
SOME_ARM_LEARNED = Compare(Max("*/progress*"), ">", _UNTRAINED, margin=TILE)
SINE_CHECK = Compare("sine/mse_ratio", "<", 0.5)


def progress_resolution(config: FullConfig) -> float:
    """The grain of a progress averaged over the config's evaluation episodes: one pixel in one episode."""
    return 1.0 / config.eval_episodes


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Few-shot Reptile vs random init, vs PPO and vs DQN on the held-out task, paired over seeds.

    Paired: every network starts from the seed's theta_0 (same conv kernel and head seeds) and every arm is
    evaluated on the same held-out environments (the two inits also on the same adaptation draws). Progress
    resolves to one pixel in one evaluation episode (``1 / eval_episodes``). Guards: some arm learned, Reptile
    passes the sine check; mechanism of the few-shot claim: meta-training moved theta.
    """
    level = "-".join(map(str, config.held_out))
    where = f"held-out {level}" if config.mini_levels is None else f"held-out mini-levels of {level}"
    res = progress_resolution(config)
    guards = (SOME_ARM_LEARNED, SINE_CHECK)
    return (
        Claim(
            f"Reptile's initialisation adapts better than a random one on {where} (progress after k updates)",
            Better("reptile/progress_k", "random_init/progress_k", resolution=res),
            guards=guards,
            mechanism=(Compare("reptile/theta_distance", ">", 0.0),),
        ),
        Claim(
            f"RAMario (Reptile, few-shot) progresses at least as far as PPO on {where} at equal environment steps",
            NoWorse("reptile/progress_k", "ppo/progress", resolution=res),
            guards=guards,
        ),
        Claim(
            f"RAMario (Reptile, few-shot) progresses at least as far as DQN on {where} at equal environment steps",
            NoWorse("reptile/progress_k", "dqn/progress", resolution=res),
            guards=guards,
        ),
    )


BENCHMARK = Benchmark(
    slug="ramario",
    title="RAMario: Experimental Approach to Reptile Algorithm -- Reinforcement Learning for Mario",
    framework="tensorflow",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("reptile/outer_step_error", better="lower", tolerance=1e-6),
        MetricSpec("reptile/k0_theta_change", better="lower", tolerance=0.0),
        MetricSpec("reptile/meta_env_steps", better="higher", tolerance=0.0),
        MetricSpec("*/progress*", better="higher", tolerance=30.0, resolution=progress_resolution(FullConfig())),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="a GPU and days of emulator time (100k Reptile outer iterations on full-length Mario episodes)",
)
