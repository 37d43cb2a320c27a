"""SGD-SaI (Xu, Xiang, Cai, Wen, 2024): "No More Adam: Learning Rate Scaling at Initialization is All You Need".

``SGDSaI`` is a ``torch.optim.Optimizer`` with the arguments, defaults and arithmetic of the official ``sgd-sai``
v1.0.3: each parameter tensor's learning rate is scaled once, at its first gradient, by the gradient
signal-to-noise ratio gsnr = ‖g‖/(std(g) + ε), then momentum SGD runs at the fixed rates:
buf = μ·buf + (1 − μ)·g (buf_1 = g_1), θ ← θ·(1 − lr·λ) − lr·gsnr·buf. See :mod:`paperzoo.sgd_sai.optimizer`
for the version variants (``gsnr_mode``) and edge cases; :func:`gradient_snr` is the g-SNR of one gradient.
"""

from paperzoo.sgd_sai.optimizer import GSNR_MODES, IMPLEMENTATIONS, SGDSaI, gradient_snr

__all__ = ["GSNR_MODES", "IMPLEMENTATIONS", "SGDSaI", "gradient_snr"]
