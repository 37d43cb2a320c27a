"""paperzoo.shared.torch.many: stacked models trained at once equal the same models trained one by one."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.testbeds.classify import MLP
from paperzoo.shared.torch.many import (
    _trace_chain,
    flatten_many,
    forward_many,
    grads_many,
    per_model_losses,
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


@pytest.mark.parametrize("chunk", [2, 64])  # two chunks (2 + 1 models), one chunk
def test_train_many_equals_one_by_one_torch_sgd_with_momentum_and_weight_decay(data, chunk):
    x, y = data
    seeds = [3, 7, 11]
    g = torch.Generator().manual_seed(1)
    indices = torch.stack([torch.randperm(40, generator=g)[:23] for _ in seeds])  # 23 rows: a last batch of 3
    kw = {"epochs": 3, "batch_size": 5, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3, "chunk": chunk}
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
    with pytest.raises(ValueError, match="chunk"):
        train_many(small_mlp, [0], torch.tensor([[0, 1]]), x, y, epochs=1, batch_size=2, lr=0.1, chunk=0)
    with pytest.raises(ValueError, match="x must be"):
        forward_many(small_mlp(), stack_init(small_mlp, [0, 1]), x)


class Residual(nn.Module):
    """Not a chain (its input feeds two nodes): runs on the vmapped general path."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.b(x + F.relu(self.a(x)))


class FunctionalChain(nn.Module):
    """A chain written with functions (F.gelu, torch.tanh) and a Linear without bias."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 4, bias=False), nn.Linear(4, 3)

    def forward(self, x):
        return self.b(torch.tanh(F.gelu(self.a(x))))


CHAINS = {
    "mlp": (small_mlp, (2, 3)),  # nn.Flatten of [B, 2, 3] inputs
    "sequential": (lambda: nn.Sequential(nn.Linear(6, 5), nn.LeakyReLU(0.1), nn.Linear(5, 4), nn.SiLU()), (6,)),
    "functional": (FunctionalChain, (6,)),
    "linear": (lambda: nn.Linear(6, 3), (6,)),
    "tokens": (lambda: nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), (4, 6)),  # [B, T, 6]
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains_take_the_batched_path_and_equal_each_model(name):
    factory, shape = CHAINS[name]
    assert _trace_chain(factory()) is not None
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, *shape, generator=g)
    per_model = torch.randn(3, 7, *shape, generator=g)
    params = stack_init(factory, [0, 1, 2])
    shared = forward_many(factory(), params, x, shared_input=True)
    own = forward_many(factory(), params, per_model)
    for m in range(3):
        torch.manual_seed(m)
        model = factory()
        torch.testing.assert_close(shared[m], model(x))
        torch.testing.assert_close(own[m], model(per_model[m]))


@pytest.mark.parametrize("factory", [Residual, lambda: nn.Sequential(nn.Linear(6, 3), nn.Dropout(0.0), nn.ReLU())])
def test_models_that_are_not_chains_run_vmapped_with_the_same_results(factory, data):
    x, y = data
    assert _trace_chain(factory()) is None
    params = stack_init(factory, [0, 1])
    grads, losses = grads_many(factory(), params, torch.stack([x, x.flip(0)]), torch.stack([y, y.flip(0)]))
    for m in range(2):
        torch.manual_seed(m)
        model = factory()
        loss = F.cross_entropy(model(x.flip(0) if m else x), y.flip(0) if m else y)
        loss.backward()
        torch.testing.assert_close(losses[m], loss.detach())
        for n, p in model.named_parameters():
            torch.testing.assert_close(grads[n][m], p.grad)


@pytest.mark.parametrize("name", ["mlp", "functional"])
def test_grads_many_equals_autograd_of_each_model_for_indices_probabilities_and_other_losses(name):
    factory, shape = CHAINS[name]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 9, *shape, generator=g)
    labels = torch.randint(0, 3, (2, 9), generator=g)
    probs = torch.rand(2, 9, 3, generator=g).softmax(-1)
    params = stack_init(factory, [5, 6])
    for y, loss_fn in ((labels, F.cross_entropy), (probs, F.cross_entropy), (probs, F.mse_loss)):
        grads, losses = grads_many(factory(), params, x, y, loss_fn)
        for m, seed in enumerate([5, 6]):
            torch.manual_seed(seed)
            model = factory()
            loss = loss_fn(model(x[m]), y[m])
            loss.backward()
            torch.testing.assert_close(losses[m], loss.detach())
            for n, p in model.named_parameters():
                torch.testing.assert_close(grads[n][m], p.grad)


def test_per_model_cross_entropy_equals_the_vmapped_loss():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(4, 6, 5, generator=g)
    labels = torch.randint(0, 5, (4, 6), generator=g)
    probs = torch.rand(4, 6, 5, generator=g).softmax(-1)
    for y in (labels, probs):
        expected = torch.stack([F.cross_entropy(logits[m], y[m]) for m in range(4)])
        torch.testing.assert_close(per_model_losses(logits, y), expected)
    # a loss that is not F.cross_entropy (here its label-smoothed form) is vmapped, not sent to the fast path
    smoothed = per_model_losses(logits, labels, lambda z, t: F.cross_entropy(z, t, label_smoothing=0.2))
    expected = torch.stack([F.cross_entropy(logits[m], labels[m], label_smoothing=0.2) for m in range(4)])
    torch.testing.assert_close(smoothed, expected)
    assert not torch.allclose(smoothed, per_model_losses(logits, labels))


def test_sgd_many_is_out_of_place_and_matches_torch_sgd_over_steps(data):
    x, y = data
    params = first = stack_init(small_mlp, [0])
    kept = {k: v.clone() for k, v in params.items()}
    torch.manual_seed(0)
    model = small_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5, weight_decay=0.01)
    buffers = None
    for step in range(3):
        rows = slice(10 * step, 10 * step + 10)
        grads, _ = grads_many(small_mlp(), params, x[None, rows], y[None, rows])
        grads_kept = {k: v.clone() for k, v in grads.items()}
        buffers_kept = None if buffers is None else {k: v.clone() for k, v in buffers.items()}
        new, new_buffers = sgd_many(params, grads, 0.2, momentum=0.5, weight_decay=0.01, buffers=buffers)
        assert all(torch.equal(grads[k], grads_kept[k]) for k in grads)  # inputs untouched
        assert buffers is None or all(torch.equal(buffers[k], buffers_kept[k]) for k in buffers)
        params, buffers = new, new_buffers
        opt.zero_grad()
        F.cross_entropy(model(x[rows]), y[rows]).backward()
        opt.step()
    assert all(torch.equal(first[k], kept[k]) for k in kept)
    for name, value in model.named_parameters():
        torch.testing.assert_close(params[name][0], value.detach())


class ScaledLinear(nn.Linear):
    """A Linear subclass with its own forward: not taken for a plain linear layer."""

    def forward(self, x):
        return 2.0 * super().forward(x)


def test_a_linear_subclass_with_its_own_forward_keeps_its_forward(data):
    x, _ = data
    factory = lambda: ScaledLinear(6, 3)  # noqa: E731
    assert _trace_chain(factory()) is None
    out = forward_many(factory(), stack_init(factory, [0]), x, shared_input=True)
    torch.manual_seed(0)
    torch.testing.assert_close(out[0], factory()(x))
