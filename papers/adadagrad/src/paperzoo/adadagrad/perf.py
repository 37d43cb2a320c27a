"""AdAdaGrad's speed figures (``make perf-adadagrad``), as ratios measured in one process (1 thread).

- the test's overhead: per-sample gradients (``vmap(grad)``) of a b = 256 digits batch on the CNN, against one
  forward-backward of the same batch and against a loop of per-sample backward passes;
- ``AdaGradNorm.step`` on the standard 4.5M-parameter set against fused AdamW (:func:`time_optimizers`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from paperzoo.adadagrad.models import DigitsCNN
from paperzoo.adadagrad.optimizer import IMPLEMENTATIONS, AdaGradNorm
from paperzoo.adadagrad.per_sample import per_sample_grads, per_sample_grads_loop
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.testbeds.classify import as_tensors
from paperzoo.shared.torch.optim import ratio_figures, time_optimizers


def _median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_sample_figures(batch: int = 256, repeats: int = 10) -> dict[str, float]:
    """Median times of the per-sample gradients of ``batch`` digits, and their ratios to the two baselines."""
    data = as_tensors(load_digits_split(), "cpu")
    x, y = data["x_train"][:batch], data["y_train"][:batch]
    torch.manual_seed(0)
    model = DigitsCNN()

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    vmap_s = _median_time(lambda: per_sample_grads(model, x, y, chunk_size=batch), repeats)
    step_s = _median_time(forward_backward, repeats)
    loop_s = _median_time(lambda: per_sample_grads_loop(model, x, y), max(1, repeats // 3), warmup=1)
    return {
        "per_sample/vmap_ms": vmap_s * 1e3,
        "per_sample/forward_backward_ms": step_s * 1e3,
        "per_sample/vmap_over_forward_backward": vmap_s / step_s,
        "per_sample/loop_over_vmap": loop_s / vmap_s,
    }


def perf(device: str) -> dict[str, float]:
    """The per-sample gradient ratios (CPU) and AdaGrad-Norm's step time against fused AdamW on ``device``."""
    timings = time_optimizers(
        {f"adagradnorm_{i}": lambda ps, i=i: AdaGradNorm(ps, lr=1e-2, implementation=i) for i in IMPLEMENTATIONS},
        device,
    )
    figures = ratio_figures(timings, ("step_ms", "step_over_adamw_fused", "warmup_s"))
    return figures | per_sample_figures()
