"""The speed figures of lstmc (``python -m paperzoo.lstmc --perf``; never run in CI): compute per control action of
LSTMc vs LSTM-MPC (one episode, the same process), and a 24 h batch on the moment ODE vs the 250-cell PBE."""

from __future__ import annotations

import time

import numpy as np


def _per_action(controller, history: np.ndarray, repeats: int) -> float:
    """Mean wall seconds of one ``act`` over the hours of a recorded single-episode history."""
    hours = history.shape[1] - 1
    start = time.perf_counter()
    for _ in range(repeats):
        controller.reset(np.array([history[0, -1, 0]]))
        for k in range(1, hours):
            controller.act(history[:, : k + 1], hours - k)
    return (time.perf_counter() - start) / (repeats * (hours - 1))


def perf(device: str) -> dict[str, float]:
    """Seconds per control action (LSTMc, LSTM-MPC with H = 4; both trained briefly on 200 open-loop batches) and CPU
    seconds per 24 h batch (moment ODE, PBE; one batch alone and 32 batches at once), with their ratios."""
    from paperzoo.lstmc.experiment import setup_process

    setup_process()
    import torch

    from paperzoo.lstmc.dataset import generate_open_loop
    from paperzoo.lstmc.dextrose import (
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
    for n in (1, 32):  # one batch, and 32 batches integrated as one block-diagonal system
        for name, simulate in (("moment", simulate_moments), ("pbe", simulate_pbe)):
            start = time.process_time()
            simulate(ic.take(slice(0, n)), profile[:n])
            figures[f"plant/{name}_cpu_s_per_batch_x{n}"] = (time.process_time() - start) / n
        figures[f"plant/pbe_over_moment_x{n}"] = (
            figures[f"plant/pbe_cpu_s_per_batch_x{n}"] / figures[f"plant/moment_cpu_s_per_batch_x{n}"]
        )
    return figures
