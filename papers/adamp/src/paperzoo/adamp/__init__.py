"""AdamP and SGDP (Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on Scale-invariant
Weights", ICLR 2021): Adam and momentum SGD that remove the radial component of the update of
scale-invariant weights (conv/linear weights followed by a normalisation).

``AdamP`` and ``SGDP`` are ``torch.optim.Optimizer`` s with the options and defaults of the official code
v0.3.0. Where ``scale_invariant_view`` fires (max_i |cos(g_i, w_i)| < δ/sqrt(row length), per output channel,
else per layer), the update d becomes ``project_radial``'s d_i − ŵ_i·⟨ŵ_i, d_i⟩ and the weight decay is
scaled by ``wd_ratio``. See :mod:`paperzoo.adamp.optimizer` for the equations and every option.
"""

from paperzoo.adamp.optimizer import IMPLEMENTATIONS, SGDP, AdamP, View, project_radial, scale_invariant_view

__all__ = ["IMPLEMENTATIONS", "SGDP", "AdamP", "View", "project_radial", "scale_invariant_view"]
