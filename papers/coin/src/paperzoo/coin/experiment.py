"""The scale runners of the CoIN benchmark (declared in :mod:`paperzoo.coin.bench`).

- :func:`run_smoke`: a tiny Llama pretrained for a few steps, three tasks of 30 steps for LoRA, dynamic EMA and
  dynamic EMA + grouping; the EMA and grouping sanity checks.
- :func:`run_full`: the 4-layer d = 128 Llama pretrained on the generic skill stream (cached on disk), the six
  instruction tasks in sequence for every arm (the arms of a seed on both cores), the accuracy matrices.
- :func:`run_paper`: LLaVA-1.5-7B on the CoIN benchmark is a GPU run of the official code; the config records
  its settings and refuses to start here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from paperzoo.coin.continual import ArmResult, backward_transfer, forgetting, run_arm
from paperzoo.coin.grouping import InstructionGrouper
from paperzoo.coin.tasks import TASKS, skill_stream, tokenizer
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.testbeds.arithmetic_lm import PretrainConfig, pretrained_base
from paperzoo.shared.torch import HF_LIBRARIES, configure

if TYPE_CHECKING:
    from paperzoo.coin.bench import FullConfig, PaperConfig, SmokeConfig


def base_weights(pretrain: PretrainConfig, lengths: tuple[int, ...], cache_dir: str | None) -> dict:
    """The base model pretrained on :func:`skill_stream` (cached by config, alphabet and stream name)."""
    tok = tokenizer()
    name = f"coin-skills/v1/lengths={','.join(map(str, lengths))}"
    state, _ = pretrained_base(pretrain, tok, cache_dir, stream=skill_stream(tok, lengths), stream_name=name)
    return state


def arm_metrics(arm: str, res: ArmResult, steps: int) -> dict[str, float]:
    """``<arm>/mean_accuracy`` (final row), ``forgetting``, ``bwt``, ``min_just_trained`` (min_j a[j][j]),
    ``step_ms``, ``loss_ratio`` (the first ``steps`` losses: last 10 / first 10); EMA arms add
    ``fallback_share`` (dynamic), ``alpha_mean`` / ``alpha_min`` / ``alpha_max`` (per step, mean over tensors),
    ``ema_raw_gap`` (max |theta* - theta| at the first task's end)."""
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
    if arm == "grouping":
        out["grouping/n_groups"] = float(max(res.groups) + 1)
    return out


def arm_series(arm: str, res: ArmResult) -> dict[str, list[float]]:
    series = {f"{arm}/train_loss": res.train_loss, f"{arm}/groups": [float(g) for g in res.groups]}
    for i, row in enumerate(res.matrix):
        series[f"{arm}/a_row{i}"] = [float(x) for x in row[~np.isnan(row)]]
    if res.alpha_mean:
        series[f"{arm}/alpha"] = res.alpha_mean
    return series


def _run_arm(arm: str, config: SmokeConfig | FullConfig, seed: int, state: dict) -> ArmResult:
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    return run_arm(arm, state, config.pretrain.model, config.continual, seed, tokenizer())


def grouping_checks(threshold: float) -> dict[str, float]:
    """The smoke's grouping sanity: a verbatim repeat reuses its group, a disjoint instruction makes a new one."""
    grouper = InstructionGrouper(threshold)
    grouper.assign(TASKS[0].instructions)
    reuse = grouper.assign(TASKS[0].instructions[:1]) == (0, False)
    new = grouper.assign(TASKS[1].instructions) == (1, True)
    return {"grouping/reuses_verbatim": float(reuse), "grouping/new_for_disjoint": float(new)}


def _run(config: SmokeConfig | FullConfig, seed: int, workers: int) -> Result:
    configure(threads=1, deterministic=True, quiet=HF_LIBRARIES)
    state = base_weights(config.pretrain, config.continual.lengths, config.cache_dir)
    arms = config.continual.arms
    results = run_jobs([(_run_arm, (arm, config, seed, state)) for arm in arms], workers, desc=f"arms, seed {seed}")
    metrics: dict[str, float] = grouping_checks(config.continual.threshold)
    series: dict[str, list[float]] = {}
    for arm, res in zip(arms, results, strict=True):
        metrics |= arm_metrics(arm, res, config.continual.steps)
        series |= arm_series(arm, res)
    return Result(metrics, series)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    return _run(config, seed, workers=1)


def run_full(config: FullConfig, seed: int) -> Result:
    return _run(config, seed, workers=config.workers)


def run_paper(config: PaperConfig, seed: int) -> Result:
    """The paper scale is the official LLaVA-1.5 CoIN pipeline on GPUs; this package does not ship LLaVA."""
    raise NotImplementedError(
        "the paper scale (LLaVA-1.5-7B on CoIN) runs the official code with this config's settings: "
        "https://github.com/JingyangQiao/CoIN; the EMA and grouping of this package plug into any peft LoRA"
    )
