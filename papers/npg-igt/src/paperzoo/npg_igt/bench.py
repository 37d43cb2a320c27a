"""The paperzoo benchmark of npg-igt: a declaration (configs, claims, metric specs).

- smoke (seconds): 5-state/2-action tabular MDP, softmax policy: GPOMDP g^, B^u and v_t averaged over 2e4
  trajectories match the exact grad J, grad^2 J u and grad J(theta_t) - grad J(theta_{t-1}) (|z| < 4 over the
  10 coordinates); N-PG-IGT closes > 50 % of the gap J* - J in 500 one-trajectory iterations.
- full (minutes): LQR (state 3, action 2, gamma 0.9, H 50, sigma 0.1; exact J) with N-PG-IGT, N-HARPG, HARPG,
  N-PG, PG(1), PG(10), 10 seeds x 2e4 trajectories; CartPole-v1 with a linear softmax policy, N-PG-IGT,
  N-HARPG, N-PG, PG(1), 5 seeds x 3000 episodes. Equal trajectories per arm; rows of one batch = seeds.
- paper: the same experiments at the paper's budgets (1e5 LQR trajectories, 1e4 CartPole episodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.npg_igt import experiment, perf, plots
from paperzoo.npg_igt.experiment import CARTPOLE_ARMS, LQR_ARMS
from paperzoo.npg_igt.optim import INDEXING
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int


@dataclass(frozen=True)
class Steps:
    """Step sizes per arm (chosen by the sweep in the README, same grid for every arm)."""

    gamma0: float = 0.1  # N-PG-IGT
    gamma0_npg: float = 0.01
    gamma0_harpg: float = 0.05
    lr_harpg: float = 1e-6
    eta_harpg: float = 0.1
    lr_pg1: float = 1e-6
    lr_pg10: float = 3e-6
    indexing: str = "paper"

    def __post_init__(self) -> None:
        for name in ("gamma0", "gamma0_npg", "gamma0_harpg", "lr_harpg", "lr_pg1", "lr_pg10"):
            check_positive(name, getattr(self, name))
        if not 0 < self.eta_harpg <= 1:
            raise ValueError(f"eta_harpg must be in (0, 1], got {self.eta_harpg}")
        check_one_of("indexing", self.indexing, INDEXING)


@dataclass(frozen=True)
class LQRConfig:
    """The LQR experiment (J* by L-BFGS on the exact J over stationary gains)."""

    state_dim: int = 3
    action_dim: int = 2
    horizon: int = 50
    discount: float = 0.9
    sigma: float = 0.1
    instance_seed: int = 0
    trajectories: int = 20_000
    checkpoints: int = 40
    arms: tuple[str, ...] = LQR_ARMS
    steps: Steps = field(default_factory=Steps)

    def __post_init__(self) -> None:
        for name in ("state_dim", "action_dim", "horizon", "trajectories", "checkpoints"):
            check_positive_int(name, getattr(self, name))
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        check_positive("sigma", self.sigma)
        if not self.arms or any(a not in LQR_ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {LQR_ARMS}, got {self.arms}")


@dataclass(frozen=True)
class CartPoleConfig:
    """CartPole-v1, linear softmax policy on [s, 1]; GPOMDP discount 0.99, horizon 500."""

    episodes: int = 3000
    discount: float = 0.99
    random_episodes: int = 100
    arms: tuple[str, ...] = CARTPOLE_ARMS
    steps: Steps = field(default_factory=lambda: Steps(gamma0=0.2, gamma0_npg=0.2, gamma0_harpg=0.2, lr_pg1=1e-3))

    def __post_init__(self) -> None:
        check_positive_int("episodes", self.episodes)
        check_positive_int("random_episodes", self.random_episodes)
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        if not self.arms or any(a not in CARTPOLE_ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {CARTPOLE_ARMS}, got {self.arms}")


@dataclass(frozen=True)
class FullConfig:
    """The LQR and CartPole experiments; ``seeds``: the rows run as one batch."""

    lqr: LQRConfig | None = field(default_factory=LQRConfig)
    cartpole: CartPoleConfig | None = field(default_factory=CartPoleConfig)
    seeds: tuple[int, ...] = tuple(range(10))
    device: str = "cpu"


@dataclass(frozen=True)
class SmokeConfig:
    """The tabular checks."""

    n_states: int = 5
    n_actions: int = 2
    horizon: int = 8
    discount: float = 0.9
    mc_trajectories: int = 20_000
    igt_iterations: int = 500
    igt_gamma0: float = 1.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n_states", "n_actions", "horizon", "mc_trajectories", "igt_iterations"):
            check_positive_int(name, getattr(self, name))
        check_positive("igt_gamma0", self.igt_gamma0)
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")


_Z = 4.0  # |z| bound over 10 coordinates of a Monte-Carlo mean (two-sided 4 sigma: family-wise ~6e-4)


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """Unbiased estimators and the ascent of N-PG-IGT on the tabular MDP."""
    return (
        Claim("GPOMDP is unbiased for grad J", Compare("estimators/gpomdp_max_z", "<", _Z)),
        Claim("B^u is unbiased for grad^2 J u", Compare("estimators/hvp_max_z", "<", _Z)),
        Claim("v_t is unbiased for grad J(theta_t) - grad J(theta_{t-1})", Compare("estimators/v_max_z", "<", _Z)),
        Claim("N-PG-IGT closes > 50 % of the gap in 500 iterations", Compare("npg_igt/tabular_gap_closed", ">", 0.5)),
    )


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """Final LQR gap N-HARPG < N-PG-IGT < N-PG, each < PG(1); CartPole N-HARPG >= N-PG; every arm halves the
    LQR gap and beats the random policy on CartPole (claims of their own, and the guards of the comparisons
    of the two arms they concern: an arm that did not learn says nothing about an ordering).
    Paired by seed (shared initial policy and sampling stream)."""
    claims: list[Claim] = []
    if config.lqr is not None and set(config.lqr.arms) == set(LQR_ARMS):

        def halves(*arms: str) -> tuple[Compare, ...]:
            return tuple(Compare(f"{a}/lqr_gap_ratio", "<", 0.5) for a in arms)

        for lhs, rhs in (
            ("nharpg", "npg_igt"),
            ("npg_igt", "npg"),
            ("nharpg", "pg1"),
            ("npg_igt", "pg1"),
            ("npg", "pg1"),
        ):
            statement = Better(f"{lhs}/lqr_gap", f"{rhs}/lqr_gap", better="lower")
            claims.append(Claim(f"LQR final gap: {lhs} < {rhs}", statement, guards=halves(lhs, rhs)))
        for arm in LQR_ARMS:
            claims.append(Claim(f"{arm} halves the LQR gap", Better(f"{arm}/lqr_gap_ratio", 0.5, better="lower")))
    if config.cartpole is not None and set(config.cartpole.arms) == set(CARTPOLE_ARMS):
        above = tuple(Compare(f"{a}/cartpole_return", ">", "random/cartpole_return") for a in CARTPOLE_ARMS)
        claims.append(
            Claim(
                "CartPole return: N-HARPG >= N-PG",
                NoWorse("nharpg/cartpole_return", "npg/cartpole_return"),
                guards=above,
            )
        )
        for arm in CARTPOLE_ARMS:
            claims.append(
                Claim(
                    f"{arm} beats the random policy on CartPole",
                    Better(f"{arm}/cartpole_return", "random/cartpole_return"),
                )
            )
    return tuple(claims)


def paper_config() -> FullConfig:
    """The paper's budgets (LQR 1e5 trajectories, CartPole 1e4 episodes), 10 seeds, for a faster machine."""
    return FullConfig(lqr=LQRConfig(trajectories=100_000), cartpole=CartPoleConfig(episodes=10_000))


BENCHMARK = Benchmark(
    slug="npg-igt",
    title="Stochastic Policy Gradient Methods: Improved Sample Complexity for Fisher-non-degenerate Policies",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": tuple(range(10)), "paper": tuple(range(10))},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("estimators/*", better="lower", tolerance=1.0),
        MetricSpec("*/tabular_gap_closed", better="higher", tolerance=0.05),
        MetricSpec("*/lqr_gap", better="lower", tolerance=0.5, relative=True),
        MetricSpec("*/cartpole_return", better="higher", tolerance=0.3, relative=True),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="hours of CPU (1e5 LQR trajectories and 1e4 CartPole episodes per arm and seed)",
)
