"""The scale runners of the CoIN benchmark (declared in :mod:`paperzoo.coin.bench`).

- :func:`run_smoke`: a tiny Llama pretrained for a few steps, three tasks of 30 steps for LoRA, dynamic EMA and
  dynamic EMA + grouping; the EMA and grouping sanity checks.
- :func:`run_full`: the 4-layer d = 128 Llama pretrained on the generic skill stream (cached on disk), the six
  instruction tasks in sequence for every arm (the arms of a seed on both cores), the accuracy matrices.
- :func:`run_paper`: LLaVA-1.5-7B (transformers) on CoIN-format data with the official settings (:mod:`.paper`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from paperzoo.coin.continual import ArmResult, backward_transfer, forgetting, run_arms
from paperzoo.coin.grouping import InstructionGrouper
from paperzoo.coin.paper import run_continual
from paperzoo.coin.tasks import TASKS, skill_stream, tokenizer
from paperzoo.shared import Result, lr_grid
from paperzoo.shared.lr_grid import grid_key
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.testbeds.arithmetic_lm import PretrainConfig, pretrained_base
from paperzoo.shared.torch import HF_LIBRARIES, configure
from paperzoo.shared.validate import check_positive_int

if TYPE_CHECKING:
    from paperzoo.coin.bench import FullConfig, PaperConfig, SmokeConfig


def base_weights(pretrain: PretrainConfig, lengths: tuple[int, ...], cache_dir: str | None, threads: int = 1) -> dict:
    """The base model pretrained on :func:`skill_stream` by the shared testbed
    (:func:`~paperzoo.shared.testbeds.arithmetic_lm.pretrained_base`: full-parameter AdamW, warm-up + cosine, from
    ``pretrain.model.init``, which both scales set to ``"fan_in"``), cached on disk by config, alphabet and stream
    name (``cache_dir=None``: no cache). It trains on ``threads`` intra-op threads (a seed's workers: nothing else
    runs before the base exists; 1.4x faster on two idle cores, the same weights as one thread's in our check),
    then the caller's thread count is restored."""
    tok = tokenizer()
    name = f"coin-skills/lengths={','.join(map(str, lengths))}"
    previous = torch.get_num_threads()
    torch.set_num_threads(check_positive_int("threads", threads))
    try:
        state, _ = pretrained_base(pretrain, tok, cache_dir, stream=skill_stream(tok, lengths), stream_name=name)
    finally:
        torch.set_num_threads(previous)
    return state


def arm_metrics(arm: str, res: ArmResult, steps: int) -> dict[str, float]:
    """``<arm>/mean_accuracy`` (final row), ``forgetting``, ``bwt``, ``min_just_trained`` (min_j a[j][j]),
    ``step_ms``, ``loss_ratio`` (the first ``steps`` losses: last 10 / first 10); EMA arms add
    ``fallback_share`` (dynamic), ``alpha_mean`` / ``alpha_min`` / ``alpha_max`` (per step, mean over tensors),
    ``ema_raw_gap`` (max |theta* - theta| at the first task's end); ``val_accuracy`` / ``val_loss`` (the final
    model on every task's validation set), ``cpu_s`` (the run's CPU time) and ``n_groups``. ``arm`` may carry a
    learning rate (``lora@0.003``)."""
    final, first = res.matrix[-1], res.train_loss[:steps]
    out = {
        f"{arm}/mean_accuracy": float(np.mean(final)),
        f"{arm}/step_ms": res.step_ms,
        f"{arm}/loss_ratio": float(np.mean(first[-10:]) / np.mean(first[:10])),
    }
    if res.matrix.shape[0] > 1:
        out |= {
            f"{arm}/forgetting": forgetting(res.matrix),
            f"{arm}/bwt": backward_transfer(res.matrix),
            f"{arm}/min_just_trained": float(np.min(np.diag(res.matrix))),
        }
    if res.alpha_mean:
        out[f"{arm}/alpha_mean"] = float(np.mean(res.alpha_mean))
        out[f"{arm}/alpha_min"] = float(np.min(res.alpha_mean))
        out[f"{arm}/alpha_max"] = float(np.max(res.alpha_mean))
        out[f"{arm}/ema_raw_gap"] = res.ema_raw_gap
        if not math.isnan(res.fallback_share):
            out[f"{arm}/fallback_share"] = res.fallback_share
    if not math.isnan(res.val_accuracy):
        out |= {f"{arm}/val_accuracy": res.val_accuracy, f"{arm}/val_loss": res.val_loss, f"{arm}/cpu_s": res.cpu_s}
    out[f"{arm}/n_groups"] = float(max(res.groups) + 1)
    return out


def arm_series(arm: str, res: ArmResult) -> dict[str, list[float]]:
    series = {f"{arm}/train_loss": res.train_loss, f"{arm}/groups": [float(g) for g in res.groups]}
    for i, row in enumerate(res.matrix):
        series[f"{arm}/a_row{i}"] = [float(x) for x in row[~np.isnan(row)]]
    if res.alpha_mean:
        series[f"{arm}/alpha"] = res.alpha_mean
    return series


def _run_arms(
    arms: tuple[str, ...], config: SmokeConfig | FullConfig, seed: int, state: dict, lr: float
) -> dict[str, ArmResult]:
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    continual = dataclasses.replace(config.continual, lr=lr)
    return run_arms(arms, state, config.pretrain.model, continual, seed, tokenizer())


def arm_jobs(arms: tuple[str, ...], lrs: tuple[float, ...], one_job: bool) -> list[tuple[tuple[str, ...], float]]:
    """The jobs of a seed, ``(arms, lr)``: per learning rate, the continual arms in one job (they share the
    first task, :func:`~paperzoo.coin.continual.run_arms`) and the joint arm in its own (on two workers, the
    three continual jobs of the full scale and the three joint ones fill both cores evenly); ``one_job``: every
    arm in one job per learning rate."""
    if one_job:
        return [(arms, lr) for lr in lrs]
    continual = tuple(a for a in arms if a != "joint")
    return [(continual, lr) for lr in lrs if continual] + [(("joint",), lr) for lr in lrs if "joint" in arms]


def grouping_checks(threshold: float) -> dict[str, float]:
    """The smoke's grouping sanity: a verbatim repeat reuses its group, a disjoint instruction makes a new one."""
    grouper = InstructionGrouper(threshold)
    grouper.assign(TASKS[0].instructions)
    reuse = grouper.assign(TASKS[0].instructions[:1]) == (0, False)
    new = grouper.assign(TASKS[1].instructions) == (1, True)
    return {"grouping/reuses_verbatim": float(reuse), "grouping/new_for_disjoint": float(new)}


def _run(config: SmokeConfig | FullConfig, seed: int, workers: int, lrs: tuple[float, ...] | None) -> Result:
    """Every arm (at every learning rate of ``lrs``: metrics ``<arm>@<lr>/...``; without: the config's, metrics
    ``<arm>/...``) on ``workers`` processes."""
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    state = base_weights(config.pretrain, config.continual.lengths, config.cache_dir, threads=workers)
    runs = arm_jobs(config.continual.arms, lrs or (config.continual.lr,), one_job=workers == 1)
    jobs = [(_run_arms, (arms, config, seed, state, lr)) for arms, lr in runs]
    results = run_jobs(jobs, workers, desc=f"arm groups, seed {seed}")
    metrics: dict[str, float] = grouping_checks(config.continual.threshold)
    series: dict[str, list[float]] = {}
    for (arms, lr), by_arm in zip(runs, results, strict=True):
        for arm in arms:
            name = grid_key(arm, lr) if lrs else arm
            metrics |= arm_metrics(name, by_arm[arm], config.continual.steps)
            series |= arm_series(name, by_arm[arm])
    return Result(metrics, series)


def select_learning_rates(per_seed: list[dict[str, float]], tie_tolerance: float) -> list[dict[str, float]]:
    """Each arm's learning rate by its final mean validation accuracy over the seeds (shared ``lr_grid``: within
    ``tie_tolerance``, one validation example, the lower validation answer loss); every metric of the chosen run
    is copied to ``<arm>/<metric>``, where the claims read it."""
    out = lr_grid.select_learning_rates(per_seed, ("val_accuracy",), tie_tolerance)
    for m in out:
        for arm in {k.split("@")[0] for k in m if "@" in k}:
            prefix = f"{grid_key(arm, m[f'{arm}/lr'])}/"
            m |= {f"{arm}/{k[len(prefix) :]}": v for k, v in list(m.items()) if k.startswith(prefix)}
    return out


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    return _run(config, seed, workers=1, lrs=None)


def run_full(config: FullConfig, seed: int) -> Result:
    return _run(config, seed, workers=config.workers, lrs=config.lrs)


def run_paper(config: PaperConfig, seed: int) -> Result:
    """Every arm of ``config.arms`` from a fresh ``LlavaForConditionalGeneration`` over the CoIN tasks in order
    (:func:`paperzoo.coin.paper.run_continual`): ``<arm>/mean_accuracy`` (final row), ``forgetting``, ``bwt``,
    ``min_just_trained``, ``final_train_loss``, alpha_t statistics; series ``a_row<i>``, ``train_loss``,
    ``alpha``."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    configure(deterministic=False, quiet=HF_LIBRARIES)
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for arm in config.arms:
        processor = AutoProcessor.from_pretrained(config.base_model)
        model = LlavaForConditionalGeneration.from_pretrained(config.base_model, dtype=getattr(torch, config.dtype))
        res = run_continual(arm, config, model.to(config.device), processor, seed)
        found = arm_metrics(arm, res, len(res.train_loss))
        metrics |= {k: v for k, v in found.items() if not math.isnan(v)}
        metrics[f"{arm}/final_train_loss"] = res.train_loss[-1]
        series |= arm_series(arm, res)
    return Result(metrics, series)
