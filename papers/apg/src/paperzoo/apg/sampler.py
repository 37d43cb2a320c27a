"""Deterministic DDIM sampling of an eps-prediction model, with guidance applied to the denoised (x0) predictions.

The noise schedule is DDPM's linear one (``beta_t`` from 1e-4 to 0.02 over T = 1000 steps), the step grid and the
final step are those of diffusers' ``DDIMScheduler`` defaults (``timestep_spacing="leading"``,
``set_alpha_to_one=True``, no clipping), and the DDIM update with ``eta_ddim = 0`` is
``x_prev = sqrt(abar_prev) D + sqrt(1 - abar_prev) eps(D)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from paperzoo.apg.guidance import MomentumBuffer, apg_guidance, cfg_guidance
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int, check_range

# eps_model(x_t, t, labels) -> eps; t a (B,) long tensor of training timesteps; labels (B,) with the null class.
EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def linear_alphas_cumprod(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)`` for DDPM's linear ``beta`` schedule, float64, shape ``(steps,)``."""
    check_positive_int("steps", steps)
    betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def eps_to_x0(x_t: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor | float) -> torch.Tensor:
    """``x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)``."""
    abar = torch.as_tensor(abar, dtype=torch.float64)
    return ((x_t - (1 - abar).sqrt() * eps) / abar.sqrt()).to(x_t.dtype)


def x0_to_eps(x_t: torch.Tensor, x0: torch.Tensor, abar: torch.Tensor | float) -> torch.Tensor:
    """``eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)``."""
    abar = torch.as_tensor(abar, dtype=torch.float64)
    return ((x_t - abar.sqrt() * x0) / (1 - abar).sqrt()).to(x_t.dtype)


@dataclass(frozen=True)
class Guidance:
    """How the sampler combines ``D_c`` and ``D_u``: ``"cfg"`` or ``"apg"`` (``eta``, ``r``, ``beta``) at scale ``w``.

    ``beta = 0`` means no momentum. ``w = 1`` needs no unconditional prediction and skips it (both give ``D_c``).
    """

    method: str = "apg"
    w: float = 1.0
    eta: float = 0.0
    r: float = 0.0
    beta: float = 0.0

    def __post_init__(self) -> None:
        check_one_of("method", self.method, ("cfg", "apg"))
        check_non_negative("w", self.w)
        check_range("eta", self.eta)
        check_non_negative("r", self.r)
        check_range("beta", self.beta, -1.0, 1.0, low_inclusive=False, high_inclusive=False)


class GuidedSampler:
    """DDIM (deterministic) with guidance in x0 space, for any eps-model ``eps_model(x_t, t, labels)``.

    ``alphas_cumprod``: the training schedule ``abar_t`` (default :func:`linear_alphas_cumprod`); ``steps``: DDIM
    steps on diffusers' "leading" grid ``t_i = i * (T // steps)``, walked from the largest; ``null_label``: the
    label of the unconditional prediction. Every call starts a new momentum buffer.
    """

    def __init__(
        self,
        eps_model: EpsModel,
        null_label: int,
        steps: int = 50,
        alphas_cumprod: torch.Tensor | None = None,
    ) -> None:
        self.eps_model = eps_model
        self.null_label = null_label
        self.alphas_cumprod = linear_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod.double()
        train_steps = len(self.alphas_cumprod)
        check_range("steps", check_positive_int("steps", steps), 1, train_steps)
        self.timesteps = torch.arange(steps - 1, -1, -1) * (train_steps // steps)

    def abar_prev(self, t: int) -> torch.Tensor:
        """``abar`` of the step after ``t`` on the grid, 1 after the last (``set_alpha_to_one``)."""
        prev = t - len(self.alphas_cumprod) // len(self.timesteps)
        return self.alphas_cumprod[prev] if prev >= 0 else torch.ones((), dtype=torch.float64)

    def step(self, x_t: torch.Tensor, t: int, x0: torch.Tensor) -> torch.Tensor:
        """One DDIM step from ``x_t`` at ``t`` given the (guided) denoised prediction ``x0``."""
        abar_prev = self.abar_prev(t)
        eps = x0_to_eps(x_t, x0, self.alphas_cumprod[t])
        return (abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps).to(x_t.dtype)

    def denoise(self, x_t: torch.Tensor, t: int, labels: torch.Tensor, with_null: bool) -> tuple[torch.Tensor, ...]:
        """``D_c`` (and ``D_u`` when ``with_null``) at ``x_t``, from one batched model call."""
        n = len(x_t)
        if with_null:
            x_t = torch.cat([x_t, x_t])
            labels = torch.cat([labels, torch.full_like(labels, self.null_label)])
        tt = torch.full((len(x_t),), t, dtype=torch.long, device=x_t.device)
        d = eps_to_x0(x_t, self.eps_model(x_t, tt, labels), self.alphas_cumprod[t])
        return (d[:n], d[n:]) if with_null else (d,)

    @torch.no_grad()
    def sample(
        self,
        noise: torch.Tensor,
        labels: torch.Tensor,
        guidance: Guidance,
        record: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Run the sampler from ``noise`` (``x_T``) for class ``labels``; returns the unclipped samples.

        ``record(t, D_c, D_u)``, if given, sees both predictions at every step (diagnostics, e.g. ``||Delta||``).
        """
        if len(labels) != len(noise):
            raise ValueError(f"labels must have one entry per sample ({len(noise)}), got {len(labels)}")
        buffer = MomentumBuffer(guidance.beta) if guidance.method == "apg" and guidance.beta != 0 else None
        with_null = guidance.w != 1 or record is not None
        x = noise
        for t in self.timesteps.tolist():
            preds = self.denoise(x, t, labels, with_null)
            if not with_null:
                x0 = preds[0]
            else:
                d_cond, d_uncond = preds
                if record is not None:
                    record(t, d_cond, d_uncond)
                if guidance.method == "cfg":
                    x0 = cfg_guidance(d_cond, d_uncond, guidance.w)
                else:
                    x0 = apg_guidance(d_cond, d_uncond, guidance.w, guidance.eta, guidance.r, buffer)
            x = self.step(x, t, x0)
        return x
