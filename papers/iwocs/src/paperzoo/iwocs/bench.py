"""The paperzoo benchmark of IWOCS: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): (a) the 5x5 windy walk: IWOCS on the sa-rectangular wind set converges in <= 10 static
  problems to the robust value-iteration value (1e-6); (b) a few hundred TD3 steps of every Pendulum arm.
- full (minutes, 2 cores): (a) the 10x10 windy walk, per-cell (sa-rectangular) and global (non-rectangular)
  wind; (b) Pendulum-v1, Ω = m ∈ [0.5, 1.5] x l ∈ [0.5, 1.5]: deep IWOCS (4 static TD3 problems, 7x7 search
  grid, 10 episodes per point) vs TD3 on the nominal model vs domain-randomised TD3 at equal env steps, evaluated
  on a 5x5 grid of Ω with 100 episodes per point (200 at the nominal model); 3 seeds.
- paper: the Pendulum experiment at TD3's usual sizes (400-300 networks, rl-zoo's 10k random steps), then (b) on
  MuJoCo with M2TD3's uncertainty sets (``robust_mujoco.M2TD3_SETS``: Ant, HalfCheetah, Hopper, Walker2d with 1-3
  parameters, InvertedPendulum with 2), 2M env steps per arm, evaluated on a 10-point-per-dimension grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.iwocs import experiment, perf, plots
from paperzoo.iwocs.deep import DeepConfig, TD3Config
from paperzoo.iwocs.robust_mujoco import M2TD3_SETS
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse, Within
from paperzoo.shared.validate import check_positive_int, check_range


@dataclass(frozen=True)
class Config:
    """One scale: the windy walk (rows, cols; nominal wind; signed wind box, w > 0 down, w < 0 up; grid points
    of the global-wind search), the Pendulum experiment and (paper scale) MuJoCo experiments on the M2TD3 sets
    ``mujoco``, each with the settings of ``mujoco_deep`` (its env fields replaced by the set's);
    ``workers`` processes run the deep arms of a seed (three TD3 arms of equal cost: three workers keep two cores
    busy)."""

    grid: tuple[int, int] = (10, 10)
    wind_nominal: float = 0.1
    wind_box: tuple[float, float] = (-0.4, 0.4)
    wind_points: int = 41
    deep: DeepConfig = field(default_factory=DeepConfig)
    mujoco: tuple[str, ...] = ()
    mujoco_deep: DeepConfig = field(default_factory=DeepConfig)
    workers: int = 3
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("wind_points", self.wind_points)
        check_positive_int("workers", self.workers)
        check_range("wind_nominal", self.wind_nominal, *self.wind_box)
        for name in self.mujoco:
            if name not in M2TD3_SETS:
                raise ValueError(f"mujoco must name sets of {sorted(M2TD3_SETS)}, got {name!r}")


SMOKE = Config(
    grid=(5, 5),
    wind_points=11,
    deep=DeepConfig(
        iterations=2,
        steps_per_iteration=150,
        search_points=3,
        search_episodes=1,
        reeval_episodes=2,
        eval_points=3,
        eval_episodes=1,
        nominal_episodes=2,
        td3=TD3Config(net_arch=(32, 32), batch_size=32, learning_starts=100),
    ),
    workers=1,
)
FULL = Config(deep=DeepConfig(iterations=4, steps_per_iteration=10_000))


# (b) at the paper scale on each M2TD3 set: the budget, search and evaluation settings (the env, its parameters, box
# and nominal model come from the set): TD3 with rl-zoo's MuJoCo recipe (256-256 here, batch 256, 10k random steps,
# γ = 0.99), 5 static problems x 400k steps (2M per arm; our choice), evaluation on 10 points per dimension as in
# rrls's evaluation sets
PAPER_MUJOCO = DeepConfig(
    iterations=5,
    steps_per_iteration=400_000,
    search_points=5,
    search_episodes=5,
    reeval_episodes=20,
    eval_points=10,
    eval_episodes=5,
    nominal_episodes=20,
    td3=TD3Config(net_arch=(256, 256), gamma=0.99, batch_size=256, learning_starts=10_000),
)
PAPER = Config(
    deep=DeepConfig(
        iterations=5,
        steps_per_iteration=200_000,
        search_points=7,
        search_episodes=10,
        reeval_episodes=50,
        eval_points=10,
        eval_episodes=100,
        td3=TD3Config(net_arch=(400, 300), batch_size=256, learning_starts=10_000),
    ),
    mujoco=tuple(M2TD3_SETS),
    mujoco_deep=PAPER_MUJOCO,
    device="cuda",
)

# Pendulum returns: a trained swing-up scores about -150 per episode at the nominal model, a random policy about
# -1200. "Learned" = better than -400 at the nominal model; worst-case gaps below 25 return units are noise here.
_LEARNED = -400.0
_RESOLUTION = 25.0


def smoke_claims(config: Config) -> tuple[Claim, ...]:
    """(a) the static-dynamic equivalence on the sa-rectangular set, exactly; (b) the pipeline acted."""
    return (
        Claim(
            "sa-rectangular set: IWOCS's worst-case value equals robust value iteration's (within 1e-6)",
            Compare("rect/iwocs_rvi_gap", "<=", 1e-6),
            guards=(Compare("rect/iwocs_iterations", "<=", 10.0),),
        ),
        Claim(
            "IWOCS's worst case beats nominal VI's worst case on the sa-rectangular set",
            Compare("rect/iwocs_worst", ">", "rect/nominal_worst"),
        ),
        Claim("Deep IWOCS found a second model (the worst-case search acted)", Compare("iwocs/models_found", ">=", 2)),
    )


def full_claims(config: Config) -> tuple[Claim, ...]:
    """(a) and (b) of the issue, each comparative claim guarded by every compared arm having learned."""
    learned = {
        arm: Compare(f"{arm}/nominal_return", ">", _LEARNED) for arm in experiment.ARMS
    }  # every deep arm swings the nominal pendulum up
    above_random = {arm: Compare(f"{arm}/mean_return", ">", "random/mean_return") for arm in experiment.ARMS}
    searched = (Compare("iwocs/models_found", ">=", 2),)
    claims = [
        Claim(
            "(a) global wind: IWOCS's worst case >= nominal VI's worst case (exact values)",
            Better("global/iwocs_worst", "global/nominal_worst", resolution=1e-9),
            guards=(Within("rect/iwocs_worst", "rect/rvi_worst", 1e-6),),
            mechanism=(Compare("global/iwocs_iterations", ">=", 2),),
        ),
        Claim(
            "(a) sa-rectangular wind: IWOCS's worst case equals robust VI's (static-dynamic equivalence)",
            Compare("rect/iwocs_rvi_gap", "<=", 1e-6),
        ),
        Claim(
            "(a) global wind (non-rectangular): the static robust value (IWOCS) exceeds the rectangular hull's"
            " robust value (a dynamic adversary is stronger outside sa-rectangular sets)",
            Better("global/iwocs_worst", "rect/rvi_worst", resolution=1e-9),
            guards=(Within("rect/iwocs_worst", "rect/rvi_worst", 1e-6),),
        ),
        Claim(
            "(a) global wind: IWOCS's worst case >= that of robust VI's policy (built for the rectangular hull)",
            NoWorse("global/iwocs_worst", "global/rvi_worst", resolution=1e-9),
        ),
        Claim(
            "(b) worst-case return over Ω: IWOCS >= domain randomisation",
            NoWorse("iwocs/worst_return", "dr/worst_return", resolution=_RESOLUTION),
            guards=(learned["iwocs"], learned["dr"]),
            mechanism=searched,
        ),
        Claim(
            "(b) worst-case return over Ω: domain randomisation > nominal TD3",
            Better("dr/worst_return", "td3/worst_return", resolution=_RESOLUTION),
            guards=(learned["dr"], learned["td3"]),
        ),
        Claim(
            "(b) worst-case return over Ω: IWOCS > nominal TD3",
            Better("iwocs/worst_return", "td3/worst_return", resolution=_RESOLUTION),
            guards=(learned["iwocs"], learned["td3"]),
            mechanism=searched,
        ),
        Claim(
            "(b) at the nominal model, nominal TD3 is no worse than IWOCS",
            NoWorse("td3/nominal_return", "iwocs/nominal_return", resolution=_RESOLUTION),
            guards=(learned["iwocs"], learned["td3"]),
        ),
        Claim(
            "(b) at the nominal model, nominal TD3 is no worse than domain randomisation",
            NoWorse("td3/nominal_return", "dr/nominal_return", resolution=_RESOLUTION),
            guards=(learned["dr"], learned["td3"]),
        ),
    ]
    claims += [
        Claim(
            f"(b) {arm} beats a random policy (mean return over Ω)",
            Better(f"{arm}/mean_return", "random/mean_return", resolution=_RESOLUTION),
            guards=(above_random[arm],),
        )
        for arm in experiment.ARMS
    ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="iwocs",
    title="Solving robust MDPs as a sequence of static RL problems (IWOCS; Zouitine, Geist, Rachelson 2024)",
    framework="torch",
    scales={"smoke": SMOKE, "full": FULL, "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("rect/iwocs_rvi_gap", better="lower", tolerance=1e-6),
        MetricSpec("*/iterations", better="lower", tolerance=0.0),
        MetricSpec("rect/*", better="higher", tolerance=1e-6),
        MetricSpec("global/*", better="higher", tolerance=1e-6),
        MetricSpec("nominal/*", better="higher", tolerance=1e-6),
        MetricSpec("*/env_steps", better="higher", tolerance=0.0),
        MetricSpec("*_return", better="higher", tolerance=150.0, resolution=_RESOLUTION),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="a GPU (400-300 TD3 networks, 1M env steps per Pendulum arm, 2M per MuJoCo arm on 13 sets)",
)
