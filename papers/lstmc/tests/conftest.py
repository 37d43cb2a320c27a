"""Shared fixtures: one torch thread, deterministic kernels; small open-loop data sets built once per session."""

import numpy as np
import pytest
import torch

from paperzoo.lstmc.dataset import generate_open_loop
from paperzoo.lstmc.dextrose import InitialConditions

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


@pytest.fixture(scope="session")
def small_data():
    """80 open-loop batches on the moment model (one chunk, in this process)."""
    return generate_open_loop(80, 0, chunk=80, workers=1)


@pytest.fixture
def reference_ic():
    """The brief's reference batch: seed 100 +- 10 um, 15 wt %, c0 = 0.70, T0 = 38 degC."""
    return InitialConditions(c0=0.70, seed_fraction=0.15, seed_mean_um=100.0, seed_sd_um=10.0, T0=38.0)


@pytest.fixture
def reference_profile():
    """T_j = 38 - floor(t / 1 h) degC, hourly steps."""
    return (38.0 - np.arange(24.0))[None]
