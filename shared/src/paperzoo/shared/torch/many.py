"""Many small models of one architecture at once: parameters stacked on a leading model axis, one vmapped
functional forward and backward per step (``torch.func.stack_module_state`` + ``vmap(functional_call)``).

- :func:`stack_init`: the parameters of ``factory()`` built under each seed, stacked ``[M, ...]``.
- :func:`forward_many`: every model's outputs, on shared inputs ``[B, ...]`` or per-model inputs ``[M, B, ...]``.
- :func:`grads_many`: every model's gradient of its own mean loss on its own batch, and the losses.
- :func:`sgd_many`: one ``torch.optim.SGD`` step (momentum, weight decay; dampening 0, no Nesterov) for all models.
- :func:`train_many`: each model trained by mini-batch SGD on its own subset of one dataset in its own order,
  equal (to float rounding) to training the models one by one with ``torch.optim.SGD``.
- :func:`flatten_many` / :func:`unflatten_many`: stacked parameters as one ``[M, P]`` matrix and back.

Models with buffers (batch norm running statistics) are refused: their in-place updates do not vmap.
Used by: dmm (hundreds of subset models and oracles), fedau (the participating clients' local steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap
from torch.nn import functional as F

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def stack_init(factory: Callable[[], nn.Module], seeds: Sequence[int]) -> Params:
    """``factory()`` built after ``torch.manual_seed(seed)`` for each seed (the global RNG is restored after),
    its parameters stacked on a new leading axis: ``{name: [M, *shape]}``, detached."""
    if len(seeds) == 0:
        raise ValueError("seeds must be non-empty")
    models = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            models.append(factory())
    params, buffers = stack_module_state(models)
    if buffers:
        raise ValueError(f"models with buffers are not supported (got {sorted(buffers)})")
    return {name: value.detach() for name, value in params.items()}


def n_models(params: Params) -> int:
    """The size of the leading model axis (``ValueError`` when the tensors disagree on it or there are none)."""
    sizes = {value.shape[0] for value in params.values()}
    if len(sizes) != 1:
        raise ValueError(f"params must share one leading model axis, got sizes {sorted(sizes)}")
    return sizes.pop()


def forward_many(template: nn.Module, params: Params, x: Tensor, shared_input: bool = False) -> Tensor:
    """``template``'s forward with each model's parameters: ``[M, B, ...]`` outputs.

    ``x`` is ``[B, ...]`` fed to every model when ``shared_input``, else ``[M, B, ...]`` (model m sees ``x[m]``).
    ``template`` only supplies the architecture: its own parameter values are never read."""
    m = n_models(params)
    if not shared_input and x.shape[0] != m:
        raise ValueError(f"x must be [M={m}, B, ...] (or pass shared_input=True), got shape {tuple(x.shape)}")
    return vmap(lambda p, xb: functional_call(template, p, (xb,)), in_dims=(0, None if shared_input else 0))(params, x)


def grads_many(
    template: nn.Module, params: Params, x: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy
) -> tuple[Params, Tensor]:
    """For each model m, the gradient of ``loss_fn(model_m(x[m]), y[m])`` (a mean over its batch) with respect to its
    parameters, and the losses ``[M]``. ``x`` is ``[M, B, ...]``, ``y`` ``[M, B, ...]``."""
    m = n_models(params)
    if x.shape[0] != m or y.shape[0] != m:
        raise ValueError(f"x and y must lead with the model axis M={m}, got {tuple(x.shape)} and {tuple(y.shape)}")

    def loss(p: Params, xb: Tensor, yb: Tensor) -> Tensor:
        return loss_fn(functional_call(template, p, (xb,)), yb)

    return vmap(grad_and_value(loss))(params, x, y)


def sgd_many(
    params: Params,
    grads: Params,
    lr: float | Tensor,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    buffers: Params | None = None,
) -> tuple[Params, Params | None]:
    """One ``torch.optim.SGD`` step for every model (dampening 0, no Nesterov), out of place.

    g = grad + weight_decay * p;  b = g at the first step (``buffers`` None), else momentum * b + g;  p <- p - lr * b
    (b = g when momentum is 0). ``lr`` is a float or a ``[M]`` tensor of per-model rates. Returns the new
    parameters and momentum buffers (``None`` when momentum is 0)."""
    check_non_negative("momentum", momentum)
    check_non_negative("weight_decay", weight_decay)
    if not isinstance(lr, Tensor):
        check_positive("lr", lr)
    new_params: Params = {}
    new_buffers: Params = {}
    for name, p in params.items():
        g = grads[name] if weight_decay == 0 else grads[name] + weight_decay * p
        if momentum:
            g = g if buffers is None else momentum * buffers[name] + g
            new_buffers[name] = g
        step_lr = lr.reshape(-1, *([1] * (p.dim() - 1))) if isinstance(lr, Tensor) else lr
        new_params[name] = p - step_lr * g
    return new_params, (new_buffers if momentum else None)


def train_many(
    factory: Callable[[], nn.Module],
    seeds: Sequence[int],
    indices: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    loss_fn: LossFn = F.cross_entropy,
) -> Params:
    """Train M models at once, model m from ``factory()`` under ``seeds[m]`` on the rows ``indices[m]`` of ``(x, y)``.

    Each epoch model m visits its rows in the order ``indices[m][torch.randperm(n, generator=g_m)]`` with
    ``g_m = torch.Generator().manual_seed(seeds[m])`` (its seed sets both the initialisation and the data order), in
    mini-batches of ``batch_size`` (the last one smaller when ``batch_size`` does not divide n, as a shuffling
    ``DataLoader`` without ``drop_last``), each a :func:`sgd_many` step on the batch's mean loss. ``indices`` is
    ``[M, n]`` (every model trains on n rows; subsets of equal size, the datamodel and oracle setting).
    Returns the trained parameters stacked ``[M, ...]``."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if indices.dim() != 2 or indices.shape[0] != len(seeds):
        raise ValueError(f"indices must be [M={len(seeds)}, n], got shape {tuple(indices.shape)}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= x.shape[0]):
        raise ValueError(f"indices must lie in [0, {x.shape[0]}) (the rows of x)")
    template = factory()
    params = stack_init(factory, seeds)
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    n = indices.shape[1]
    buffers = None
    for _ in range(epochs):
        order = torch.stack([row[torch.randperm(n, generator=g)] for row, g in zip(indices, generators, strict=True)])
        for start in range(0, n, batch_size):
            batch = order[:, start : start + batch_size]
            grads, _ = grads_many(template, params, x[batch], y[batch], loss_fn)
            params, buffers = sgd_many(params, grads, lr, momentum, weight_decay, buffers)
    return params


def flatten_many(params: Params) -> Tensor:
    """The stacked parameters as one ``[M, P]`` matrix (names in ``params``' order, each tensor flattened)."""
    m = n_models(params)
    return torch.cat([value.reshape(m, -1) for value in params.values()], dim=1)


def unflatten_many(flat: Tensor, like: Params) -> Params:
    """The inverse of :func:`flatten_many`: ``flat`` (``[M, P]``, any M) cut into ``like``'s names and shapes."""
    sizes = [value[0].numel() for value in like.values()]
    if flat.dim() != 2 or flat.shape[1] != sum(sizes):
        raise ValueError(f"flat must be [M, {sum(sizes)}], got shape {tuple(flat.shape)}")
    pieces = torch.split(flat, sizes, dim=1)
    return {
        name: piece.reshape(flat.shape[0], *value.shape[1:])
        for (name, value), piece in zip(like.items(), pieces, strict=True)
    }
