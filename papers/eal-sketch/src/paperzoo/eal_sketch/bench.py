"""The paperzoo benchmark of eal-sketch: AdaSketch-Newton (RK, GV) against an exact-solve ablation, the
augmented-Lagrangian method and ℓ1-SQP with GMRES, on Hock–Schittkowski/BT problems, constrained logistic
regression (scikit-learn data) and a PDE-constrained problem.

Configs, claims and metric specs live here; the runners in ``experiment.py``, the figures in ``plots.py``,
the speed figures in ``perf.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.eal_sketch import experiment, perf, plots
from paperzoo.eal_sketch.problems import CUTEST_PROBLEMS, HS_PROBLEMS, LIBSVM_DATA, LOGISTIC_DATA, logistic_name
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec
from paperzoo.shared.validate import check_one_of, check_positive_int

ARMS = ("rk", "gv", "rk_code", "exact", "al", "l1sqp")


@dataclass(frozen=True)
class Config:
    """One scale: which problems, which arms, the iteration budgets and the worker processes.

    ``logistic`` names scikit-learn data sets or ``libsvm:PATH`` files; ``cutest`` names CUTEst problems (they
    need pycutest); the hs_* metrics aggregate ``hs`` and ``cutest``."""

    hs: tuple[str, ...]
    logistic: tuple[str, ...]
    pde_sizes: tuple[int, ...]
    cutest: tuple[str, ...] = ()
    hs_arms: tuple[str, ...] = ("rk", "gv", "rk_code", "exact", "al", "l1sqp")
    logistic_arms: tuple[str, ...] = ("rk", "gv", "exact", "l1sqp")
    pde_arms: tuple[str, ...] = ("rk", "gv", "exact", "al", "l1sqp")
    max_iter: int = 10_000
    pde_max_iter: tuple[tuple[str, int], ...] = ()  # (arm, outer iterations) on the PDE; unlisted: max_iter
    pde_max_n: tuple[tuple[str, int], ...] = ()  # (arm, largest grid N it runs on); unlisted: every size
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in self.hs:
            check_one_of("hs", name, HS_PROBLEMS)
        for name in self.cutest:
            check_one_of("cutest", name, CUTEST_PROBLEMS)
        for data in self.logistic:
            if not data.startswith("libsvm:"):
                check_one_of("logistic", data, LOGISTIC_DATA)
        for n in self.pde_sizes:
            check_positive_int("pde_sizes", n)
        for arms in (self.hs_arms, self.logistic_arms, self.pde_arms):
            for arm in arms:
                check_one_of("arms", arm, ARMS)
        check_positive_int("max_iter", self.max_iter)
        for arm, iterations in self.pde_max_iter:
            check_one_of("pde_max_iter", arm, ARMS)
            check_positive_int("pde_max_iter", iterations)
        for arm, n in self.pde_max_n:
            check_one_of("pde_max_n", arm, ARMS)
            check_positive_int("pde_max_n", n)
        check_positive_int("workers", self.workers)
        check_one_of("device", self.device, ("cpu",))

    def pde_iterations(self, arm: str) -> int:
        """The outer-iteration budget of ``arm`` on the PDE."""
        return dict(self.pde_max_iter).get(arm, self.max_iter)

    def pde_arms_at(self, n: int) -> tuple[str, ...]:
        """The arms that run on the PDE with grid ``n`` (``pde_max_n`` drops an arm from larger grids)."""
        largest = dict(self.pde_max_n)
        return tuple(arm for arm in self.pde_arms if n <= largest.get(arm, n))


def _converges(arm: str, instance: str) -> Compare:
    return Compare(f"{arm}/{instance}_converged", ">=", 1.0)


def _fewer_flops(instance: str) -> Claim:
    return Claim(
        f"On {instance}, AdaSketch-Newton-RK needs fewer flops (row operations x nonzeros) than l1-SQP-GMRES "
        "to reach KKT <= 1e-4",
        Better(f"rk/{instance}_log10_flops", f"l1sqp/{instance}_log10_flops", better="lower", resolution=0.01),
        guards=(_converges("rk", instance), _converges("l1sqp", instance)),
    )


def _equal_flops(instance: str) -> Claim:
    return Claim(
        f"On {instance}, at equal flops AdaSketch-Newton-RK reaches a lower KKT residual than l1-SQP-GMRES "
        "(the KKT-vs-flops reading; budget = the smaller of the two arms' total flops)",
        Better(
            f"rk/{instance}_log10_kkt_at_equal_flops",
            f"l1sqp/{instance}_log10_kkt_at_equal_flops",
            better="lower",
            resolution=0.05,
        ),
        guards=tuple(Compare(f"{arm}/{instance}_iterations_at_equal_flops", ">=", 5.0) for arm in ("rk", "l1sqp")),
    )


def _solves(arm: str, config: Config) -> tuple[Claim, ...]:
    return (
        Claim(
            f"AdaSketch-Newton-{arm.upper()} solves >= 90% of the non-singular HS/BT problems",
            Compare(f"{arm}/hs_success_rate", ">=", 0.9),
            guards=(Compare(f"{arm}/hs_singular", "<", (len(config.hs) + len(config.cutest)) / 2),),
            mechanism=(Compare(f"{arm}/hs_eta_moved", ">", 0.0),),  # the penalty adaptation acted somewhere
        ),
        Claim(
            f"AdaSketch-Newton-{arm.upper()} takes unit steps in >= 80% of the last 5 iterations",
            Compare(f"{arm}/hs_unit_step_last5", ">=", 0.8),
            guards=(Compare(f"{arm}/hs_success_rate", ">", 0.5),),
        ),
    )


def claims(config: Config) -> tuple[Claim, ...]:
    """Success and unit-step claims of RK and GV on HS/BT; RK vs l1-SQP-GMRES flops on logistic and PDE, and
    their KKT residuals at equal flops on the PDE with N >= 16."""
    out = [c for arm in ("rk", "gv") if arm in config.hs_arms for c in _solves(arm, config)]
    if "l1sqp" in config.logistic_arms:
        out += [_fewer_flops(f"logistic_{logistic_name(data)}") for data in config.logistic]
    if "l1sqp" in config.pde_arms:
        out += [c for n in config.pde_sizes if n >= 16 for c in (_fewer_flops(f"pde{n}"), _equal_flops(f"pde{n}"))]
    return tuple(out)


def smoke_claims(config: Config) -> tuple[Claim, ...]:
    """Smoke: both sketches solve the smoke problems and the exact solve matches f*."""
    return (
        *(c for arm in ("rk", "gv") for c in _solves(arm, config)),
        Claim(f"RK solves the PDE with N = {config.pde_sizes[0]}", _converges("rk", f"pde{config.pde_sizes[0]}")),
        Claim("exact solves reach the published f*", Compare("exact/hs_f_match", ">=", 1.0)),
    )


# outer iterations per arm on the PDE (see the README: the budget that decides claim 3 there)
_FULL_PDE_BUDGET = (("rk", 30), ("gv", 3), ("al", 1), ("l1sqp", 300))
_SMOKE_HS = ("HS6", "HS7", "HS28", "HS40", "BT3")
BENCHMARK = Benchmark(
    slug="eal-sketch",
    title="Constrained Optimization via Exact Augmented Lagrangian and Randomized Iterative Sketching",
    framework="torch",
    scales={
        "smoke": Config(
            hs=_SMOKE_HS, logistic=(), pde_sizes=(3,), hs_arms=("rk", "gv", "exact"), pde_arms=("rk",), workers=1
        ),
        "full": Config(
            hs=HS_PROBLEMS,
            logistic=("breast_cancer", "digits_binary", "synthetic"),
            pde_sizes=(8, 16),
            pde_max_iter=_FULL_PDE_BUDGET,
            pde_max_n=(("al", 8),),  # one AL multiplier update at N = 16 took 1309 s: over the whole budget
        ),
        "paper": Config(  # the official test sets: CUTEst via pycutest, LIBSVM files under data/libsvm/
            hs=(),
            cutest=CUTEST_PROBLEMS,
            logistic=tuple(f"libsvm:data/libsvm/{name}" for name in LIBSVM_DATA),
            pde_sizes=(8, 16, 24),
        ),
    },
    seeds={"smoke": (0,), "full": (0, 1, 2, 3, 4), "paper": (0, 1, 2, 3, 4)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": claims},
    metrics=(
        MetricSpec("*success_rate", better="higher", tolerance=0.05),
        MetricSpec("*unit_step_last5", better="higher", tolerance=0.1),
        MetricSpec("*f_match", better="higher", tolerance=0.05),
        MetricSpec("*_converged", better="higher", tolerance=0.0),
        MetricSpec("*log10_kkt", better="lower", tolerance=1.0),
        MetricSpec("*log10_kkt_at_equal_flops", better="lower", tolerance=1.0),
        MetricSpec("*log10_flops", better="lower", tolerance=0.3),
        MetricSpec("*iterations", better="lower", tolerance=0.5, relative=True),
    ),
    plot={"full": plots.plot, "smoke": plots.plot},
    perf=perf.perf,
    paper_needs="pycutest with a compiled CUTEst/SIFDecode, and the LIBSVM files of LIBSVM_DATA under data/libsvm/",
)
