"""AdamP's and SGDP's speed figures (``make perf-adamp``): step time as ratios to fused AdamW."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from paperzoo.adamp.optimizer import IMPLEMENTATIONS, SGDP, AdamP
from paperzoo.shared.torch import median_step_time
from paperzoo.shared.torch.optim import FUSED_ADAMW, ratio_figures, time_optimizers


def perf(device: str) -> dict[str, float]:
    """Median ``step()`` time on the standard 4.5M-parameter set, as ratios to fused AdamW (1 thread).

    AdamP (wd 1e-2) and SGDP (Nesterov, wd 1e-5: the official README's settings) in each implementation,
    and the compiled AdamP with δ = 1e6, which projects every matrix (with the standard set's random
    gradients δ = 0.1 never fires, so the foreach and single-tensor paths skip the projection there; the
    compiled step always computes it). Against the official ``adamp`` package, same settings.
    ``warmup_s`` of the compiled steps includes a cold compile (the inductor cache is disabled).
    """
    factories: dict[str, Callable[[list[nn.Parameter]], torch.optim.Optimizer]] = {}
    for i in IMPLEMENTATIONS:
        factories[f"adamp_{i}"] = lambda ps, i=i: AdamP(ps, lr=1e-3, weight_decay=1e-2, implementation=i)
    factories["adamp_compiled_always_projecting"] = lambda ps: AdamP(ps, lr=1e-3, weight_decay=1e-2, delta=1e6)
    for i in IMPLEMENTATIONS:
        factories[f"sgdp_{i}"] = lambda ps, i=i: SGDP(
            ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-5, implementation=i
        )
    timings = time_optimizers(factories, device)
    figures = ratio_figures(timings, ("step_ms", "step_over_adamw_fused", "warmup_s"))
    figures["adamp/state_bytes_per_param"] = timings["adamp_compiled"].state_bytes_per_param
    figures["sgdp/state_bytes_per_param"] = timings["sgdp_compiled"].state_bytes_per_param
    try:
        import adamp as official
    except ImportError:  # the official package is a dev dependency of the workspace, not of this paper
        return figures
    base = timings[FUSED_ADAMW].median_step_s
    for name, make, ours in (
        ("adamp", lambda ps: official.AdamP(ps, lr=1e-3, weight_decay=1e-2), "adamp_compiled"),
        (
            "adamp_always_projecting",
            lambda ps: official.AdamP(ps, lr=1e-3, weight_decay=1e-2, delta=1e6),
            "adamp_compiled_always_projecting",
        ),
        ("sgdp", lambda ps: official.SGDP(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-5), "sgdp_compiled"),
    ):
        t = median_step_time(make, device)["median_step_s"]
        figures[f"official_{name}/step_over_adamw_fused"] = t / base
        figures[f"{ours}/speedup_over_official"] = t / timings[ours].median_step_s
    return figures
