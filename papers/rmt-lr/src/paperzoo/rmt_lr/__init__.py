"""Granziol, Zohren & Roberts, "Learning Rates as a Function of Batch Size: A Random Matrix Theory Approach
to Neural Network Training" (JMLR 2022): Hessian spectra by Lanczos/SLQ, their batch-size dependence, the
largest stable learning rate vs batch size, and an SLQ learner of the learning rate and momentum.

- :func:`hvp`, :func:`ggn_vp`, :func:`exact_hessian`: curvature products of a model's mean batch loss.
- :func:`lanczos`, :func:`slq`, :func:`slq_density`, :func:`batch_lambda_max`: spectra of those operators.
- :func:`max_stable_lr`: the largest non-diverging learning rate of SGD or Adam on a grid.
- :class:`LanczosLRMomentumScheduler`: the learner (our operationalisation: the paper's rule was not retrieved).
"""

from paperzoo.rmt_lr.hessian import exact_hessian, ggn_vp, hessian_operator, hvp
from paperzoo.rmt_lr.lanczos import batch_lambda_max, lanczos, slq, slq_density
from paperzoo.rmt_lr.learner import LanczosLRMomentumScheduler, heavy_ball_params
from paperzoo.rmt_lr.models import MLP, GroupNormResNet
from paperzoo.rmt_lr.stability import StabilityScan, lr_grid_sqrt2, max_stable_lr

__all__ = [
    "MLP",
    "GroupNormResNet",
    "LanczosLRMomentumScheduler",
    "StabilityScan",
    "batch_lambda_max",
    "exact_hessian",
    "ggn_vp",
    "heavy_ball_params",
    "hessian_operator",
    "hvp",
    "lanczos",
    "lr_grid_sqrt2",
    "max_stable_lr",
    "slq",
    "slq_density",
]
