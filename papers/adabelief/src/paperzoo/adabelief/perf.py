"""AdaBelief's speed figures (``make perf-adabelief``): step time as ratios against fused AdamW in the same process."""

from __future__ import annotations

import contextlib
import io

from paperzoo.adabelief.optimizer import IMPLEMENTATIONS, AdaBelief
from paperzoo.shared.torch import median_step_time
from paperzoo.shared.torch.optim import FUSED_ADAMW, ratio_figures, time_optimizers


def perf(device: str) -> dict[str, float]:
    """Median ``step()`` time on the standard 4.5M-parameter set, as ratios to fused AdamW (1 thread).

    ``warmup_s`` is the time of the first 10 steps; for the compiled default it includes a cold compile
    (the on-disk inductor cache is disabled while it is measured).
    """
    timings = time_optimizers(
        {f"adabelief_{i}": lambda ps, i=i: AdaBelief(ps, lr=1e-3, implementation=i) for i in IMPLEMENTATIONS}, device
    )
    figures = ratio_figures(timings, ("step_over_adamw_fused", "warmup_s"))
    try:
        from adabelief_pytorch import AdaBelief as Official
    except ImportError:  # the official package is a dev dependency of the workspace, not of this paper
        return figures
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner per instance
        t = median_step_time(lambda ps: Official(ps, lr=1e-3, print_change_log=False), device)
    adamw, compiled = timings[FUSED_ADAMW].median_step_s, timings["adabelief_compiled"].median_step_s
    figures["official_adabelief_pytorch/step_over_adamw_fused"] = t["median_step_s"] / adamw
    figures["adabelief_compiled/speedup_over_official"] = t["median_step_s"] / compiled
    return figures
