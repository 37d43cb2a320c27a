"""The speed figures of SGD-SaI: median ``step()`` time against fused AdamW, torch's SGD and the official package."""

from __future__ import annotations

import contextlib
import io

import torch

from paperzoo.sgd_sai.optimizer import IMPLEMENTATIONS, SGDSaI
from paperzoo.sgd_sai.training import SGDM_MOMENTUM
from paperzoo.shared.torch import median_step_time
from paperzoo.shared.torch.optim import FUSED_ADAMW, ratio_figures, time_optimizers


def perf(device: str) -> dict[str, float]:
    """Median ``step()`` time on the standard 4.5M-parameter set, as ratios to fused AdamW (1 thread).

    Also against ``torch.optim.SGD(momentum=0.9, foreach=True)`` (one state tensor, like SGD-SaI) and the
    official ``sgd-sai`` v1.0.3 package (where installed). ``warmup_s`` of the compiled default includes a
    cold compile (the inductor cache is disabled).
    """
    timings = time_optimizers(
        {
            "sgdm_foreach": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=SGDM_MOMENTUM, foreach=True),
            **{f"sgd_sai_{i}": lambda ps, i=i: SGDSaI(ps, lr=1e-3, implementation=i) for i in IMPLEMENTATIONS},
        },
        device,
    )
    figures = ratio_figures(timings, ("step_ms", "step_over_adamw_fused", "warmup_s", "state_bytes_per_param"))
    sgdm = timings["sgdm_foreach"].median_step_s
    for implementation in IMPLEMENTATIONS:
        figures[f"sgd_sai_{implementation}/step_over_sgdm_foreach"] = (
            timings[f"sgd_sai_{implementation}"].median_step_s / sgdm
        )
    figures["adamw_fused/state_bytes_per_param"] = timings[FUSED_ADAMW].state_bytes_per_param
    try:
        from sgd_sai import SGD_sai as Official
    except ImportError:  # the official package is a dev dependency of the workspace, not of this paper
        return figures
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner at its first step
        official = median_step_time(lambda ps: Official(ps, lr=1e-3), device)["median_step_s"]
    adamw = timings[FUSED_ADAMW].median_step_s
    figures["official_sgd_sai/step_over_adamw_fused"] = official / adamw
    figures["sgd_sai_compiled/speedup_over_official"] = official / timings["sgd_sai_compiled"].median_step_s
    return figures
