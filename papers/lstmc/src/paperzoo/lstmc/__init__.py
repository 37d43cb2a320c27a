"""LSTMc: "Require Process Control? LSTMc is all you need!" (Sitapure & Kwon): a model-free LSTM controller for batch
dextrose crystallization, with the plant it is tested on. No official LSTMc code exists: the controllers here are
our reconstruction from the paper's description (see the README). Public API:

- the plant (:mod:`~paperzoo.lstmc.dextrose`): :func:`solubility`, :func:`growth_rate`, :func:`nucleation_rate`,
  :func:`simulate_moments` (7-state moment ODE), :func:`simulate_pbe` (250-cell population balance),
  :func:`sample_initial_conditions`, :func:`sample_jacket_profiles`; :class:`DextroseCrystallizer` (Gymnasium);
- the controllers: :class:`LSTMController` (+ :func:`train_lstmc`), :class:`PIController` (+ :func:`tune_pi`),
  :class:`LSTMMPC` on a :class:`Surrogate` (+ :func:`train_surrogate`); :func:`closed_loop` evaluates any of them.
"""

from paperzoo.lstmc.closed_loop import DextroseCrystallizer, closed_loop, reference_profile
from paperzoo.lstmc.dataset import generate_open_loop, reachable_set_points
from paperzoo.lstmc.dextrose import (
    Grid,
    InitialConditions,
    Solver,
    growth_rate,
    nucleation_rate,
    sample_initial_conditions,
    sample_jacket_profiles,
    simulate_moments,
    simulate_pbe,
    solubility,
)
from paperzoo.lstmc.lstm_mpc import LSTMMPC, Surrogate, train_surrogate
from paperzoo.lstmc.lstmc import LSTMController, train_lstmc
from paperzoo.lstmc.pi import PIController, tune_pi

__all__ = [
    "LSTMMPC",
    "DextroseCrystallizer",
    "Grid",
    "InitialConditions",
    "LSTMController",
    "PIController",
    "Solver",
    "Surrogate",
    "closed_loop",
    "generate_open_loop",
    "growth_rate",
    "nucleation_rate",
    "reachable_set_points",
    "reference_profile",
    "sample_initial_conditions",
    "sample_jacket_profiles",
    "simulate_moments",
    "simulate_pbe",
    "solubility",
    "train_lstmc",
    "train_surrogate",
    "tune_pi",
]
