"""AdaBelief (Zhuang et al., NeurIPS 2020): Adam with the second moment replaced by the belief in the gradient.

``AdaBelief`` is a ``torch.optim.Optimizer`` with the options and defaults of the official code v0.2.1:
m_t = β1·m + (1 − β1)·g, s_t = β2·s + (1 − β2)·(g − m_t)² + ε, θ ← θ − lr·m̂_t / (sqrt(ŝ_t) + ε)
(RAdam-rectified by default). See :mod:`paperzoo.adabelief.optimizer` for every option.
"""

from paperzoo.adabelief.optimizer import IMPLEMENTATIONS, AdaBelief

__all__ = ["IMPLEMENTATIONS", "AdaBelief"]
