"""APG: Sadat, Hilliges, Weber, "Eliminating Oversaturation and Artifacts of High Guidance Scales in Diffusion
Models" (ICLR 2025, arXiv 2410.02416).

Adaptive projected guidance splits the classifier-free-guidance update ``Delta = D_c - D_u`` of the denoised
predictions into parts parallel and orthogonal to ``D_c``, down-weights the parallel part (``eta``), limits the
update's norm (``r``) and adds reverse momentum (``beta < 0``):

- :func:`apg_guidance`, :class:`MomentumBuffer`, :func:`cfg_guidance`, :func:`project`, :func:`rescale`;
- :class:`GuidedSampler` (deterministic DDIM, guidance in x0 space, any eps-model), :class:`Guidance`,
  :func:`eps_to_x0`, :func:`x0_to_eps`, :func:`linear_alphas_cumprod`;
- :class:`EpsMLP` (class-conditional eps-prediction MLP with a null class) and :func:`train_eps_model`.
"""

from paperzoo.apg.guidance import MomentumBuffer, apg_guidance, cfg_guidance, project, rescale
from paperzoo.apg.model import EpsMLP, train_eps_model
from paperzoo.apg.sampler import Guidance, GuidedSampler, eps_to_x0, linear_alphas_cumprod, x0_to_eps

__all__ = [
    "EpsMLP",
    "Guidance",
    "GuidedSampler",
    "MomentumBuffer",
    "apg_guidance",
    "cfg_guidance",
    "eps_to_x0",
    "linear_alphas_cumprod",
    "project",
    "rescale",
    "train_eps_model",
    "x0_to_eps",
]
