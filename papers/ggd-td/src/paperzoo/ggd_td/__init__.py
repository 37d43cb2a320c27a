"""Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement Learning (Kim, Lee, Cho, Han,
Hwang, 2024; arXiv 2408.02295).

The public API:

- the GGD of TD errors: :func:`ggd_beta`, :func:`ggd_nll` (``"paper"``: |δ|^β, ``"official"``: β|δ|),
  :func:`ggd_variance`, :func:`ggd_excess_kurtosis`, :func:`risk_averse_weights`;
- the value losses on [B, M, D] values and [B, M] targets: :func:`mse_loss`, :func:`gaussian_nll_loss`,
  :func:`ggd_nll_loss`, :func:`biv_loss`, :func:`biev_loss` and the combined :class:`ValueLoss`
  (``mse``, ``gd``, ``ggd``, ``iv_gd``, ``iv_ggd``, ``iev_ggd``);
- the inverse-variance weights: :func:`biev_variance`, :func:`biv_variance`, :func:`inverse_variance_weights`,
  :func:`optimal_xi`, :func:`effective_batch_size`, :func:`head_excess_kurtosis`;
- Stable-Baselines3 PPO and SAC with ensemble critics: :class:`EnsemblePPO`, :class:`EnsembleSAC` (imported lazily:
  SB3 is heavy);
- the noisy tasks :class:`NoisyCartPole`, :class:`NoisyMountainCar` (``paperzoo/NoisyCartPole-v0``, ...).
"""

from paperzoo.ggd_td.envs import NoisyCartPole, NoisyMountainCar
from paperzoo.ggd_td.ggd import (
    gaussian_nll_loss,
    ggd_beta,
    ggd_excess_kurtosis,
    ggd_nll,
    ggd_nll_loss,
    ggd_variance,
    mse_loss,
    risk_averse_weights,
)
from paperzoo.ggd_td.losses import LOSSES, ValueLoss
from paperzoo.ggd_td.weights import (
    biev_loss,
    biev_variance,
    biv_loss,
    biv_variance,
    effective_batch_size,
    head_excess_kurtosis,
    inverse_variance_weights,
    optimal_xi,
)

__all__ = [
    "LOSSES",
    "EnsemblePPO",
    "EnsembleSAC",
    "NoisyCartPole",
    "NoisyMountainCar",
    "ValueLoss",
    "biev_loss",
    "biev_variance",
    "biv_loss",
    "biv_variance",
    "effective_batch_size",
    "gaussian_nll_loss",
    "ggd_beta",
    "ggd_excess_kurtosis",
    "ggd_nll",
    "ggd_nll_loss",
    "ggd_variance",
    "head_excess_kurtosis",
    "inverse_variance_weights",
    "mse_loss",
    "optimal_xi",
    "risk_averse_weights",
]


def __getattr__(name: str):
    if name == "EnsemblePPO":
        from paperzoo.ggd_td.ppo import EnsemblePPO

        return EnsemblePPO
    if name == "EnsembleSAC":
        from paperzoo.ggd_td.sac import EnsembleSAC

        return EnsembleSAC
    raise AttributeError(name)
