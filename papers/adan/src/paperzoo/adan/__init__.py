"""Adan (Xie et al., TPAMI 2024): adaptive Nesterov momentum without extrapolated gradients.

``Adan`` is a ``torch.optim.Optimizer`` with the options and defaults of the official code (sail-sg/Adan):
m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·Δg, n = b3·n + (1−b3)·(g + b2·Δg)², and the proximal step
θ ← (θ − lr·(m̂ + b2·v̂)/(sqrt(n̂) + ε))/(1 + lr·λ). See :mod:`paperzoo.adan.optimizer` for every option;
:class:`~paperzoo.shared.testbeds.classify.TinyViT` is the vision transformer of the benchmark.
"""

from paperzoo.adan.optimizer import IMPLEMENTATIONS, Adan
from paperzoo.shared.testbeds.classify import TinyViT

__all__ = ["IMPLEMENTATIONS", "Adan", "TinyViT"]
