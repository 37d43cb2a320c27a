"""The paperzoo benchmark of npg-igt: a declaration (configs, claims, metric specs).

- smoke (seconds): 5-state/2-action tabular MDP, softmax policy: GPOMDP g^, B^u and v_t averaged over 2e4
  trajectories match the exact grad J, grad^2 J u and grad J(theta_t) - grad J(theta_{t-1}) (|z| < 4 over the
  10 coordinates); N-PG-IGT closes > 50 % of the gap J* - J in 500 one-trajectory iterations.
- full (minutes): LQR (state 3, action 2, gamma 0.9, H 50, sigma 0.1; exact J) with N-PG-IGT, N-HARPG, HARPG,
  N-PG, PG(1), PG(10), 10 seeds x 2e4 trajectories; CartPole-v1 with a linear softmax policy, N-PG-IGT,
  N-HARPG, N-PG, PG(1), 10 seeds x 3000 episodes. Equal trajectories per arm; rows of one batch = seeds. Step
  sizes: each arm's sweep on tuning seeds 100-104 (:mod:`paperzoo.npg_igt.tuning`), recorded in the config.
- paper: the same experiments at the paper's budgets (1e5 LQR trajectories, 1e4 CartPole episodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from paperzoo.npg_igt import experiment, perf, plots
from paperzoo.npg_igt.experiment import CARTPOLE_ARMS, LQR_ARMS, best_value, grid
from paperzoo.npg_igt.optim import INDEXING
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int


@dataclass(frozen=True)
class Sweep:
    """One arm's step size (gamma0 of a normalised arm, lr of the others) and the sweep that chose it.

    ``grid``: the values tried on the tuning seeds (``python -m paperzoo.npg_igt --tune``, never the evaluation
    seeds), ``losses``: each value's tuning loss (mean final LQR gap, or minus the mean CartPole return; inf where
    a seed diverged; a record stores inf as null, read back as inf). ``value`` must be the grid's best point; an
    empty grid means not tuned."""

    value: float
    grid: tuple[float, ...] = ()
    losses: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_positive("value", self.value)
        object.__setattr__(self, "losses", tuple(math.inf if loss is None else loss for loss in self.losses))
        if len(self.grid) != len(self.losses):
            raise ValueError(f"grid and losses must have equal lengths, got {len(self.grid)} and {len(self.losses)}")
        best = best_value(self.grid, self.losses) if self.grid else self.value
        if self.value != best:
            raise ValueError(f"value must be the grid's best point {best}, got {self.value}")

    @property
    def interior(self) -> bool:
        """Tuned, with a grid point on either side of the chosen value (diverged points count: they bound it)."""
        return bool(self.grid) and 0 < sorted(self.grid).index(self.value) < len(self.grid) - 1


@dataclass(frozen=True)
class Steps:
    """Step size per arm (:class:`Sweep`: the value and its tuning sweep); HARPG's constant eta is not tuned."""

    npg_igt: Sweep = Sweep(0.1)
    nharpg: Sweep = Sweep(0.05)
    harpg: Sweep = Sweep(1e-6)
    npg: Sweep = Sweep(0.01)
    pg1: Sweep = Sweep(1e-6)
    pg10: Sweep = Sweep(3e-6)
    eta_harpg: float = 0.1
    indexing: str = "paper"

    def __post_init__(self) -> None:
        if not 0 < self.eta_harpg <= 1:
            raise ValueError(f"eta_harpg must be in (0, 1], got {self.eta_harpg}")
        check_one_of("indexing", self.indexing, INDEXING)


# The step sizes the full scale uses: the sweeps of `python -m paperzoo.npg_igt --tune` (tuning seeds 100-104,
# the full budgets: 2e4 LQR trajectories, 3000 CartPole episodes; README "Step-size tuning").
# Losses rounded to 3 digits; inf: a tuning seed diverged.
INF = math.inf
LQR_STEPS = Steps(
    npg_igt=Sweep(0.08, grid(0.0025), (44.6, 36.5, 27.8, 20.8, 16.3, 14.3, 15.0, 45.7, 5.34e10, 6.65e25)),
    nharpg=Sweep(0.08, grid(0.0025), (46.6, 40.2, 33.8, 603.0, 35.3, 24.4, 34.4, 1.39e8, 2.96e63, 1.47e76)),
    harpg=Sweep(8e-08, grid(1e-08), (35.7, 30.0, 25.0, 21.0, INF, INF, INF, INF, INF, INF)),
    npg=Sweep(0.02, grid(0.0025), (58.5, 57.7, 56.4, 55.9, 79.5, 887.0, 3.59e3, 1.44e10, 1.36e16, 9.28e18)),
    pg1=Sweep(1.28e-06, grid(1e-08), (30.0, 25.1, 21.1, 17.9, 15.6, 14.1, 13.1, 12.7, INF, INF)),
    pg10=Sweep(5.12e-06, grid(1e-08, 11), (49.2, 43.9, 37.9, 32.0, 26.9, 22.6, 19.2, 16.9, 15.4, 14.7, INF)),
)
CARTPOLE_STEPS = Steps(  # losses: minus the mean return of the last tenth of the episodes
    npg_igt=Sweep(0.8, grid(0.0125), (-24.7, -29.2, -37.5, -52.1, -98.7, -232.0, -328.0, -98.8, -9.4, -9.37)),
    nharpg=Sweep(0.4, grid(0.0125), (-24.6, -28.1, -34.9, -48.9, -85.7, -186.0, -27.6, -37.5, -9.41, -9.75)),
    npg=Sweep(0.2, grid(0.0125), (-22.8, -23.8, -25.9, -30.5, -36.8, -31.5, -29.1, -31.6, -13.9, -10.0)),
    pg1=Sweep(0.00025, grid(3.125e-05), (-62.7, -198.0, -261.0, -314.0, -270.0, -248.0, -216.0, -193.0, -96.7, -56.6)),
)


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
    steps: Steps = LQR_STEPS

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
    steps: Steps = CARTPOLE_STEPS

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
    of the two arms they concern: an arm that did not learn says nothing about an ordering). Every claim is
    also guarded by its arms' step sizes having been tuned with an interior optimum (:func:`tuned`).
    Paired by seed (shared initial policy and sampling stream)."""
    claims: list[Claim] = []
    if config.lqr is not None and set(config.lqr.arms) == set(LQR_ARMS):

        def learnt(*arms: str) -> tuple[Compare, ...]:
            return tuned("lqr", *arms) + tuple(Compare(f"{a}/lqr_gap_ratio", "<", 0.5) for a in arms)

        for lhs, rhs in (
            ("nharpg", "npg_igt"),
            ("npg_igt", "npg"),
            ("nharpg", "pg1"),
            ("npg_igt", "pg1"),
            ("npg", "pg1"),
        ):
            statement = Better(f"{lhs}/lqr_gap", f"{rhs}/lqr_gap", better="lower")
            claims.append(Claim(f"LQR final gap: {lhs} < {rhs}", statement, guards=learnt(lhs, rhs)))
        for arm in LQR_ARMS:
            statement = Better(f"{arm}/lqr_gap_ratio", 0.5, better="lower")
            claims.append(Claim(f"{arm} halves the LQR gap", statement, guards=tuned("lqr", arm)))
    if config.cartpole is not None and set(config.cartpole.arms) == set(CARTPOLE_ARMS):
        above = tuple(Compare(f"{a}/cartpole_return", ">", "random/cartpole_return") for a in ("nharpg", "npg"))
        claims.append(
            Claim(
                "CartPole return: N-HARPG >= N-PG",
                NoWorse("nharpg/cartpole_return", "npg/cartpole_return"),
                guards=tuned("cartpole", "nharpg", "npg") + above,
            )
        )
        for arm in CARTPOLE_ARMS:
            statement = Better(f"{arm}/cartpole_return", "random/cartpole_return")
            claims.append(Claim(f"{arm} beats the random policy on CartPole", statement, guards=tuned("cartpole", arm)))
    return tuple(claims)


def tuned(experiment: str, *arms: str) -> tuple[Compare, ...]:
    """Guards: each arm's step size was chosen by the tuning sweep with the chosen value interior to its grid
    (an edge optimum or an untuned step size could decide an ordering)."""
    return tuple(Compare(f"{a}/{experiment}_tuned_interior", ">", 0.5) for a in arms)


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
        MetricSpec("*_tuned_interior", better="higher", tolerance=0.0),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="hours of CPU (1e5 LQR trajectories and 1e4 CartPole episodes per arm and seed)",
)
