"""The speed figures of dmm (``python -m paperzoo.dmm --perf``; never run in CI): the shared stacked trainer vs a loop
of single models with ``torch.optim.SGD``, and one DMM request vs retraining one oracle, in the same process, as CPU
time on one thread (``time.process_time``: what other processes on a shared machine take is not counted)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def cpu_seconds(fn: Callable[[], object]) -> float:
    """The CPU time of one call of ``fn``, after a full garbage collection (so that none lands inside by chance)."""
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def perf(device: str) -> dict[str, float]:
    """Model-steps/s of the shared ``train_many`` (after one warm-up call) and of a Python loop of single models
    (each built under its seed, ``torch.optim.SGD``, the same batches), on 256 digits MLPs x 1 epoch of 1,000
    points, the better of 3 alternating runs each; a DMM request (official defaults, |F| = 100) vs one oracle
    retrained on S \\ F."""
    import torch
    from torch.nn import functional as F

    from paperzoo.dmm.datamodels import fit_datamodels, half_subsets, random_forget
    from paperzoo.dmm.experiment import load_data
    from paperzoo.dmm.stacked import outputs_stacked
    from paperzoo.dmm.unlearn import MatchConfig, dmm_unlearn
    from paperzoo.shared.testbeds.classify import MLP
    from paperzoo.shared.torch.many import train_many

    torch.set_num_threads(1)
    d = load_data(1000)
    x, y = d["x_train"], d["y_train"]
    m, epochs, batch = 256, 1, 100
    seeds = list(range(m))
    rows = torch.arange(1000).expand(m, -1)
    steps = m * epochs * 10

    def factory() -> torch.nn.Module:
        return MLP(64, 64, 10)

    def loop() -> None:
        for seed in seeds:
            torch.manual_seed(seed)
            model = factory()
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            g = torch.Generator().manual_seed(seed)
            for _ in range(epochs):
                for b in torch.randperm(1000, generator=g).split(batch):
                    opt.zero_grad()
                    F.cross_entropy(model(x[b]), y[b]).backward()
                    opt.step()

    def many() -> None:
        train_many(factory, seeds, rows, x, y, epochs=epochs, batch_size=batch, lr=0.05, momentum=0.9)

    train_many(factory, seeds[:2], rows[:2], x, y, epochs=1, batch_size=batch, lr=0.05)  # warm-up
    figures: dict[str, float] = {}
    best = {"loop": float("inf"), "train_many": float("inf")}
    for _ in range(3):
        for name, fn in (("loop", loop), ("train_many", many)):
            best[name] = min(best[name], cpu_seconds(fn))
    for name, seconds in best.items():
        figures[f"train/{name}_steps_per_s"] = steps / seconds
    figures["train/train_many_vs_loop"] = figures["train/train_many_steps_per_s"] / figures["train/loop_steps_per_s"]
    masks = half_subsets(40, 1000, 0.5, 0)
    originals = train_many(factory, [0], rows[:1], x, y, epochs=30, batch_size=batch, lr=0.05, momentum=0.9)
    subset = train_many(
        factory,
        list(range(40)),
        torch.stack([r.nonzero().squeeze(1) for r in masks]),
        x,
        y,
        epochs=1,
        batch_size=batch,
        lr=0.05,
    )
    effect = fit_datamodels(masks, outputs_stacked(factory(), subset, x), (1.0,)).group_effect
    forget = random_forget(1000, 100, 0)
    request = cpu_seconds(lambda: dmm_unlearn(factory(), originals, x, forget, effect(forget), 1.0, MatchConfig()))
    keep = torch.ones(1000, dtype=torch.bool)
    keep[forget] = False
    retrain = cpu_seconds(
        lambda: train_many(factory, [1], keep.nonzero().T, x, y, epochs=30, batch_size=batch, lr=0.05, momentum=0.9)
    )
    figures["dmm/request_vs_retrain"] = request / retrain
    return figures
