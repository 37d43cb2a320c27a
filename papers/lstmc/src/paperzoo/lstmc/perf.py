"""The speed figures of lstmc (``python -m paperzoo.lstmc --perf``; never run in CI): compute per control action of
LSTMc vs LSTM-MPC (one episode, the same process), and a 24 h batch on the moment ODE vs the 250-cell PBE, each on
both integrators of :class:`~paperzoo.lstmc.dextrose.Solver` (the models' defaults are LSODA for the moment ODE and BDF
for the PBE, so the default-vs-default ratio mixes the model with the integrator: the same-integrator ratios are the
fair comparison)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from paperzoo.lstmc.dextrose import InitialConditions, Solver, Trajectory


def _per_action(controller, history: np.ndarray, repeats: int) -> float:
    """Mean wall seconds of one ``act`` over the hours of a recorded single-episode history."""
    hours = history.shape[1] - 1
    start = time.perf_counter()
    for _ in range(repeats):
        controller.reset(np.array([history[0, -1, 0]]))
        for k in range(1, hours):
            controller.act(history[:, : k + 1], hours - k)
    return (time.perf_counter() - start) / (repeats * (hours - 1))


def _cpu_per_batch(
    simulate: Callable[[InitialConditions, np.ndarray, Solver], Trajectory],
    ic: InitialConditions,
    profile: np.ndarray,
    solver: Solver,
    repeats: int,
) -> float:
    """Least CPU seconds per batch over ``repeats`` simulations of the batches ``ic`` under ``profile``."""
    best = np.inf
    for _ in range(repeats):
        start = time.process_time()
        simulate(ic, profile, solver)
        best = min(best, time.process_time() - start)
    return best / len(ic)


def perf(device: str) -> dict[str, float]:
    """Seconds per control action (LSTMc, LSTM-MPC with H = 4; both trained briefly on 200 open-loop batches) and CPU
    seconds per 24 h batch (moment ODE, PBE; BDF, LSODA; one batch alone (least of 3) and 32 batches at once), with
    their ratios."""
    from paperzoo.lstmc.experiment import setup_process

    setup_process()
    import torch

    from paperzoo.lstmc.dataset import generate_open_loop
    from paperzoo.lstmc.dextrose import (
        Solver,
        sample_initial_conditions,
        sample_jacket_profiles,
        simulate_moments,
        simulate_pbe,
    )
    from paperzoo.lstmc.lstm_mpc import LSTMMPC, Surrogate, train_surrogate
    from paperzoo.lstmc.lstmc import LSTMController, open_loop_history, train_lstmc

    data = generate_open_loop(200, 0, workers=1)
    torch.manual_seed(0)
    lstmc, surrogate = LSTMController(), Surrogate()
    train_lstmc(lstmc, data, 3, 0)
    train_surrogate(surrogate, data, 3, 0)
    history = open_loop_history(data)[:1]
    figures = {
        "control/lstmc_s_per_action": _per_action(lstmc.eval(), history, 5),
        "control/mpc_s_per_action": _per_action(LSTMMPC(surrogate.eval()), history, 1),
    }
    figures["control/mpc_over_lstmc"] = figures["control/mpc_s_per_action"] / figures["control/lstmc_s_per_action"]
    rng = np.random.default_rng(0)
    ic = sample_initial_conditions(32, rng)
    profile = sample_jacket_profiles(ic.T0, 24, rng)
    plant = {}
    for n in (1, 32):  # one batch, and 32 batches integrated as one block-diagonal system
        for name, simulate in (("moment", simulate_moments), ("pbe", simulate_pbe)):
            for method in ("BDF", "LSODA"):
                plant[name, method, n] = _cpu_per_batch(
                    simulate, ic.take(slice(0, n)), profile[:n], Solver(method=method), 3 if n == 1 else 1
                )
                figures[f"plant/{name}_{method.lower()}_cpu_s_per_batch_x{n}"] = plant[name, method, n]
            figures[f"plant/{name}_bdf_over_lsoda_x{n}"] = plant[name, "BDF", n] / plant[name, "LSODA", n]
        for method in ("BDF", "LSODA"):  # the fair comparison: both models on one integrator
            figures[f"plant/pbe_over_moment_{method.lower()}_x{n}"] = (
                plant["pbe", method, n] / plant["moment", method, n]
            )
        # each model on its default integrator (PBE: BDF, moment ODE: LSODA)
        figures[f"plant/pbe_over_moment_x{n}"] = plant["pbe", "BDF", n] / plant["moment", "LSODA", n]
    return figures
