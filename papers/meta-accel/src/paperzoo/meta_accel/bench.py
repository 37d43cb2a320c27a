"""The paperzoo benchmark of meta-accel (MetaInf): a declaration; runners in ``experiment.py``, figures in
``plots.py``, the speed figure in ``perf.py``.

- smoke (seconds): 6 workloads of a 2-layer d = 64 GPT-2 x eager, int8, batching, KV cache (measured live): every
  fidelity gate passes, eager vs a second copy of eager within [0.8, 1.25], and MetaInf fitted on the committed
  fixture matrix chooses a best method (within the 3 % tie margin) on each of its own training tasks.
- full (minutes, 2 CPU cores): ~150 tasks (GPT-2 / Llama decoders, MLPs, CNNs x workloads x simulated nodes) x 9
  methods measured once (cached), then random, expert, global-best, ISAC, ALORS, RF, GBM, MetaInf and the oracle
  under leave-family-out and 5 x grouped 5-fold CV; 3 seeds over CV splits and selector initialisation.
- paper: the same pipeline on pretrained hub decoders on a GPU (methods that run there), as config.
"""

from __future__ import annotations

from paperzoo.meta_accel import experiment, perf, plots
from paperzoo.meta_accel.experiment import ExperimentConfig, SmokeConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse

# Regret differences below 1 point are within what the timing noise of the matrix moves (median spread ~ a few %).
REGRET_RESOLUTION = 0.01

PAPER = ExperimentConfig(
    hub_models=(
        "meta-llama/Llama-3.1-8B",
        "Qwen/Qwen2.5-7B",
        "mistralai/Mistral-7B-v0.3",
        "google/gemma-2-9b",
    ),
    families=("gpt2", "llama"),
    methods=("eager", "inference_mode", "bf16", "batching", "kv_cache", "batch_kv"),
    device="cuda",
)


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """Fidelity gates, the timing harness's eager-vs-eager sanity, and MetaInf on its training tasks."""
    gates = tuple(
        Claim(f"The {m} fidelity gate passes on every smoke task", Compare(f"gates/{m}/pass_rate", ">=", 1.0))
        for m in config.methods[1:]
    )
    return (
        *gates,
        Claim(
            "eager timed against a copy of itself: speedup >= 0.8",
            Compare("timing/eager_vs_eager_speedup", ">=", 0.8),
        ),
        Claim(
            "eager timed against a copy of itself: speedup <= 1.25",
            Compare("timing/eager_vs_eager_speedup", "<=", 1.25),
        ),
        Claim(
            "MetaInf fitted on the fixture matrix picks a best method (3 % ties) on each of its training tasks",
            Compare("fixture/metainf_train_accuracy", ">=", 1.0),
        ),
    )


def full_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """MetaInf vs global-best, random, GBM and RF in mean regret on held-out model families (and grouped CV),
    non-degeneracy of the matrix, and the selection speed. Every selector of a seed sees the same matrix and folds:
    paired intervals."""
    nondegenerate = Compare("matrix/n_methods_best", ">=", 3)
    claims = []
    for scheme, where in (("lfo", "held-out model families"), ("cv", "grouped 5-fold CV (held-out model configs)")):
        something_to_choose = Compare(f"{scheme}/random/regret", ">", 0.05)
        guards = (nondegenerate, something_to_choose)
        for rival, kind in (("global_best", Better), ("random", Better), ("gbm", NoWorse), ("rf", NoWorse)):
            words = "<" if kind is Better else "<="
            claims.append(
                Claim(
                    f"MetaInf {words} {rival} in mean regret on {where}",
                    kind(
                        f"{scheme}/metainf/regret",
                        f"{scheme}/{rival}/regret",
                        better="lower",
                        resolution=REGRET_RESOLUTION,
                    ),
                    guards=guards,
                )
            )
    claims += [
        Claim("Non-degeneracy: at least 3 methods are each the clear best (by > 3 %) on some task", nondegenerate),
        Claim(
            "Choosing for a new task costs <= 0.01x measuring every method on it",
            Compare("perf/choose_over_measure", "<=", 0.01),
        ),
    ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="meta-accel",
    title="Meta-Learning for Speeding Up Large Model Inference in Decentralized Environments (MetaInf, "
    "arXiv 2410.21340)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": ExperimentConfig(), "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run, "paper": experiment.run},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("gates/*/pass_rate", better="higher", tolerance=0.0),
        MetricSpec("timing/eager_vs_eager_speedup", better="higher", tolerance=0.3),
        MetricSpec("fixture/metainf_train_accuracy", better="higher", tolerance=0.0),
        MetricSpec("fixture/metainf_train_regret", better="lower", tolerance=0.03),
        MetricSpec("*/regret", better="lower", tolerance=0.1, resolution=REGRET_RESOLUTION),
        MetricSpec("*/accuracy", better="higher", tolerance=0.15),
        MetricSpec("*/satisfied", better="higher", tolerance=0.15),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="a GPU and the hub decoders (Llama-3.1-8B, Qwen2.5-7B, Mistral-7B, Gemma-2-9B)",
)
