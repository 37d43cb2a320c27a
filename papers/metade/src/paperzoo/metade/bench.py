"""The paperzoo benchmark of MetaDE: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): every arm but the power-up one on CEC2022 F1 (D = 10) with MetaDE at P_o = 8, NP = 20, S = 30,
  G = 3 (14,880 FEs): the FE counters equal the analytic counts, MetaDE's best is no worse than its generation-1
  executors', and the default PDE (NP = 50, 300 generations) cuts F1's error 10x from its initial population's best.
- full (minutes, 2 CPU cores): D = 10, F1-F12, MetaDE at P_o = 16, NP = 50, S = 50, G = 12 (489,600 FEs per
  function) and every baseline at exactly the same FEs, 5 seeds.
- paper: P_o = NP = 100, S = 1000, G = 50 (5.005e8 FEs per function), D = 10 (D = 20 as a config), for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.metade import experiment, perf, plots
from paperzoo.metade.cec2022 import DIMENSIONS
from paperzoo.metade.experiment import ARMS, budget
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Min, NoWorse
from paperzoo.shared.validate import check_one_of, check_positive_int

_MECHANISM_ARMS = ("metade", "metade_powerup", "random_search")


@dataclass(frozen=True)
class Config:
    """One scale: the functions, D, MetaDE's sizes (which fix every arm's budget) and the arms."""

    functions: tuple[int, ...] = tuple(range(1, 13))
    D: int = 10
    P_o: int = 16
    NP: int = 50
    S: int = 50
    G: int = 12
    baseline_np: int = 100  # population of the single-run baselines (DE, JaDE, SHADE, default PDE)
    arms: tuple[str, ...] = ARMS
    workers: int = 2  # arms run as parallel jobs
    default_check_steps: int = 0  # > 0: also run the default PDE alone on F1 (NP = 50) for this many generations
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.functions:
            raise ValueError("functions must be a non-empty tuple of integers in [1, 12], got ()")
        for f in self.functions:
            if check_positive_int("functions", f) > 12:
                raise ValueError(f"functions must be integers in [1, 12], got {self.functions!r}")
        check_one_of("D", self.D, DIMENSIONS)
        for name, low in (("P_o", 4), ("NP", 4), ("baseline_np", 4), ("S", 1), ("G", 1)):
            if check_positive_int(name, getattr(self, name)) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {getattr(self, name)!r}")
        check_positive_int("workers", self.workers)
        if self.default_check_steps != 0:
            check_positive_int("default_check_steps", self.default_check_steps)
        if not self.arms or any(a not in ARMS for a in self.arms):
            raise ValueError(f"arms must be a non-empty subset of {ARMS}, got {self.arms!r}")
        if "metade_powerup" in self.arms and self.G < 6:
            raise ValueError(f"G must be >= 6 for the power-up arm (G - 5 normal generations), got {self.G}")
        B = budget(self)
        for name, unit in (("baseline_np", self.baseline_np), ("P_o * NP", self.P_o * self.NP)):
            if B % unit:
                raise ValueError(f"the budget P_o NP (S + 1) G = {B} must be a multiple of {name} = {unit}")


def smoke_claims(config: Config) -> tuple[Claim, ...]:
    """Mechanism checks: exact FE counts, MetaDE no worse than its first generation, the default PDE learns."""
    claims = [
        Claim(
            f"{arm} spends exactly its analytic FE count",
            Compare(f"{arm}/fe_error", "<=", 0.0),
            guards=(Compare(f"{arm}/fe_error", ">=", 0.0),),
        )
        for arm in config.arms
    ]
    if "metade" in config.arms:
        claims.append(
            Claim(
                "MetaDE's returned best is no worse than the best of its own generation-1 executors",
                Compare("metade/best_minus_gen1", "<=", 0.0),
                guards=(Compare("metade/fe_count_error", "<=", 0.0), Compare("metade/fe_count_error", ">=", 0.0)),
            )
        )
    if config.default_check_steps:
        claims.append(
            Claim(
                f"The default PDE (NP = 50, {config.default_check_steps} generations) cuts F1's error 10x",
                Compare("default_check/F1_log10_cut", ">=", 1.0),
            )
        )
    return tuple(claims)


def full_claims(config: Config) -> tuple[Claim, ...]:
    """The headline comparisons (per-seed counts and ranks over the config's functions), and that every arm learns.

    Wins count functions where MetaDE's error is below the other arm's (both < 1e-8: half a win); the claim
    "below on >= 8 of 12" becomes ``wins >= 8/12`` of the functions run, with an interval over seeds. Both
    MetaDE as the official example runs it (no power-up) and with the intended power-up are judged.
    """
    need = 8 * len(config.functions) / 12
    learned = tuple(Compare(f"{arm}/F1_log10_cut", ">=", 1.0) for arm in ("metade", "de") if 1 in config.functions)
    claims = []
    for arm, name in (("metade", "MetaDE"), ("metade_powerup", "MetaDE with power-up")):
        mechanism = (Compare(f"{arm}/evolver_gain", ">", 0.0),)
        for other, text in (("de", "DE/rand/1/bin"), ("random_theta", "random-theta PDE")):
            if {arm, other} <= set(config.arms):
                claims.append(
                    Claim(
                        f"{name}'s error is below {text}'s on >= 8 of 12 functions (equal FEs)",
                        NoWorse(f"{arm}/wins_vs_{other}", need, better="higher"),
                        guards=learned,
                        mechanism=mechanism,
                    )
                )
        if {arm, "random_search"} <= set(config.arms):
            claims.append(
                Claim(
                    f"{name}'s average rank is no worse than meta-level random search's (equal FEs)",
                    NoWorse(f"{arm}/mean_rank", "random_search/mean_rank", better="lower"),
                    guards=learned,
                    mechanism=mechanism,
                )
            )
    if 1 in config.functions:
        claims.append(
            Claim(
                "Every arm cuts F1's error 10x (against the best of 100 random points)",
                NoWorse(Min("*/F1_log10_cut"), 1.0, better="higher"),
            )
        )
    return tuple(claims)


def paper_config(D: int = 10) -> Config:
    """The official CEC2022 example: P_o = NP = 100, S = 1000, G = 50 (D = 10 or 20)."""
    return Config(D=D, P_o=100, NP=100, S=1000, G=50, device="cuda")


BENCHMARK = Benchmark(
    slug="metade",
    title="MetaDE: Evolving Differential Evolution by Differential Evolution (IEEE TEVC 2025)",
    framework="torch",
    scales={
        "smoke": Config(
            functions=(1,),
            P_o=8,
            NP=20,
            S=30,
            G=3,
            baseline_np=20,
            arms=tuple(a for a in ARMS if a != "metade_powerup"),
            workers=1,
            default_check_steps=300,
        ),
        "full": Config(),
        "paper": paper_config(),
    },
    seeds={"smoke": (0,), "full": (0, 1, 2, 3, 4), "paper": (0, 1, 2)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("*/fe_error", better="lower", tolerance=0.0),
        MetricSpec("*/fe_count_error", better="lower", tolerance=0.0),
        MetricSpec("*/best_minus_gen1", better="lower", tolerance=0.0),
        MetricSpec("*/F1_log10_cut", better="higher", tolerance=1.0),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="a GPU (5e8 FEs per function: 100 executors x 100 individuals x 1000 steps x 50 generations)",
)
