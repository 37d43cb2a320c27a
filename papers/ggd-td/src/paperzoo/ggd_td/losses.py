"""The critic losses the paper compares, by the official class names, as one callable.

- ``mse``:  L = Σ_k mean_i δ_ik²                                                  (SB3's PPO value loss for M = 1)
- ``gd``:   L = Σ_k Gaussian NLL with σ² = softplus(z)
- ``ggd``:  L = mean_i Σ_k w_ik ℓ_GGD(δ_ik; β_ik)                                 (risk-averse head weights)
- ``iv_gd``, ``iv_ggd``: base + λ · L_BIV;  ``iev_ggd`` (the paper's method): base + λ · L_BIEV

λ is the official ``uncertainty_temperature`` (0.1). As in the official code, the weighted term uses squared
errors after a Gaussian base (IV-GD) and absolute errors after a GGD base (IV-GGD, IEV-GGD).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch as th

from paperzoo.ggd_td.ggd import NLL_FORMS, NllForm, gaussian_nll_loss, ggd_beta, ggd_nll_loss, mse_loss
from paperzoo.ggd_td.weights import Weighting, biev_loss, biv_loss, check_min_batch_size
from paperzoo.shared.validate import check_non_negative, check_one_of, check_range

__all__ = ["LOSSES", "ValueLoss"]

LOSSES = ("mse", "gd", "ggd", "iv_gd", "iv_ggd", "iev_ggd")
_BASE = {"mse": mse_loss, "gd": gaussian_nll_loss}


@dataclass
class ValueLoss:
    """``loss(values [B, M, D], targets [B, M]) -> scalar``; records each minibatch's weighting and mean shape.

    Args:
        name: one of :data:`LOSSES`.
        uncertainty_temperature: λ ≥ 0, the weight of the BIV/BIEV term.
        min_batch_size: the EBS floor of the inverse-variance weights (official 16).
        gamma: the discount (BIV scales the head-value variance by γ²).
        nll_form: the GGD NLL, ``"official"`` (β|δ|) or ``"paper"`` (|δ|^β); see :func:`~paperzoo.ggd_td.ggd.ggd_nll`.
    """

    name: str = "iev_ggd"
    uncertainty_temperature: float = 0.1
    min_batch_size: int = 16
    gamma: float = 0.99
    nll_form: NllForm = "official"
    weightings: list[Weighting] = field(default_factory=list, repr=False)
    shape_means: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        check_one_of("loss", self.name, LOSSES)
        check_non_negative("uncertainty_temperature (lambda)", self.uncertainty_temperature)
        check_min_batch_size(self.min_batch_size)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_one_of("nll_form", self.nll_form, NLL_FORMS)

    @property
    def base(self) -> str:
        """The likelihood part: ``mse``, ``gd`` or ``ggd``."""
        return self.name.rsplit("_", 1)[-1]

    @property
    def value_dims(self) -> int:
        """D: 1 (a value) for MSE, 2 (a value and a variance/shape logit) for the likelihood losses."""
        return 1 if self.base == "mse" else 2

    def check_ensemble_size(self, ensemble_size: int) -> int:
        """``ensemble_size`` if the loss can use it: BIEV needs M >= 4 (kurtosis), BIV M >= 2, else M >= 1."""
        needed = 4 if self.name.startswith("iev_") else 2 if self.name.startswith("iv_") else 1
        if not isinstance(ensemble_size, int) or ensemble_size < needed:
            raise ValueError(
                f"ensemble_size must be an integer >= {needed} for loss {self.name!r}, got {ensemble_size}"
            )
        return ensemble_size

    def __call__(self, values: th.Tensor, targets: th.Tensor) -> th.Tensor:
        if self.base == "ggd":
            loss = ggd_nll_loss(values, targets, self.nll_form)
        else:
            loss = _BASE[self.base](values, targets)
        if self.value_dims == 2:
            with th.no_grad():
                shape = ggd_beta(values[..., 1]) if self.base == "ggd" else th.nn.functional.softplus(values[..., 1])
                self.shape_means.append(float(shape.mean()))
        if self.name.startswith("i"):
            error = "mae" if self.base == "ggd" else "mse"
            if self.name.startswith("iev_"):
                term = biev_loss(values, targets, self.min_batch_size, error, out=self.weightings)
            else:
                term = biv_loss(values, targets, self.gamma, self.min_batch_size, error, out=self.weightings)
            loss = loss + self.uncertainty_temperature * term
        return loss
