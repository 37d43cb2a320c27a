"""MetaDE: Evolving Differential Evolution by Differential Evolution (Chen, Feng, Cheng; IEEE TEVC 2025).

The public API: the batched CEC2022 suite, the parameterised DE executor (``decode``, ``pde_trial``, ``PDE``),
MetaDE itself, and the JaDE/SHADE baselines.
"""

from paperzoo.metade.baselines import AdaptiveDE
from paperzoo.metade.cec2022 import CEC2022, suite
from paperzoo.metade.metade import MetaDE, MetaResult
from paperzoo.metade.pde import (
    DE_RAND_1_BIN,
    DEFAULT_THETA,
    PDE,
    THETA_LB,
    THETA_UB,
    Decoded,
    Population,
    decode,
    describe,
    pde_trial,
)

__all__ = [
    "CEC2022",
    "DEFAULT_THETA",
    "DE_RAND_1_BIN",
    "PDE",
    "THETA_LB",
    "THETA_UB",
    "AdaptiveDE",
    "Decoded",
    "MetaDE",
    "MetaResult",
    "Population",
    "decode",
    "describe",
    "pde_trial",
    "suite",
]
