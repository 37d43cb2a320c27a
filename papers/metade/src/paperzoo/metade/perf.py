"""MetaDE's speed figure (``make perf-metade``): FEs/s of a generation of executors batched into one tensor op,
against the same executors stepped one by one, in the same process (1 thread).

Both sides run the same ``PDE.step`` (the one-by-one side with one executor per call, the natural per-executor
form), from the same states and configurations. They alternate for ``ROUNDS`` rounds and each side keeps its
fastest round (CPU time of the process), so that load from other processes inflates neither side more than the
other; the per-round ratios are reported too.
"""

from __future__ import annotations

import time

import torch

from paperzoo.metade.cec2022 import CEC2022, LOWER, UPPER
from paperzoo.metade.pde import PDE, THETA_LB, THETA_UB, Population

P_O, NP, D, STEPS, ROUNDS = 64, 50, 10, 20, 5


def _seconds(executor: PDE, states: list[Population], thetas: list[torch.Tensor], generator: torch.Generator) -> float:
    """CPU seconds of ``STEPS`` generations of every state (one ``step`` call per state and generation)."""
    start = time.process_time()  # CPU time of this (1-thread) process: less sensitive to other load than wall time
    for _ in range(STEPS):
        states = [executor.step(s, t, generator) for s, t in zip(states, thetas, strict=True)]
    return time.process_time() - start


def perf(device: str) -> dict[str, float]:
    """Batched and one-by-one FEs/s of 64 PDE executors (NP = 50, D = 10, uniform random configurations) on F1
    and F12, their ratio (fastest round of each side) and the least and greatest per-round ratio."""
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    theta = THETA_LB + (THETA_UB - THETA_LB) * torch.rand((P_O, 6), generator=generator, dtype=torch.float64)
    fes = STEPS * P_O * NP
    figures: dict[str, float] = {}
    for fn in (1, 12):
        problem = CEC2022(fn, D)
        executor = PDE(problem, D, LOWER, UPPER, NP=NP)
        state = executor.init(1, P_O, generator)
        singles = [Population(state.x[:, i : i + 1], state.f[:, i : i + 1]) for i in range(P_O)]
        one_theta = [theta[i].view(1, 1, 6) for i in range(P_O)]
        batched, single = [], []
        for _ in range(ROUNDS):
            batched.append(_seconds(executor, [state], [theta.view(1, P_O, 6)], generator))
            single.append(_seconds(executor, singles, one_theta, generator))
        ratios = [s / b for s, b in zip(single, batched, strict=True)]
        figures[f"F{fn}/batched_fes_per_s"] = fes / min(batched)
        figures[f"F{fn}/one_by_one_fes_per_s"] = fes / min(single)
        figures[f"F{fn}/speedup"] = min(single) / min(batched)
        figures[f"F{fn}/speedup_round_min"] = min(ratios)
        figures[f"F{fn}/speedup_round_max"] = max(ratios)
    return figures
