"""The paperzoo benchmark of BIB: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): 16 candidates, T = 20, the frozen random-init tiny BERT on the synthetic TFBind8-like
  landscape: L_f decreases under BDI, the decoded sequences change, scores lie in [0, 1], gamma stays in [0, 1]
  and moves away from 0.5.
- full (minutes, 2 CPU cores): 128 candidates x T = 100 x 5 seeds; forward-only, backward-only, BDI, BIB
  (Adaptive-gamma), BIB + Adaptive-eta with the MLM-pretrained tiny BERT, the same BERT at random init, and
  one-hot k-mer features (no LM); gradient ascent on an MLP proxy.
- paper: DNABERT (3-mer, ``zhihan1996/DNA_bert_3``) on TFBind8(r) from design-bench (TFBind10(r): set ``task``
  and ``length``), on a GPU.
"""

from __future__ import annotations

from paperzoo.bib import experiment, perf, plots
from paperzoo.bib.experiment import ExperimentConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, Min, NoWorse

# A median normalised score is a fraction of the landscape's full range; a gap under half a percent of that range
# is not read as a difference (our declared resolution; the scores themselves are exact lookups).
SCORE_RESOLUTION = 0.005

SMOKE = ExperimentConfig(n_starts=16, steps=20, encoders=("random",), ga_epochs=2, cache_dir=None)
PAPER = ExperimentConfig(task="TFBind8-Exact-v0", encoders=("hub",), device="cuda")


def smoke_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """The brief's smoke checks on the random-init encoder."""
    e = config.encoders[0]
    return (
        Claim("BDI lowers the forward loss L_f", Compare(f"{e}/bdi/lf_last", "<", f"{e}/bdi/lf_first")),
        Claim("BIB changes the decoded sequences", Compare(f"{e}/bib/distance", ">", 0.0)),
        Claim("Scores lie in [0, 1] (lowest arm)", Compare(Min(f"{e}/*/min"), ">=", 0.0)),
        Claim("Scores lie in [0, 1] (highest arm)", Compare(Max(f"{e}/*/max"), "<=", 1.0)),
        Claim("gamma stays >= 0", Compare(f"{e}/bib/gamma_min", ">=", 0.0)),
        Claim("gamma stays <= 1", Compare(f"{e}/bib/gamma_max", "<=", 1.0)),
        Claim("gamma moves away from 0.5", Compare(f"{e}/bib/gamma_shift", ">", 0.01)),
    )


def full_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """Per encoder: BDI >= max(forward-only, backward-only); BIB >= BDI; BIB + Adaptive-eta >= BIB; forward-only
    drifts farthest; every arm's median above the starts'. Plus BIB >= gradient ascent (first encoder) and
    gradient ascent above the starts. Every arm of a seed shares the starts and the initial logits: paired."""
    distance_res = 1.0 / config.n_starts  # one base of one candidate in the mean Hamming distance
    claims = []
    for e in config.encoders:
        above = Compare(f"{e}/bdi/median", ">", "start/median")
        claims += [
            Claim(
                f"[{e}] BDI >= max(forward-only, backward-only) in median normalised score",
                NoWorse(f"{e}/bdi/median", Max(f"{e}/*ward/median"), resolution=SCORE_RESOLUTION),
                guards=(above,),
            ),
            Claim(
                f"[{e}] BIB (Adaptive-gamma) >= BDI (gamma = 0.5) in median normalised score",
                NoWorse(f"{e}/bib/median", f"{e}/bdi/median", resolution=SCORE_RESOLUTION),
                guards=(above,),
                mechanism=(Compare(f"{e}/bib/gamma_shift", ">", 0.01),),
            ),
            Claim(
                f"[{e}] BIB + Adaptive-eta >= BIB in median normalised score",
                NoWorse(f"{e}/bib_eta/median", f"{e}/bib/median", resolution=SCORE_RESOLUTION),
                guards=(Compare(f"{e}/bib/median", ">", "start/median"),),
                mechanism=(Compare(f"{e}/bib_eta/eta_shift", ">", 1e-3),),
            ),
            Claim(
                f"[{e}] forward-only drifts farthest from the starts (mean Hamming distance)",
                Better(f"{e}/forward/distance", Max(f"{e}/b*/distance"), resolution=distance_res),
            ),
            Claim(
                f"[{e}] non-degeneracy: every arm's median score is above the starting designs'",
                Better(Min(f"{e}/*/median"), "start/median", resolution=SCORE_RESOLUTION),
            ),
        ]
    e = config.encoders[0]
    claims += [
        Claim(
            f"[{e}] BIB >= gradient ascent on an MLP proxy in median normalised score",
            NoWorse(f"{e}/bib/median", "ga_mlp/median", resolution=SCORE_RESOLUTION),
            guards=(Compare("ga_mlp/median", ">", "start/median"),),
        ),
        Claim(
            "non-degeneracy: gradient ascent's median score is above the starting designs'",
            Better("ga_mlp/median", "start/median", resolution=SCORE_RESOLUTION),
        ),
    ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="bib",
    title="Bidirectional Learning for Offline Model-based Biological Sequence Design (BIB, ICML 2023)",
    framework="torch",
    scales={"smoke": SMOKE, "full": ExperimentConfig(), "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2, 3, 4), "paper": (0, 1, 2, 3, 4)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("*/median", better="higher", tolerance=0.1, resolution=SCORE_RESOLUTION),
        MetricSpec("*/max", better="higher", tolerance=0.1),
        MetricSpec("*/lf_last", better="lower", tolerance=0.2, relative=True),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="a GPU, design-bench's TFBind8/TFBind10 tables and the DNABERT (3-mer) weights from the hub",
)
