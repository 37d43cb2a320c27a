"""paperzoo.shared.torch.many: stacked models trained at once equal the same models trained one by one."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.testbeds.classify import MLP
from paperzoo.shared.torch.many import (
    flatten_many,
    forward_many,
    grads_many,
    sgd_many,
    stack_init,
    train_many,
    unflatten_many,
)


def small_mlp() -> nn.Module:
    return MLP(n_inputs=6, hidden=5, n_classes=3)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)


def test_stack_init_builds_each_seed_like_manual_seed_and_restores_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    params = stack_init(small_mlp, [4, 9])
    assert torch.equal(torch.rand(3), before)  # the global stream is untouched
    for m, seed in enumerate([4, 9]):
        torch.manual_seed(seed)
        for name, value in small_mlp().named_parameters():
            assert torch.equal(params[name][m], value)


def test_train_many_equals_one_by_one_torch_sgd_with_momentum_and_weight_decay(data):
    x, y = data
    seeds = [3, 7, 11]
    g = torch.Generator().manual_seed(1)
    indices = torch.stack([torch.randperm(40, generator=g)[:23] for _ in seeds])  # 23 rows: a last batch of 3
    kw = {"epochs": 3, "batch_size": 5, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
    stacked = train_many(small_mlp, seeds, indices, x, y, **kw)
    for m, seed in enumerate(seeds):
        torch.manual_seed(seed)
        model = small_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        order_gen = torch.Generator().manual_seed(seed)
        for _ in range(3):
            rows = indices[m][torch.randperm(23, generator=order_gen)]
            for start in range(0, 23, 5):
                batch = rows[start : start + 5]
                opt.zero_grad()
                F.cross_entropy(model(x[batch]), y[batch]).backward()
                opt.step()
        for name, value in model.named_parameters():
            torch.testing.assert_close(stacked[name][m], value.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(stacked["net.1.weight"][0], stacked["net.1.weight"][1])


def test_forward_many_on_shared_and_per_model_inputs_equals_each_model(data):
    x, _ = data
    params = stack_init(small_mlp, [0, 1])
    template = small_mlp()
    shared = forward_many(template, params, x, shared_input=True)
    per_model = forward_many(template, params, torch.stack([x, x.flip(0)]))
    for m, seed in enumerate([0, 1]):
        torch.manual_seed(seed)
        model = small_mlp()
        torch.testing.assert_close(shared[m], model(x))
        torch.testing.assert_close(per_model[m], model(x.flip(0)) if m else model(x))


def test_grads_many_and_a_step_with_per_model_learning_rates(data):
    x, y = data
    params = stack_init(small_mlp, [0, 1])
    grads, losses = grads_many(small_mlp(), params, torch.stack([x, x]), torch.stack([y, y]))
    lr = torch.tensor([0.5, 0.0])
    stepped, buffers = sgd_many(params, grads, lr)
    assert buffers is None
    for name in params:
        torch.testing.assert_close(stepped[name][0], params[name][0] - 0.5 * grads[name][0])
        assert torch.equal(stepped[name][1], params[name][1])  # lr 0 leaves model 1 as it was
    after = forward_many(small_mlp(), stepped, x, shared_input=True)
    assert F.cross_entropy(after[0], y) < losses[0]  # a descent step, not an ascent


def test_flatten_round_trip(data):
    params = stack_init(small_mlp, [0, 1, 2])
    flat = flatten_many(params)
    assert flat.shape == (3, sum(p[0].numel() for p in params.values()))
    back = unflatten_many(flat, params)
    assert all(torch.equal(back[k], params[k]) for k in params)
    with pytest.raises(ValueError, match="flat"):
        unflatten_many(flat[:, 1:], params)


def test_bad_input_is_refused(data):
    x, y = data
    with pytest.raises(ValueError, match="buffers"):
        stack_init(lambda: nn.BatchNorm1d(3), [0])
    with pytest.raises(ValueError, match="seeds"):
        stack_init(small_mlp, [])
    with pytest.raises(ValueError, match="indices"):
        train_many(small_mlp, [0], torch.tensor([[0, 40]]), x, y, epochs=1, batch_size=2, lr=0.1)
    with pytest.raises(ValueError, match="indices"):
        train_many(small_mlp, [0, 1], torch.tensor([[0, 1]]), x, y, epochs=1, batch_size=2, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        train_many(small_mlp, [0], torch.tensor([[0, 1]]), x, y, epochs=1, batch_size=2, lr=0.0)
    with pytest.raises(ValueError, match="x must be"):
        forward_many(small_mlp(), stack_init(small_mlp, [0, 1]), x)
