"""The paperzoo benchmark of reward-design: a declaration (configs, claims, metric specs); runners in
``experiment.py``, figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): EXPRD (B = 1) on a chain with n1 = 10 keeps pi* optimal (value iteration on the designed
  reward) and is zero outside S_active; ExploRS trains REINFORCE for 200 episodes, phi moves, bonuses <= B.
- full (minutes): the thesis' three experiments at CPU scale, 5 seeds: four-room Q-learning (Orig, PBRS,
  EXPRD B = 1/3/5, 8k episodes), four-room REINFORCE (Orig, invariance, EXPRD, adaptive K = 100, 20k episodes),
  chain with a distractor, REINFORCE (Orig, ExploB, SelfRS, ExploRS, 10k episodes).
- paper: the official episode counts (50k for the chain) on the same environments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from paperzoo.reward_design import experiment, perf, plots
from paperzoo.reward_design.design import H_SET
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

EXPERIMENTS = ("rooms_q", "rooms_pg", "chain")
_HALF = 0.5  # a comparison counts only if the better arm ends above half of pi*'s return


@dataclass(frozen=True)
class SmokeConfig:
    """EXPRD (B = 1) on a short chain and 200 ExploRS episodes."""

    chain_n1: int = 10
    chain_n2: int = 10
    chain_gamma: float = 0.99
    chain_eta: float = 0.1
    R_max: float = 1.0
    B: int = 1
    episodes: int = 200
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("chain_n1", "chain_n2", "B", "episodes"):
            check_positive_int(name, getattr(self, name))
        check_positive("R_max", self.R_max)
        check_positive("chain_eta", self.chain_eta)


@dataclass(frozen=True)
class FullConfig:
    """The three experiments; defaults from the official code where it has one (README, Deviations)."""

    experiments: tuple[str, ...] = EXPERIMENTS
    chain_slip: float = 0.05  # official randomMoveProb of the chain
    R_max: float = 10.0  # official R_max of both four-room codes: the goal's reward and the designs' bound
    H_set: tuple[int, ...] = H_SET
    rooms_size: int = 7  # official gridsizefull
    rooms_gamma: float = 0.95  # official gamma (both four-room codes)
    B_values: tuple[int, ...] = (1, 3, 5)
    q_slip: float = 0.1  # EXPRD's randomMoveProb
    q_horizon: int = 50  # EXPRD's Q-learning horizon
    q_episodes: int = 8000  # official 2**15
    q_alpha: float = 0.5  # EXPRD's Q-learning alpha
    q_epsilon: float = 0.1  # EXPRD's Q-learning epsilon
    pg_slip: float = 0.05  # AAMAS randomMoveProb
    pg_horizon: int = 30  # AAMAS H
    pg_episodes: int = 20_000  # official 200k
    pg_eta: float = 0.01  # AAMAS eta_actor
    K: int = 100  # the adaptive design's period in episodes (the AAMAS code: every teacher update, 5)
    teacher_epsilon: float = 0.4  # AAMAS epsilon_greedy of the teacher's occupancy
    chain_n1: int = 20  # official n_1
    chain_n2: int = 40  # official n_2
    chain_subgoal: float = 0.01
    chain_gamma: float = 0.99
    chain_eta: float = 0.1  # official eta_actor
    chain_episodes: int = 10_000
    eval_every: int = 50
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.experiments or any(e not in EXPERIMENTS for e in self.experiments):
            raise ValueError(f"experiments must be a non-empty subset of {EXPERIMENTS}, got {self.experiments}")
        for name in ("chain_slip", "q_slip", "pg_slip", "teacher_epsilon"):
            check_range(name, getattr(self, name), 0.0, 1.0)
        check_positive("R_max", self.R_max)
        for name in ("rooms_size", "q_horizon", "pg_horizon", "q_episodes", "pg_episodes", "K", "chain_n1",
                     "chain_n2", "chain_episodes", "eval_every"):  # fmt: skip
            check_positive_int(name, getattr(self, name))
        for name in ("rooms_gamma", "chain_gamma"):
            check_range(name, getattr(self, name), 0.0, 1.0, high_inclusive=False)
        n_rooms = self.rooms_size**2 + 1
        for B in self.B_values:
            check_positive_int("B", B)
            if B > n_rooms:
                raise ValueError(f"B must be an integer in [1, {n_rooms}] (|S|), got {B!r}")
        if not self.H_set:
            raise ValueError("H_set must hold positive integers, got an empty tuple")
        for h in self.H_set:
            check_positive_int("H_set", h)


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The mechanism checks of the smoke run."""
    return (
        Claim("The EXPRD reward keeps pi* optimal (value iteration)", Compare("exprd/pi_star_kept", ">=", 1.0)),
        Claim("The EXPRD reward is zero outside S_active", Compare("exprd/zero_outside_active", ">=", 1.0)),
        Claim("|R| <= R_max", Compare("exprd/max_abs_reward", "<=", config.R_max + 1e-6)),
        Claim("ExploRS's phi moves", Compare("explors/phi_abs_mean", ">", 0.0)),
        Claim("ExploRS's bonus stays <= B", Compare("explors/max_bonus", "<=", 1.0)),
    )


def _above_half(arm: str) -> Compare:
    return Compare(f"{arm}/final", ">", _HALF)


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """The thesis' comparisons on the normalised area under the return curve (paired by seed)."""
    claims: list[Claim] = []
    if "rooms_q" in config.experiments:
        for B in config.B_values:
            arm = f"q_exprd_b{B}"
            claims.append(
                Claim(
                    f"EXPRD (B = {B}) speeds up Q-learning over the original reward (AUC)",
                    Better(f"{arm}/auc", "q_orig/auc"),
                    guards=(_above_half(arm),),
                )
            )
        lo, hi = min(config.B_values), max(config.B_values)
        claims += [
            Claim(
                f"A larger budget helps: EXPRD B = {hi} >= B = {lo} (AUC)",
                NoWorse(f"q_exprd_b{hi}/auc", f"q_exprd_b{lo}/auc"),
                guards=(_above_half(f"q_exprd_b{hi}"),),
            ),
            Claim(
                f"EXPRD (B = {hi}) nears dense PBRS: within 0.05 of its AUC",
                NoWorse(f"q_exprd_b{hi}/auc", "q_pbrs/auc", delta=0.05),
                guards=(_above_half(f"q_exprd_b{hi}"),),
            ),
        ]
    if "rooms_pg" in config.experiments:
        acted = (Compare("pg_adaptive/reward_change", ">", 0.0),)
        claims += [
            Claim(
                "The adaptive learner-aware design is no worse than EXPRD for REINFORCE (AUC)",
                NoWorse("pg_adaptive/auc", "pg_exprd/auc"),
                guards=(_above_half("pg_adaptive"),),
                mechanism=acted,
            ),
            Claim(
                "The adaptive design beats the invariance-only design for REINFORCE (AUC)",
                Better("pg_adaptive/auc", "pg_invariance/auc"),
                guards=(_above_half("pg_adaptive"),),
                mechanism=acted,
            ),
        ]
    if "chain" in config.experiments:
        phi_moved = (Compare("chain_explors/phi_abs_mean", ">", 0.0),)
        for other, text in (
            ("explob", "the count bonus alone (ExploB)"),
            ("selfrs", "the learned shaping alone (SelfRS)"),
            ("orig", "the original reward"),
        ):
            claims.append(
                Claim(
                    f"ExploRS speeds up REINFORCE on the chain over {text} (AUC)",
                    Better("chain_explors/auc", f"chain_{other}/auc"),
                    guards=(_above_half("chain_explors"),),
                    mechanism=phi_moved,
                )
            )
    return tuple(claims)


def paper_config() -> FullConfig:
    """The official episode counts (EXPRD Q-learning 2**15, AAMAS REINFORCE 200k, ExploRS chain 50k; evaluation
    every 100 episodes) and the AAMAS re-design period (every teacher update, 5 episodes)."""
    return replace(
        FullConfig(), q_episodes=2**15, pg_episodes=200_000, chain_episodes=50_000, K=5, eval_every=100, device="cpu"
    )


BENCHMARK = Benchmark(
    slug="reward-design",
    title="Reward Design for Reinforcement Learning Agents (EXPRD, adaptive design, ExploRS)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2, 3, 4), "paper": tuple(range(10))},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("exprd/pi_star_kept", better="higher", tolerance=0.0),
        MetricSpec("exprd/zero_outside_active", better="higher", tolerance=0.0),
        MetricSpec("explors/max_bonus", better="lower", tolerance=1e-9),
        MetricSpec("*/auc", better="higher", tolerance=0.05),
        MetricSpec("*/final", better="higher", tolerance=0.1),
    ),
    plot={"full": plots.plot_full, "paper": plots.plot_full},
    perf=perf.perf,
    paper_needs="about 10x the full scale's CPU time (50k episodes per arm, 10 seeds); no accelerator or data",
)
