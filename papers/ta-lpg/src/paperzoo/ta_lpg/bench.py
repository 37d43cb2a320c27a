"""The paperzoo benchmark of TA-LPG: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): one OpenES generation of TA-LPG (P = 4 antithetic pairs, whole lifetimes of 5-10 updates on
  4x4 grid-worlds, GRU 16): both members of every pair share level, lifetime and keys; fitness is finite; with
  sigma -> 0 the pairs' fitnesses are identical (common random numbers); the ES update equals the hand-computed
  1/(2P sigma) sum_i (w_i^+ - w_i^-) eps_i.
- full (minutes, 2 CPU cores): LPG-ES against TA-LPG-ES (same seeds, levels, lifetimes, agent keys), "small" levels
  with lifetimes log-U[10, 100], P = 16 pairs x 16 workers x 20 steps, GRU 32; meta-test of the final ES mean on 32
  fixed held-out levels of the training distribution with headroom (the random policy reaches < 0.7 of the
  optimum) at lifetimes {10, 30, 100, 300} (300 is outside meta-training), return / optimal return;
  the uniform random policy as reference; TA-LPG's policy entropy against n/N (the learned schedule). 3 seeds.
- paper: the full experiment as the official TA-LPG run (``--use_es --lifetime_conditioning``, "all_vrandlife",
  512 pairs x 64 workers, GRU 256) and TA-LPO/LPO on MinAtar SpaceInvaders, for accelerators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_positive_int
from paperzoo.ta_lpg import experiment, perf, plots
from paperzoo.ta_lpg.es import ESConfig
from paperzoo.ta_lpg.experiment import ARMS
from paperzoo.ta_lpg.lpo import LPOESConfig, PPOConfig
from paperzoo.ta_lpg.meta_es import ESTrainConfig


@dataclass(frozen=True)
class SmokeConfig:
    """One TA-LPG generation on tiny levels."""

    train: ESTrainConfig = field(
        default_factory=lambda: ESTrainConfig(
            conditioning="relative", distribution="smoke", generations=1, n_pairs=4, num_workers=8, gru_width=16
        )
    )
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.train.conditioning is None:
            raise ValueError("train.conditioning must be set for the smoke run (it checks TA-LPG)")


@dataclass(frozen=True)
class FullConfig:
    """LPG-ES vs TA-LPG-ES on "small" levels with lifetimes log-U[10, 100], meta-tested at 4 lifetimes."""

    train: ESTrainConfig = field(
        default_factory=lambda: ESTrainConfig(
            distribution="small_vrandlife",
            generations=60,
            n_pairs=16,
            num_workers=16,
            gru_width=32,
            checkpoints=1,
            # The official TA-LPG command's rate (lr 1e-2, sigma 0.1); 60 generations instead of its 2500.
            es=ESConfig(lr=1e-2),
            lifetime_buckets=4,  # 4 chunks of 4 pairs sorted by lifetime: fewer masked updates (README, Speed)
        )
    )
    arms: tuple[str, ...] = tuple(ARMS)
    test_lifetimes: tuple[int, ...] = (10, 30, 100, 300)
    test_levels: int = 32  # held-out levels with headroom (random policy < 0.7 of the optimum): evaluate.py
    test_agents: int = 2
    test_eval_workers: int = 16
    lpo: LPOESConfig | None = None  # TA-LPO vs LPO vs PPO (not run at CPU scale: see README)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {tuple(ARMS)}, got {self.arms}")
        if not self.test_lifetimes:
            raise ValueError("test_lifetimes must not be empty")
        for lifetime in self.test_lifetimes:
            check_positive_int("test_lifetimes", lifetime)
        for name in ("test_levels", "test_agents", "test_eval_workers"):
            check_positive_int(name, getattr(self, name))


def paper_config() -> FullConfig:
    """The official TA-LPG defaults (``experiments/parse_args.py`` with ``--use_es --lifetime_conditioning
    --num_mini_batches 8``, env mode "all_vrandlife"), and TA-LPO on MinAtar SpaceInvaders (PureJaxRL MinAtar
    PPO sizes: 64 envs x 128 steps, 1e7 steps; ES population 64)."""
    return FullConfig(
        train=ESTrainConfig(checkpoints=10, lifetime_buckets=8),  # official --num_mini_batches 8
        test_levels=32,
        test_agents=8,
        test_eval_workers=64,
        lpo=LPOESConfig(
            ppo=PPOConfig(
                env_name="SpaceInvaders-MinAtar",
                objective="ta_lpo",
                total_steps=10_000_000,
                num_envs=64,
                num_steps=128,
                num_minibatches=8,
                lr=5e-3,
                eval_envs=64,
                eval_steps=1000,
            ),
            generations=1024,
            n_pairs=32,
            es=ESConfig(lr=1e-2, sigma=0.03),
        ),
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The mechanism checks of the smoke run (no threshold depends on the config)."""
    return (
        Claim(
            "Antithetic pairs share level, lifetime and every PRNG key (common random numbers)",
            Compare("ta_lpg/pairs_share_tasks", ">=", 1.0),
        ),
        Claim(
            "With sigma -> 0 the two members of each pair reach identical fitness",
            Compare("ta_lpg/sigma0_pair_gap", "<=", 0.0),
            guards=(Compare("ta_lpg/fitness_finite", ">=", 1.0),),
        ),
        Claim(
            "The ES gradient equals 1/(2 P sigma) sum_i (w_i^+ - w_i^-) eps_i computed by hand",
            Compare("ta_lpg/es_grad_rel_error", "<=", 1e-5),
            guards=(Compare("ta_lpg/es_step_max", ">", 0.0),),
        ),
    )


_ABOVE_RANDOM = 0.05  # non-degeneracy: 5 points of the optimal return above the uniform random policy


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """TA-LPG >= LPG averaged over the config's test lifetimes, and at its longest test lifetime when that lies
    beyond the meta-training lifetimes; none unless both arms ran.

    Paired by seed: both arms' ES runs use the seed's levels, lifetimes and agent keys, and the meta-test uses
    one key for both arms on the same held-out levels. The scores declare no resolution: means over levels of
    return / optimal return, whose grain differs per level. The above-random guards stay thresholds on the means.
    """
    if set(config.arms) != set(ARMS):
        return ()
    guards = (
        Compare("lpg/normalised_mean", ">", "random/normalised", margin=_ABOVE_RANDOM),
        Compare("ta_lpg/normalised_mean", ">", "random/normalised", margin=_ABOVE_RANDOM),
    )
    lifetimes = ", ".join(str(n) for n in config.test_lifetimes)
    claims = [
        Claim(
            f"TA-LPG >= LPG on held-out levels, averaged over test lifetimes {{{lifetimes}}}",
            NoWorse("ta_lpg/normalised_mean", "lpg/normalised_mean"),
            guards=guards,
        )
    ]
    longest = max(config.test_lifetimes)
    if longest > config.train.dist.max_lifetime:
        claims.append(
            Claim(
                f"TA-LPG >= LPG at the out-of-range lifetime N = {longest}",
                NoWorse(f"ta_lpg/normalised_L{longest}", f"lpg/normalised_L{longest}"),
                guards=guards,
            )
        )
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="ta-lpg",
    title="Discovering Temporally-Aware Reinforcement Learning Algorithms (ICLR 2024)",
    framework="jax",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    # The paper scale runs the full experiment at the official sizes (with TA-LPO vs LPO vs PPO: config.lpo).
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("ta_lpg/pairs_share_tasks", better="higher", tolerance=0.0),
        MetricSpec("ta_lpg/fitness_finite", better="higher", tolerance=0.0),
        MetricSpec("ta_lpg/sigma0_pair_gap", better="lower", tolerance=0.0),
        MetricSpec("ta_lpg/es_grad_rel_error", better="lower", tolerance=1e-5),
        MetricSpec("ta_lpg/fitness_mean", better="higher", tolerance=0.05),
        MetricSpec("*/normalised_mean", better="higher", tolerance=0.1),
    ),
    plot={"full": plots.plot_full, "paper": plots.plot_full},
    perf=perf.perf,
    paper_needs="an accelerator (1024 candidates x whole lifetimes of up to 250 updates x 64 workers, GRU 256)",
)
