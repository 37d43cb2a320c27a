"""Every optimizer paper's optimizer refuses a learning rate that can never be meant (issue 19)."""

from __future__ import annotations

import math

import pytest
import torch

from paperzoo.adabelief import AdaBelief
from paperzoo.adamp import SGDP, AdamP
from paperzoo.adan import Adan
from paperzoo.sgd_sai import SGDSaI


@pytest.mark.parametrize("optimizer", [AdaBelief, AdamP, SGDP, Adan, SGDSaI], ids=lambda o: o.__name__)
@pytest.mark.parametrize("lr", [math.inf, -1.0, math.nan])
def test_bad_learning_rates_raise_naming_lr(optimizer, lr):
    with pytest.raises(ValueError, match="lr"):
        optimizer([torch.nn.Parameter(torch.ones(2))], lr=lr)
