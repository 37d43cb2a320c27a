"""The scale runners of POLAR: pre-train a policy discriminator, fine-tune it and its baselines on preferences.

One seed (``run_cpu``): prompts split into pre-training, fine-tuning, validation and test sets; the pool's last
``held_out`` policies never appear in pre-training or fine-tuning (the unseen-policy test). Pre-training runs on
``pretrain_triplets`` POLAR triplets and, for the compute sweep, on the first fractions of them (each run with its
own full schedule). Fine-tuning: every arm (POLAR from the pre-trained weights, the reference RM from scratch, the
reference-free Bradley-Terry RM from scratch) at every preference-set size and every learning rate of the grid;
each arm's learning rate is chosen per size by validation accuracy. The pre-trained RM without fine-tuning is
the fourth arm. Independent runs go to worker processes (:func:`paperzoo.shared.parallel.run_jobs`); every run is
seeded from the seed by name, so the numbers do not depend on the number of workers.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import torch

from paperzoo.polar.encoding import PolarTokenizer, encode_polar, encode_reference_free, polar_text
from paperzoo.polar.model import PolarRM, RMConfig, build_llama_rm
from paperzoo.polar.policies import PolicyPool, Prompt, Triplet, draw_prompts, preference_pairs, sample_triplets
from paperzoo.polar.training import Pair, TrainConfig, pairwise_accuracy, train_rm
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure

ARMS = ("polar", "scratch_ref", "scratch_bt")  # the fine-tuned arms; "polar_noft" is the fourth
TEMPLATE_EXAMPLE = ("12+34", "46", "so 46 .")
TEMPLATE_EXPECTED = "<s>12+34\n46<|reward|>12+34\nso 46 .[UNUSED_TOKEN_130]"
State = dict[str, torch.Tensor]


def _encode(trips: list[Triplet], tok: PolarTokenizer, reference: bool) -> list[Pair]:
    if reference:
        return [tuple(encode_polar(t.prompt, t.reference, [t.chosen, t.rejected], tok)) for t in trips]  # type: ignore[misc]
    return [
        (encode_reference_free(t.prompt, t.chosen, tok), encode_reference_free(t.prompt, t.rejected, tok))
        for t in trips
    ]


def _new_rm(rm: RMConfig, tok: PolarTokenizer, seed: int, state: State | None = None) -> PolarRM:
    torch.manual_seed(seed)
    model = PolarRM(build_llama_rm(rm, len(tok), tok.pad_token_id))
    if state is not None:
        model.load_state_dict(state)
    return model


def pretrain_job(
    rm_config: RMConfig, train: TrainConfig, trips: list[Triplet], tests: dict[str, list[Triplet]], seed: int
) -> tuple[State, dict[str, float], float]:
    """Pre-train one RM on ``trips`` (reference y_A1, chosen y_A2, rejected y_B); return its weights, its
    same-vs-different-policy accuracy on each test set, and its CPU seconds."""
    configure(threads=1, quiet=("transformers",))
    tok = PolarTokenizer()
    start = time.process_time()
    rm = _new_rm(rm_config, tok, derive(seed, "rm init"))
    train_rm(rm, _encode(trips, tok, True), train, derive(seed, "pretrain order"))
    accuracy = {name: pairwise_accuracy(rm, _encode(t, tok, True)) for name, t in tests.items()}
    state = {k: v.detach().clone() for k, v in rm.state_dict().items()}
    return state, accuracy, time.process_time() - start


def finetune_job(
    rm_config: RMConfig,
    train: TrainConfig,
    state: State | None,
    reference: bool,
    trips: list[Triplet],
    evals: dict[str, list[Triplet]],
    seed: int,
) -> dict[str, float]:
    """Fine-tune one arm (from ``state``, or from scratch when None) on preference triplets; its accuracy on
    each evaluation set."""
    configure(threads=1, quiet=("transformers",))
    tok = PolarTokenizer()
    rm = _new_rm(rm_config, tok, derive(seed, "rm init"), state)
    train_rm(rm, _encode(trips, tok, reference), train, derive(seed, "finetune order"))
    return {name: pairwise_accuracy(rm, _encode(t, tok, reference)) for name, t in evals.items()}


def identity_rate(rm: PolarRM, trips: list[Triplet], tok: PolarTokenizer) -> float:
    """The fraction of triplets with r(x, y, y) > r(x, y, y_other): the candidate identical to the reference wins."""
    same = rm.score([encode_polar(t.prompt, t.reference, t.reference, tok) for t in trips])
    other = rm.score([encode_polar(t.prompt, t.reference, t.rejected, tok) for t in trips])
    return float((same > other).float().mean())


def loglog_fit(compute: list[float], accuracy: list[float]) -> tuple[float, float]:
    """Slope and Pearson correlation of log(1 - accuracy) against log(compute) (a power law is a straight line)."""
    x = np.log(np.asarray(compute, dtype=np.float64))
    y = np.log(np.clip(1.0 - np.asarray(accuracy, dtype=np.float64), 1e-6, None))
    slope = float(np.polyfit(x, y, 1)[0])
    corr = float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 0 else math.nan
    return slope, corr


def edge_gain(val: list[float]) -> float:
    """How much the best grid point beats the best interior one when it is an edge of the grid (0 when the best
    is interior; 1, the largest possible gap, when the grid has no interior). A small gain is a flat validation
    curve at the edge, not an optimum cut off by the grid; ties go to the smaller rate, as the selection does."""
    if len(val) < 3:
        return 1.0
    best = max(range(len(val)), key=lambda i: (val[i], -i))
    return val[best] - max(val[1:-1]) if best in (0, len(val) - 1) else 0.0


def _splits(config: Any, seed: int) -> dict[str, list[Prompt]]:
    rng = random.Random(derive(seed, "prompts"))
    test = draw_prompts(config.n_test_prompts, rng)
    val = draw_prompts(config.n_val_prompts, rng, exclude=set(test))
    train = draw_prompts(config.n_train_prompts, rng, exclude=set(test) | set(val))
    return {"train": train, "val": val, "test": test}


def run_cpu(config: Any, seed: int) -> Result:
    """One seed of the smoke or full scale (the two differ only in their config)."""
    configure(threads=1, quiet=("transformers",))
    start = time.perf_counter()
    tok = PolarTokenizer()
    pool = PolicyPool(config.n_policies, seed=config.pool_seed)
    seen = list(range(config.n_policies - config.held_out))
    unseen = list(range(config.n_policies - config.held_out, config.n_policies))
    prompts = _splits(config, seed)
    rng = random.Random(derive(seed, "data"))
    pre_trips = sample_triplets(pool, seen, prompts["train"], config.pretrain_triplets, rng)
    pre_tests = {"id": sample_triplets(pool, seen, prompts["test"], config.n_test, rng)}
    if unseen and len(unseen) >= 2:
        pre_tests["ood"] = sample_triplets(pool, unseen, prompts["test"], config.n_test, rng)
    fractions = sorted(set(config.sweep_fractions) | {1.0})
    pre_train = TrainConfig(
        lr=config.pretrain_lr, epochs=1, batch_size=config.pretrain_batch, start_factor=config.start_factor
    )
    jobs = [
        (pretrain_job, (config.rm, pre_train, pre_trips[: max(1, round(f * len(pre_trips)))], pre_tests, seed))
        for f in fractions
    ]
    pre = run_jobs(jobs, workers=config.workers, desc="pre-training")
    state, pre_acc, pre_cpu = pre[-1]
    metrics: dict[str, float] = {f"polar/pretrain_{k}_accuracy": v for k, v in pre_acc.items()}
    rm = _new_rm(config.rm, tok, 0, state).eval()
    metrics["polar/identity_rate"] = identity_rate(rm, pre_tests["id"], tok)
    metrics["polar/pretrain_cpu_s"] = pre_cpu
    metrics["template/matches_spec"] = float(
        tok.decode(encode_polar(*TEMPLATE_EXAMPLE, tok)) == TEMPLATE_EXPECTED
        and polar_text(*TEMPLATE_EXAMPLE) == TEMPLATE_EXPECTED.removeprefix("<s>")
    )
    series: dict[str, list[float]] = {}
    if len(fractions) > 1:
        compute = [f / fractions[0] for f in fractions]
        accs = [p[1]["id"] for p in pre]
        for c, a in zip(compute, accs, strict=True):
            metrics[f"sweep/pretrain_accuracy_x{c:g}"] = a
        metrics["sweep/loglog_slope"], metrics["sweep/loglog_corr"] = loglog_fit(compute, accs)
        series["sweep/compute"], series["sweep/pretrain_accuracy"] = compute, accs

    # fine-tuning data: the largest set's first n pairs make every smaller set (nested, as the paper's curves)
    ft_rng = random.Random(derive(seed, "preferences"))
    ft_all = preference_pairs(pool, seen, prompts["train"], max(config.sizes), ft_rng)
    evals = {
        "val": preference_pairs(pool, seen, prompts["val"], config.n_val, ft_rng),
        "id": preference_pairs(pool, seen, prompts["test"], config.n_test, ft_rng),
    }
    if len(unseen) >= 2:
        evals["ood"] = preference_pairs(pool, unseen, prompts["test"], config.n_test, ft_rng)
    for name, trips in evals.items():
        if name != "val":
            metrics[f"polar_noft/{name}_accuracy"] = pairwise_accuracy(rm, _encode(trips, tok, True))
    runs = [(arm, n, lr) for n in config.sizes for arm in ARMS for lr in config.lr_grid]
    jobs = [
        (
            finetune_job,
            (
                config.rm,
                TrainConfig(
                    lr=lr, epochs=config.epochs, batch_size=config.batch_size, start_factor=config.start_factor
                ),
                state if arm == "polar" else None,
                arm != "scratch_bt",
                ft_all[:n],
                evals,
                derive(seed, "finetune", arm, n),
            ),
        )
        for arm, n, lr in runs
    ]
    results = dict(zip(runs, run_jobs(jobs, workers=config.workers, desc="fine-tuning"), strict=True))
    for arm in ARMS:
        for n in config.sizes:
            # the learning rate with the best validation accuracy (ties: the first, i.e. the smallest)
            best = max(range(len(config.lr_grid)), key=lambda i: (results[arm, n, config.lr_grid[i]]["val"], -i))
            chosen = results[arm, n, config.lr_grid[best]]
            for name, value in chosen.items():
                metrics[f"{arm}/{name}_accuracy_n{n}"] = value
            metrics[f"{arm}/lr_n{n}"] = config.lr_grid[best]
            metrics[f"{arm}/lr_at_edge_n{n}"] = float(best in (0, len(config.lr_grid) - 1))
            metrics[f"{arm}/lr_edge_gain_n{n}"] = edge_gain([results[arm, n, lr]["val"] for lr in config.lr_grid])
            series[f"{arm}/id_accuracy"] = [metrics[f"{arm}/id_accuracy_n{m}"] for m in config.sizes if m <= n]
    for base in ("scratch_ref", "scratch_bt"):
        gaps = [metrics[f"polar/id_accuracy_n{n}"] - metrics[f"{base}/id_accuracy_n{n}"] for n in config.sizes]
        small = [g for n, g in zip(config.sizes, gaps, strict=True) if n <= config.small_size]
        if small and len(small) < len(gaps):
            metrics[f"gap/{base}_small_minus_large"] = max(small) - gaps[-1]
    metrics["run/wall_s"] = time.perf_counter() - start
    return Result(metrics=metrics, series=series)
