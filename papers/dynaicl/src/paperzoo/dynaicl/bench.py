"""The paperzoo benchmark of DynaICL: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): a 1-layer G on 2 held-out tasks, K = 4: allocation sums exactly to the budget, a constant
  controller reproduces the uniform allocation, and the stage-1 loss drops.
- full (minutes, 2 CPU cores): G (3 layers, d = 96) meta-trained for in-context learning with k in [0, 16];
  k* labels (m = 4) on held-out tasks, stage 1 + 2; uniform, random, DynaICL stage 1 and 1+2, oracle k* at
  B in {1, 2, 4, 8}; tokens to reach uniform's k = 8 accuracy; transfer to a second G (3 layers, d = 128,
  another seed) and an unseen family.
- paper: a pretrained FLAN-T5 controller and open causal-LM generalists (``from_pretrained``) on text
  classification tasks whose formats are config (``paper.py``), the same pipeline.
"""

from __future__ import annotations

from paperzoo.dynaicl import experiment, paper, perf, plots
from paperzoo.dynaicl.controller import ControllerConfig
from paperzoo.dynaicl.experiment import ExperimentConfig
from paperzoo.dynaicl.generalist import GeneralistConfig
from paperzoo.dynaicl.paper import PaperConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse, Within
from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig


def _tiny_generalist(seed: int) -> GeneralistConfig:
    return GeneralistConfig(
        model=ModelConfig(n_layer=1, d_model=64, d_ff=128, n_head=4, max_positions=32),
        steps=60,
        batch_size=16,
        k_max=4,
        seed=seed,
    )


SMOKE = ExperimentConfig(
    generalist=_tiny_generalist(1234),
    transfer_generalist=_tiny_generalist(4321),
    controller=ControllerConfig(d_model=32, n_layer=1),
    K=4,
    m=2,
    pool_size=8,
    train_tasks=2,
    train_per_task=16,
    test_tasks=2,
    test_per_task=16,
    budgets=(1.0, 2.0),
    target_budget=2.0,
    stage1_epochs=10,
    stage2_steps=5,
    batch=16,
)


def smoke_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """The mechanism checks of the smoke run."""
    return (
        Claim(
            "The allocation spends exactly B x N demonstrations at every budget", Compare("alloc/sum_error", "<=", 0)
        ),
        Claim(
            "A constant controller reproduces the uniform allocation input for input",
            Compare("alloc/constant_is_uniform", ">=", 1.0),
        ),
        Claim("The stage-1 cross-entropy drops", Compare("stage1/loss_last", "<", "stage1/loss_first")),
    )


def full_claims(config: ExperimentConfig) -> tuple[Claim, ...]:
    """DynaICL vs uniform at matched tokens per budget, tokens to uniform's k = 8 accuracy, oracle >= DynaICL,
    transfer to G2, and the non-degeneracy of the uniform curve (also a guard of every comparison).

    Every arm of a seed shares the seed's test inputs, demonstration draws and G: paired intervals. Resolution:
    one test input, 1 / n_test."""
    res = 1.0 / (config.test_tasks * config.test_per_task)
    t = f"b{config.target_budget:g}"
    rising = Compare(f"uniform/{t}/accuracy", ">", "uniform/k0_accuracy", margin=0.1)
    claims = []
    for b in config.budgets:
        claims.append(
            Claim(
                f"DynaICL >= uniform at B = {b:g} demonstrations per input (matched tokens)",
                NoWorse(f"dynaicl/b{b:g}/accuracy", f"uniform/b{b:g}/accuracy", resolution=res),
                guards=(rising, Within(f"dynaicl/b{b:g}/tokens", f"uniform/b{b:g}/tokens", 1e-9)),
                mechanism=(Compare(f"dynaicl/b{b:g}/alloc_std", ">", 0.0),),
            )
        )
    claims += [
        Claim(
            f"DynaICL needs fewer prompt tokens than uniform to reach uniform's accuracy at B = "
            f"{config.target_budget:g}",
            Better("dynaicl/tokens_to_target", "uniform/tokens_to_target", better="lower"),
            guards=(rising,),
            mechanism=(Compare(f"dynaicl/b{config.budgets[0]:g}/alloc_std", ">", 0.0),),
        ),
        Claim(
            "The oracle k* allocation >= DynaICL (mean accuracy over the budgets)",
            NoWorse("oracle/mean_accuracy", "dynaicl/mean_accuracy", resolution=res),
            guards=(rising,),
        ),
        Claim(
            "DynaICL >= uniform on a second generalist it was not trained for (mean accuracy over the budgets)",
            NoWorse("g2_dynaicl/mean_accuracy", "g2_uniform/mean_accuracy", resolution=res),
            guards=(Compare(f"g2_uniform/{t}/accuracy", ">", "g2_uniform/k0_accuracy", margin=0.1),),
        ),
        Claim(
            f"Non-degeneracy: uniform at k = {config.target_budget:g} beats k = 0 by 10 points",
            Better(f"uniform/{t}/accuracy", "uniform/k0_accuracy", margin=0.1, resolution=res),
        ),
    ]
    return tuple(claims)


BENCHMARK = Benchmark(
    slug="dynaicl",
    title="Efficient Prompting via Dynamic In-Context Learning (DynaICL, arXiv 2305.11170)",
    framework="torch",
    scales={"smoke": SMOKE, "full": ExperimentConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": paper.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("alloc/constant_is_uniform", better="higher", tolerance=0.0),
        MetricSpec("alloc/sum_error", better="lower", tolerance=0.0),
        MetricSpec("*accuracy", better="higher", tolerance=0.15),
        MetricSpec("*/tokens*", better="lower", tolerance=0.5),
        MetricSpec("stage1/loss_last", better="lower", tolerance=0.2, relative=True),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs="a GPU, FLAN-T5 and open causal LMs (hub ids or local folders) and the tasks as JSONL files",
)
