"""The paperzoo benchmark of RAMario (Reptile meta-RL on Super Mario Bros), on the real game at every scale.

A declaration: configs, claims, metric specs, ``BENCHMARK``; the runners live in ``experiment.py``, the figures
in ``plots.py``, the speed figures in ``perf.py``.

- smoke (seconds after TensorFlow's import): 2 Reptile outer iterations (k = 2 inner REINFORCE updates, episodes
  of at most 32 agent steps) on 1-1; checks that theta moves by exactly epsilon_j (phi - theta), that k = 0 leaves
  theta unchanged, and a 2-update adaptation on the held-out 1-2.
- full (CPU minutes): Reptile meta-trained on 1-1, 1-3, 1-4, 2-1; few-shot on the held-out 1-2 (k updates) from
  Reptile's theta and from the random initialisation it started from; PPO and DQN trained from scratch on 1-2
  for the same number of environment steps as Reptile used in total (meta-training + adaptation); Reptile's
  supervised sine sanity check as a metric; 3 seeds.
- paper: the paper's setting as a config (full-length episodes, long meta-training), for a GPU machine; run by
  the full scale's runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.ramario import experiment, perf, plots
from paperzoo.ramario.config import DQNConfig, InnerConfig, PPOConfig
from paperzoo.ramario.envs import HELD_OUT_LEVEL, TRAIN_LEVELS
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range

Level = tuple[int, int]


def _check_levels(levels: tuple[Level, ...], held_out: Level) -> None:
    if not levels or any(len(lv) != 2 for lv in levels):
        raise ValueError(f"train_levels must be a non-empty tuple of (world, stage), got {levels!r}")
    if held_out in levels:
        raise ValueError(f"held_out {held_out} must not be a training level")


@dataclass(frozen=True)
class SmokeConfig:
    """Two Reptile outer iterations on 1-1 and a 2-update adaptation on 1-2, with short episodes."""

    train_levels: tuple[Level, ...] = ((1, 1),)
    held_out: Level = HELD_OUT_LEVEL
    max_episode_steps: int = 32
    outer_steps: int = 2
    inner: InnerConfig = field(default_factory=lambda: InnerConfig(k=2))
    n_eval: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        for name in ("max_episode_steps", "outer_steps", "n_eval"):
            check_positive_int(name, getattr(self, name))


@dataclass(frozen=True)
class FullConfig:
    """Reptile vs random-init adaptation vs PPO and DQN at equal environment steps, held-out 1-2."""

    train_levels: tuple[Level, ...] = TRAIN_LEVELS
    held_out: Level = HELD_OUT_LEVEL
    max_episode_steps: int = 128
    outer_steps: int = 32
    meta_batch: int = 1
    epsilon0: float = 1.0
    epsilon_final: float = 0.0
    inner: InnerConfig = field(default_factory=InnerConfig)
    n_eval: int = 6
    ppo: PPOConfig = field(default_factory=PPOConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    dqn_eval_epsilon: float = 0.05
    sine_outer_steps: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_levels(self.train_levels, self.held_out)
        for name in ("max_episode_steps", "outer_steps", "meta_batch", "n_eval", "sine_outer_steps"):
            check_positive_int(name, getattr(self, name))
        check_range("epsilon0", self.epsilon0, 0.0, 1.0)
        check_range("epsilon_final", self.epsilon_final, 0.0, 1.0)
        check_range("dqn_eval_epsilon", self.dqn_eval_epsilon, 0.0, 1.0)
        check_non_negative("inner.k", self.inner.k)


def paper_config() -> FullConfig:
    """The paper's setting as far as it is stated: full-length episodes (the game's own end: death, flag or the
    400-tick clock, no step cap), long meta-training ("1M episodes" in the paper; here 100k outer iterations x
    k = 3 episodes = 300k training episodes, then PPO/DQN at the same number of environment steps)."""
    return FullConfig(max_episode_steps=10_000, outer_steps=100_000, n_eval=20, sine_outer_steps=30_000, device="cuda")


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


# "Above chance": the untrained policy (the random init, 0 updates, near-uniform over the 7 actions) is the
# trivial baseline on Mario; an arm that does not beat it has not learned to go further, and a comparison
# between such arms says which one degraded least, not which one learned (guards added after the first full
# run, where every trained arm fell below the untrained policy; see the README).
_CHANCE = "random_init/max_x_0"


def max_x_resolution(config: FullConfig) -> float:
    """The grain of a distance averaged over the config's evaluation episodes: one pixel in one episode."""
    return 1.0 / config.n_eval


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Few-shot Reptile vs random init, vs PPO and vs DQN on the held-out level, each guarded by the untrained
    policy; the sine sanity check (one-sample against its 0.5 threshold).

    Paired by seed: every arm's network starts from the seed's theta_0 and is evaluated on the same held-out
    level (the two inits on the same adaptation and evaluation draws). Distances resolve to one pixel in one
    evaluation episode (``1/n_eval``).
    """
    level = "-".join(map(str, config.held_out))
    res = max_x_resolution(config)
    return (
        Claim(
            f"Reptile's initialisation adapts faster than a random one on held-out {level} (max x after k updates)",
            Better("reptile/max_x_k", "random_init/max_x_k", resolution=res),
            guards=(Compare("reptile/max_x_k", ">", _CHANCE),),
        ),
        Claim(
            f"RAMario (Reptile, few-shot) reaches at least PPO's distance on {level} at equal environment steps",
            NoWorse("reptile/max_x_k", "ppo/max_x", resolution=res),
            guards=(Compare("reptile/max_x_k", ">", _CHANCE), Compare("ppo/max_x", ">", _CHANCE)),
        ),
        Claim(
            f"RAMario (Reptile, few-shot) reaches at least DQN's distance on {level} at equal environment steps",
            NoWorse("reptile/max_x_k", "dqn/max_x", resolution=res),
            guards=(Compare("reptile/max_x_k", ">", _CHANCE), Compare("dqn/max_x", ">", _CHANCE)),
        ),
        Claim(
            "Sine sanity check: Reptile's init adapts to a far lower MSE than the random init (ratio < 0.5)",
            Better("sine/mse_ratio", 0.5, better="lower"),
            guards=(Compare("sine/random_init_mse", ">", 1.0),),
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
        MetricSpec("*/max_x*", better="higher", tolerance=50.0, resolution=max_x_resolution(FullConfig())),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="a GPU and days of emulator time (100k Reptile outer iterations on full-length Mario episodes)",
)
