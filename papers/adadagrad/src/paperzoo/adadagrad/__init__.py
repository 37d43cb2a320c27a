"""AdAdaGrad: Adaptive Batch Size Schemes for Adaptive Gradient Methods (Lau, Liu, Kolar, 2024).

https://arxiv.org/abs/2402.11215; official code timlautk/AdAdaGrad. Adaptive-sampling tests (the norm test and
the augmented inner-product test) grow the batch of AdaGrad and AdaGrad-Norm during training.

- :class:`AdaGradNorm`: the scalar AdaGrad-Norm optimizer (a ``torch.optim.Optimizer``); AdaGrad is
  ``torch.optim.Adagrad``.
- :func:`per_sample_grads`: per-sample gradients by ``torch.func`` (``vmap(grad)``, chunked).
- :func:`norm_test`, :func:`inner_product_test`, :func:`orthogonality_test`, :func:`augmented_ip_test`,
  :func:`coordinatewise_test` (unverified), :class:`BatchTest`, :func:`next_batch_size`.
- :class:`AdaptiveBatchSampler`, :func:`constant_lr`, :func:`warmup_cosine_lr` (counted in samples) and the
  training loop :func:`train_adaptive`.
"""

from paperzoo.adadagrad.batch_tests import (
    TEST_NAMES,
    BatchTest,
    augmented_ip_test,
    coordinatewise_test,
    inner_product_test,
    next_batch_size,
    norm_test,
    orthogonality_test,
)
from paperzoo.adadagrad.optimizer import AdaGradNorm
from paperzoo.adadagrad.per_sample import check_no_train_batchnorm, per_sample_grads
from paperzoo.adadagrad.sampling import AdaptiveBatchSampler, constant_lr, warmup_cosine_lr
from paperzoo.adadagrad.training import Trajectory, train_adaptive

__all__ = [
    "TEST_NAMES",
    "AdaGradNorm",
    "AdaptiveBatchSampler",
    "BatchTest",
    "Trajectory",
    "augmented_ip_test",
    "check_no_train_batchnorm",
    "constant_lr",
    "coordinatewise_test",
    "inner_product_test",
    "next_batch_size",
    "norm_test",
    "orthogonality_test",
    "per_sample_grads",
    "train_adaptive",
    "warmup_cosine_lr",
]
