"""PyTorch helpers shared by the torch papers (imported only by them: this module imports torch).

- :func:`configure`: threads and deterministic algorithms for reproducible runs.
- :func:`warmup_cosine_schedule`: linear warm-up then cosine decay to 0, stepped per optimizer step.
- :func:`weight_decay_groups`: parameter groups with weight decay on matrices and kernels only (no decay
  on biases, norm gains, position or class tokens), as nanoGPT, timm and the transformer recipes do.
- :func:`standard_optimizer_params` and :func:`median_step_time`: the optimizer speed benchmark every
  optimizer paper reports, as ratios against ``torch.optim.AdamW(fused=True)`` in the same process.

Submodules: :mod:`~paperzoo.shared.torch.optim` (the machinery of the optimizer papers: bucketing, float32
state, the compiled step and its fallback, the speed figures), :mod:`~paperzoo.shared.torch.lm` (left padding,
KV-cache sampling, token log-probs and GAE for causal LMs), :mod:`~paperzoo.shared.torch.many` (many small
models of one architecture trained at once, vmapped) and :mod:`~paperzoo.shared.torch.testing`.
The torch testbeds (experiments several papers share) live in :mod:`paperzoo.shared.testbeds`.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from paperzoo.shared.validate import check_non_negative, check_positive_int

# The standard optimizer benchmark set: 4.5M float32 parameters in the shapes of a small conv net +
# transformer block: four 1024x1024 matrices, two 256x64x3x3 conv kernels, eight 1024 vectors.
STANDARD_SHAPES: tuple[tuple[int, ...], ...] = ((1024, 1024),) * 4 + ((256, 64, 3, 3),) * 2 + ((1024,),) * 8


# The Hugging Face libraries whose INFO logs and deprecation/user warnings are not our news.
HF_LIBRARIES = ("transformers", "peft", "accelerate")


def configure(threads: int | None = None, deterministic: bool = True, quiet: Sequence[str] = ()) -> None:
    """Set torch's intra-op threads (when given) and ask for deterministic algorithms where torch has them.

    ``quiet`` names libraries (e.g. :data:`HF_LIBRARIES`) whose loggers are set to ERROR and whose
    ``UserWarning``/``FutureWarning`` are ignored.
    """
    if threads is not None:
        torch.set_num_threads(check_positive_int("threads", threads))
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    for library in quiet:
        logging.getLogger(library).setLevel(logging.ERROR)
        for category in (UserWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=rf"{library}(\.|$)")


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, steps: int, warmup: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps`` (Hugging Face's ``cosine``).

    The factor of the base learning rate at step i (0-based): (i + 1)/warmup for i < warmup, else
    ½(1 + cos(π (i − warmup) / max(1, steps − warmup))). Stepped once per optimizer step.
    """

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups of ``model``'s trainable parameters: decayed (``p.ndim >= 2``) and not decayed.

    ``[{"params": matrices and kernels, "weight_decay": weight_decay}, {"params": the rest, "weight_decay": 0}]``:
    biases, norm gains and 1-D tokens get no decay. Parameters shared between modules appear once;
    an empty group is dropped. ``ValueError`` for a negative ``weight_decay``.
    """
    check_non_negative("weight_decay", weight_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def standard_optimizer_params(
    seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> list[torch.nn.Parameter]:
    """The standard benchmark parameters, each with a random gradient already set."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for shape in STANDARD_SHAPES:
        p = torch.nn.Parameter(torch.randn(shape, generator=gen, dtype=dtype).to(device))
        p.grad = torch.randn(shape, generator=gen, dtype=dtype).to(device)
        params.append(p)
    return params


def median_step_time(
    make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    device: str | torch.device = "cpu",
    steps: int = 50,
    warmup: int = 10,
) -> dict[str, float]:
    """Median wall time of ``optimizer.step()`` on the standard set, and the time of the warm-up steps.

    The first ``warmup`` steps (state allocation, and compilation for compiled optimizers, which may
    start after a few steps) are timed together as ``warmup_s``; then ``steps`` steps are timed one by one.
    """
    check_positive_int("steps", steps)
    check_positive_int("warmup", warmup)
    params = standard_optimizer_params(device=device)
    optimizer = make_optimizer(params)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    start = time.perf_counter()
    for _ in range(warmup):
        optimizer.step()
    sync()
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.step()
        sync()
        times.append(time.perf_counter() - start)
    return {"median_step_s": statistics.median(times), "warmup_s": warmup_s}
