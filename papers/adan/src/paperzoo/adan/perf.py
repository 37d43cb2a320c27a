"""Adan's speed figures (``make perf-adan``): step time as ratios to fused AdamW, and the state size."""

from __future__ import annotations

from paperzoo.adan.optimizer import IMPLEMENTATIONS, Adan
from paperzoo.shared.torch.optim import FUSED_ADAMW, ratio_figures, time_optimizers


def perf(device: str) -> dict[str, float]:
    """Median ``step()`` time on the standard 4.5M-parameter set, as ratios to fused AdamW (1 thread).

    ``single_tensor`` is the official per-parameter form (the official code's ``foreach=False`` loop).
    ``warmup_s`` of the compiled default includes a cold compile (the inductor cache is disabled).
    """
    timings = time_optimizers(
        {f"adan_{i}": lambda ps, i=i: Adan(ps, lr=1e-3, weight_decay=0.02, implementation=i) for i in IMPLEMENTATIONS},
        device,
    )
    figures = ratio_figures(timings, ("step_ms", "step_over_adamw_fused", "warmup_s"))
    compiled, official_form = timings["adan_compiled"], timings["adan_single_tensor"]
    figures["adan_compiled/speedup_over_official_form"] = official_form.median_step_s / compiled.median_step_s
    figures["adan/state_bytes_per_param"] = compiled.state_bytes_per_param  # 4 float32 tensors: 16
    figures["adamw_fused/state_bytes_per_param"] = timings[FUSED_ADAMW].state_bytes_per_param  # 8
    return figures
