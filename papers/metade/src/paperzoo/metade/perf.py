"""MetaDE's speed figure (``make perf-metade``): FEs/s of a generation of executors batched into one tensor op,
against the same executors stepped one by one, in the same process (1 thread)."""

from __future__ import annotations

import time

import torch

from paperzoo.metade.cec2022 import CEC2022, LOWER, UPPER
from paperzoo.metade.pde import PDE, THETA_LB, THETA_UB

P_O, NP, D, STEPS = 64, 50, 10, 20


def _fes_per_second(executor: PDE, theta: torch.Tensor, batched: bool, generator: torch.Generator) -> float:
    """FEs/s of ``STEPS`` generations of ``P_O`` executors, all at once or one executor at a time."""
    groups = [theta.view(1, P_O, 6)] if batched else [theta[i].view(1, 1, 6) for i in range(P_O)]
    states = [executor.init(1, g.shape[1], generator) for g in groups]
    executor.fes = 0
    start = time.process_time()  # CPU time of this (1-thread) process: robust to other load on the machine
    for _ in range(STEPS):
        states = [executor.step(s, g, generator) for s, g in zip(states, groups, strict=True)]
    return executor.fes / (time.process_time() - start)


def perf(device: str) -> dict[str, float]:
    """Batched and one-by-one FEs/s of 64 PDE executors (NP = 50, D = 10) on F1 and F12, and their ratio."""
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    theta = THETA_LB + (THETA_UB - THETA_LB) * torch.rand((P_O, 6), generator=generator, dtype=torch.float64)
    figures: dict[str, float] = {}
    for fn in (1, 12):
        problem = CEC2022(fn, D)
        executor = PDE(lambda x, p=problem: p(x), D, LOWER, UPPER, NP=NP)
        batched = _fes_per_second(executor, theta, True, generator)
        single = _fes_per_second(executor, theta, False, generator)
        figures[f"F{fn}/batched_fes_per_s"] = batched
        figures[f"F{fn}/one_by_one_fes_per_s"] = single
        figures[f"F{fn}/speedup"] = batched / single
    return figures
