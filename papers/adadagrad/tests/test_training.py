"""The sampler, the sample-counted schedules and the training loop's use of the tests."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from paperzoo.adadagrad import (
    AdaptiveBatchSampler,
    BatchTest,
    per_sample_grads,
    train_adaptive,
    warmup_cosine_lr,
)
from paperzoo.adadagrad.sampling import constant_lr


def task(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).long()


def model(seed: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))


def test_sampler_draws_without_replacement_within_an_epoch():
    sampler = AdaptiveBatchSampler(10, 3, 10, seed=0)
    epoch = [sampler.next_batch() for _ in range(4)]  # 3 + 3 + 3 + 1 (the short remainder)
    assert [len(b) for b in epoch] == [3, 3, 3, 1]
    assert sorted(torch.cat(epoch).tolist()) == list(range(10))
    sampler.grow(4)
    assert sorted(torch.cat([sampler.next_batch() for _ in range(3)]).tolist()) == list(range(10))


def test_sampler_never_shrinks_and_is_capped():
    sampler = AdaptiveBatchSampler(100, 4, 20, seed=0)
    assert sampler.grow(9) == 9
    assert sampler.grow(5) == 9
    assert sampler.grow(500) == 20


@pytest.mark.parametrize(("kwargs", "name"), [({"b0": 1}, "b0"), ({"b0": 30}, "b0"), ({"b_max": 0}, "b_max")])
def test_bad_sampler_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdaptiveBatchSampler(**({"n": 100, "b0": 4, "b_max": 20, "seed": 0} | kwargs))


def test_warmup_cosine_lr_counts_samples():
    assert warmup_cosine_lr(0, 0.05, 100, 900, 0.005) == 0.0
    assert warmup_cosine_lr(50, 0.05, 100, 900, 0.005) == pytest.approx(0.025)
    assert warmup_cosine_lr(100, 0.05, 100, 900, 0.005) == pytest.approx(0.05)
    assert warmup_cosine_lr(500, 0.05, 100, 900, 0.005) == pytest.approx(0.0275)
    assert warmup_cosine_lr(2000, 0.05, 100, 900, 0.005) == 0.005
    assert constant_lr(10, 0.5, max_lr=0.05) == 0.05
    with pytest.raises(ValueError, match="warmup_samples"):
        warmup_cosine_lr(0, 0.05, 900, 100, 0.005)


def run(test: BatchTest | None, b0: int = 4, budget: int = 200, seed: int = 0, b_max: int = 64):
    x, y = task()
    net = model()
    optimizer = torch.optim.Adagrad(net.parameters(), lr=0.1)
    sampler = AdaptiveBatchSampler(len(y), b0, b_max, seed)
    trajectory = train_adaptive(net, optimizer, x, y, sampler, budget, lambda s: 0.1, test=test)
    return trajectory, net


def test_huge_eta_equals_constant_batch_adagrad_step_for_step():
    tested, tested_net = run(BatchTest("norm", eta=1e9))
    constant, constant_net = run(None)
    assert tested.batch_sizes == constant.batch_sizes and len(tested.test_steps) == tested.steps
    assert tested.losses == constant.losses
    for a, b in zip(tested_net.parameters(), constant_net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_test_uses_the_pre_step_batch():
    trajectory, _ = run(BatchTest("norm", eta=0.5), budget=4)  # one step
    x, y = task()
    first = AdaptiveBatchSampler(len(y), 4, 64, 0).next_batch()
    expected = BatchTest("norm", eta=0.5)(per_sample_grads(model(), x[first], y[first]))
    assert trajectory.b_tildes == [pytest.approx(expected, rel=1e-6)]
    assert trajectory.checkpoint_batch_sizes[-1] == min(64, max(4, math.ceil(expected)))


def test_the_batch_grows_monotonically_to_the_cap():
    trajectory, _ = run(BatchTest("norm", eta=0.2), budget=2000, b_max=48)
    sizes = trajectory.checkpoint_batch_sizes
    assert sizes[-1] > 4 and sizes[-1] <= 48
    assert all(b >= a for a, b in itertools.pairwise(sizes))
    scheduled = trajectory.scheduled_batch_sizes
    assert all(b >= a for a, b in itertools.pairwise(scheduled)) and max(scheduled) <= 48
    # a drawn batch is the scheduled size, or shorter at an epoch's end
    assert all(d <= s for d, s in zip(trajectory.batch_sizes, scheduled, strict=True))
    assert any(d < s for d, s in zip(trajectory.batch_sizes, scheduled, strict=True))
    # no test once the batch is at the cap
    assert len(trajectory.test_steps) < trajectory.steps or sizes[-1] < 48


def test_identical_samples_never_grow_the_batch():
    x = torch.ones(32, 5)
    y = torch.zeros(32, dtype=torch.long)
    net = model()
    sampler = AdaptiveBatchSampler(32, 4, 32, 0)
    optimizer = torch.optim.Adagrad(net.parameters(), lr=0.1)
    trajectory = train_adaptive(net, optimizer, x, y, sampler, 64, lambda s: 0.1, test=BatchTest("augmented_ip"))
    assert set(trajectory.batch_sizes) == {4} and len(trajectory.test_steps) == 16


def test_bad_training_arguments_raise():
    x, y = task()
    net = model()
    optimizer = torch.optim.Adagrad(net.parameters(), lr=0.1)
    sampler = AdaptiveBatchSampler(len(y), 4, 64, 0)
    with pytest.raises(ValueError, match="test_interval"):
        train_adaptive(net, optimizer, x, y, sampler, 100, lambda s: 0.1, BatchTest("norm"), test_interval=0)
    bn = nn.Sequential(nn.Linear(5, 2), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="model"):
        train_adaptive(bn, torch.optim.Adagrad(bn.parameters()), x, y, sampler, 100, lambda s: 0.1, BatchTest("norm"))
