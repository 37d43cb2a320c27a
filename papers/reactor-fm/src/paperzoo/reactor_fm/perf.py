"""reactor-fm's speed figures (``--perf``), each a ratio measured in one process:

- the vectorised simulators against the scalar reference loop on the same trajectories (issue: >= 100x);
- one Reptile outer iteration against one plain epoch of Adam on the same task (issue: <= 1.1x).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from paperzoo.reactor_fm.data import sample_task
from paperzoo.reactor_fm.reactors import simulate, simulate_scalar
from paperzoo.reactor_fm.reptile import inner_epoch, reptile
from paperzoo.reactor_fm.rnn import build_model
from paperzoo.shared.torch import configure


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def perf(device: str, n: int = 2000, repeats: int = 3) -> dict[str, float]:
    """Simulator speed-ups on ``n`` trajectories per reactor (identical outputs checked) and the Reptile-iteration
    over plain-epoch time ratio on a 2,000-trajectory CSTR task (best of ``repeats``)."""
    configure(threads=1)
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {}
    cases = {
        "cstr": (
            rng.uniform(0, 6, n),
            rng.uniform(300, 600, n),
            (rng.uniform(-3.5, 3.5, n), rng.uniform(-5e5, 5e5, n)),
        ),
        "batch": (rng.uniform(0, 6, n), rng.uniform(300, 600, n), rng.uniform(-5e5, 5e5, n)),
        "pfr": (rng.uniform(0.5, 3, n), rng.uniform(300, 500, n), rng.uniform(100, 300, n)),
    }
    for reactor, (c0, t0, u) in cases.items():
        vec = simulate(reactor, c0, t0, u)
        ref = simulate_scalar(reactor, c0, t0, u)
        if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(vec, ref, strict=True)):
            raise RuntimeError(f"{reactor}: vectorised and scalar simulators disagree")
        fast = _best(functools.partial(simulate, reactor, c0, t0, u), repeats)
        slow = _best(functools.partial(simulate_scalar, reactor, c0, t0, u), 1)
        figures[f"simulate/{reactor}_speedup"] = slow / fast
    task = sample_task("cstr", np.random.default_rng(1), n_traj=2000)
    model = build_model(0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    plain = _best(lambda: inner_epoch(model, task, opt, 32, gen), repeats)
    outer = _best(lambda: reptile(model, [task], 1, optimizer=opt), repeats)
    figures["reptile/epoch_s"] = plain
    figures["reptile/outer_over_plain_epoch"] = outer / plain
    return figures
