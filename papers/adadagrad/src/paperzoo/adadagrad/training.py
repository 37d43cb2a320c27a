"""The AdAdaGrad training loop: each step may test its own batch and grow the next one (official ``main.py``).

Step k, with the scheduled size b_k and the sampler's batch B_k (|B_k| ≤ b_k, shorter at an epoch's end):

1. if a test is due (k mod ``test_interval`` = 0, b_k < b_max, |B_k| ≥ 2): the per-sample gradients of B_k
   at the pre-step θ_k (``vmap(grad)``, :mod:`paperzoo.adadagrad.per_sample`);
2. the optimizer step on B_k's mean loss, at the learning rate of the samples seen so far;
3. if tested: b̃ from the per-sample gradients, b_{k+1} = min(b_max, max(b_k, ⌈b̃⌉)).

The run ends when ``budget`` samples have been used (the last step may pass it by < b_k).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from paperzoo.adadagrad.batch_tests import BatchTest, next_batch_size
from paperzoo.adadagrad.per_sample import check_no_train_batchnorm, per_sample_grads
from paperzoo.adadagrad.sampling import AdaptiveBatchSampler
from paperzoo.shared.validate import check_positive_int


@dataclass
class Trajectory:
    """One run: per step its batch size and learning rate, the b̃ of each test, and the checkpoint curve.

    ``checkpoint_samples[j]``: the samples seen at the j-th checkpoint (the first step at or past j/n of the
    budget), with the scheduled batch size and ``evaluate``'s value there. ``batch_sizes`` are the sizes
    drawn, ``scheduled_batch_sizes`` the scheduled b_k of each step (larger at an epoch's short remainder).
    """

    batch_sizes: list[int] = field(default_factory=list)
    scheduled_batch_sizes: list[int] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    test_steps: list[int] = field(default_factory=list)
    b_tildes: list[float] = field(default_factory=list)
    checkpoint_samples: list[int] = field(default_factory=list)
    checkpoint_batch_sizes: list[int] = field(default_factory=list)
    checkpoint_values: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.batch_sizes)

    @property
    def samples(self) -> int:
        return sum(self.batch_sizes)


def train_adaptive(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    sampler: AdaptiveBatchSampler,
    budget: int,
    lr_at: Callable[[int], float],
    test: BatchTest | None = None,
    test_interval: int = 1,
    chunk_size: int | None = 256,
    evaluate: Callable[[], float] | None = None,
    checkpoints: int = 20,
) -> Trajectory:
    """Train ``model`` on (``x``, ``y``) with ``sampler``'s batches for ``budget`` samples; the batch grows by ``test``.

    ``lr_at(samples)`` gives the learning rate of a step from the samples seen before it (every group is set
    to it); ``test=None`` keeps the batch constant. ``evaluate()`` (e.g. a test accuracy) is called at
    ``checkpoints`` evenly spaced sample counts, the last at the end. ``ValueError`` for ``test_interval`` < 1,
    a non-positive ``budget`` or a model with train-mode BatchNorm (when testing).
    """
    check_positive_int("test_interval", test_interval)
    check_positive_int("budget", budget)
    check_positive_int("checkpoints", checkpoints)
    if test is not None:
        check_no_train_batchnorm(model)
    trajectory = Trajectory()
    samples, step, next_checkpoint = 0, 0, 1
    while samples < budget:
        batch = sampler.next_batch().to(x.device)
        scheduled = sampler.batch_size
        xb, yb = x[batch], y[batch]
        lr = lr_at(samples)
        for group in optimizer.param_groups:
            group["lr"] = lr
        testing = test is not None and step % test_interval == 0 and scheduled < sampler.b_max and len(batch) >= 2
        if testing:
            # at the pre-step parameters, on the batch the step uses
            grads = per_sample_grads(model, xb, yb, chunk_size)
        model.train()
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if testing:
            b_tilde = test(grads)
            sampler.grow(next_batch_size(scheduled, b_tilde, sampler.b_max))
            trajectory.test_steps.append(step)
            trajectory.b_tildes.append(b_tilde)
        samples += len(batch)
        step += 1
        trajectory.batch_sizes.append(len(batch))
        trajectory.scheduled_batch_sizes.append(scheduled)
        trajectory.lrs.append(lr)
        trajectory.losses.append(loss.item())
        while next_checkpoint <= checkpoints and samples * checkpoints >= next_checkpoint * budget:
            trajectory.checkpoint_samples.append(samples)
            trajectory.checkpoint_batch_sizes.append(sampler.batch_size)
            trajectory.checkpoint_values.append(evaluate() if evaluate is not None else float("nan"))
            next_checkpoint += 1
    return trajectory
