"""The speed figure of APG: a 50-step DDIM run with APG against the same run with CFG, in the same process.

The issue's target: APG's sampler time at most 1.15x CFG's (digits eps-MLP, batch 4096): APG adds one batched
float64 reduction per step to the two model evaluations both arms make.
"""

from __future__ import annotations

import statistics
import time

import torch

from paperzoo.apg.model import EpsMLP
from paperzoo.apg.sampler import Guidance, GuidedSampler


def perf(device: str, batch: int = 4096, repeats: int = 3) -> dict[str, float]:
    """Median seconds of a 50-step sampling of ``batch`` digits with CFG and with APG (w = 8), and their ratio."""
    torch.manual_seed(0)
    model = EpsMLP((8, 8), 10, 512, 2).to(device).eval()
    sampler = GuidedSampler(model, model.null_label, 50)
    noise = torch.randn(batch, 8, 8, device=device)
    labels = torch.arange(batch, device=device) % 10
    arms = {"cfg": Guidance("cfg", 8.0), "apg": Guidance("apg", 8.0, eta=0.0, r=1.0, beta=-0.5)}
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(repeats + 1):  # the first round warms up
        for name, guidance in arms.items():
            sync()
            start = time.perf_counter()
            sampler.sample(noise, labels, guidance)
            sync()
            times[name].append(time.perf_counter() - start)
    cfg, apg = (statistics.median(times[name][1:]) for name in ("cfg", "apg"))
    return {"cfg_sample_s": cfg, "apg_sample_s": apg, "apg_over_cfg": apg / cfg}
