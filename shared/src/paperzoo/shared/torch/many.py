"""Many small models of one architecture at once: parameters stacked on a leading model axis, one batched forward
and one autograd backward per step for all of them.

- :func:`stack_init`: the parameters of ``factory()`` built under each seed, stacked ``[M, ...]``.
- :func:`forward_many`: every model's outputs, on shared inputs ``[B, ...]`` or per-model inputs ``[M, B, ...]``.
- :func:`grads_many`: every model's gradient of its own mean loss on its own batch, and the losses.
- :func:`sgd_many`: one ``torch.optim.SGD`` step (momentum, weight decay; dampening 0, no Nesterov) for all models.
- :func:`train_many`: each model trained by mini-batch SGD on its own subset of one dataset in its own order,
  equal (to float rounding) to training the models one by one with ``torch.optim.SGD``.
- :func:`flatten_many` / :func:`unflatten_many`: stacked parameters as one ``[M, P]`` matrix and back.

The forward: a model whose ``torch.fx`` trace is a chain of ``nn.Linear`` layers, ``nn.Flatten`` and elementwise
activations (the MLPs of dmm and fedau) runs as one ``torch.baddbmm`` per layer on the stacked weights (one matrix
product against all models' weight rows for a first layer on shared inputs); any other model runs as
``vmap(functional_call)`` (``torch.func``), which pays a per-op dispatch on every call. Gradients are one
``torch.autograd.grad`` of the summed per-model losses (model m's parameters reach only its own loss). The
cross-entropy of ``[M, B, C]`` logits is computed with the class axis second, where ``log_softmax`` is vectorised
over the batch (on the last axis it is ~10x slower for few classes).

Models with buffers (batch norm running statistics) are refused: their in-place updates do not vmap.
Used by: dmm (hundreds of subset models and oracles), fedau (the participating clients' local steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import torch
import torch.fx
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def stack_init(factory: Callable[[], nn.Module], seeds: Sequence[int]) -> Params:
    """``factory()`` built after ``torch.manual_seed(seed)`` for each seed (the global RNG is restored after),
    its parameters stacked on a new leading axis: ``{name: [M, *shape]}``, detached.

    Models are built on the CPU, so only the CPU generator is seeded (``torch.default_generator.manual_seed``, what
    ``torch.manual_seed`` does to it; the accelerators' generators are left alone, and the ~0.1 ms per call that
    ``torch.manual_seed`` spends queueing a seed for an uninitialised CUDA is not paid)."""
    if len(seeds) == 0:
        raise ValueError("seeds must be non-empty")
    models = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(seed))
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


# parameter-free modules and functions that act elementwise: applied to the stacked activations as they are
_ELEMENTWISE_MODULES = (
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardtanh,
)
_ELEMENTWISE_FUNCTIONS = frozenset(
    {torch.relu, F.relu, torch.tanh, F.tanh, torch.sigmoid, F.sigmoid, F.gelu, F.silu, F.leaky_relu, F.elu}
)
# a layer of a chain: ("linear", parameter-name prefix), ("flatten", (start_dim, end_dim)) or ("apply", callable)
Layer = tuple[str, Any]
_CHAINS: WeakKeyDictionary[nn.Module, list[Layer] | None] = WeakKeyDictionary()


def _trace_chain(template: nn.Module) -> list[Layer] | None:
    """``template``'s forward as a chain of layers (each fed the previous one's output alone), or ``None`` when its
    ``torch.fx`` trace has anything else, no ``nn.Linear`` layer or a parameter outside them."""
    if type(template) is nn.Linear:  # exact types throughout: a subclass may have its own forward
        return [("linear", "")]
    try:
        graph = torch.fx.symbolic_trace(template).graph
    except Exception:  # untraceable forward (data-dependent control flow, ...): the general path handles it
        return None
    nodes = list(graph.nodes)
    if len(nodes) < 2 or nodes[0].op != "placeholder" or nodes[-1].op != "output":
        return None
    chain: list[Layer] = []
    covered: set[str] = set()
    previous = nodes[0]
    for node in nodes[1:]:
        tensors = [a for a in (*node.args, *node.kwargs.values()) if isinstance(a, torch.fx.Node)]
        if len(tensors) != 1 or tensors[0] is not previous or (node.op != "output" and node.args[:1] != (previous,)):
            return None
        if node.op == "output":
            break
        if node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS:
            target, args, kwargs = node.target, node.args[1:], dict(node.kwargs)
            chain.append(("apply", lambda h, f=target, a=args, k=kwargs: f(h, *a, **k)))
        elif node.op == "call_module":
            module = template.get_submodule(node.target)
            if type(module) is nn.Linear:
                chain.append(("linear", f"{node.target}."))
                covered.update(f"{node.target}.{name}" for name, _ in module.named_parameters())
            elif type(module) is nn.Flatten:
                chain.append(("flatten", (module.start_dim, module.end_dim)))
            elif type(module) in _ELEMENTWISE_MODULES:
                chain.append(("apply", module))
            else:
                return None
        else:
            return None
        previous = node
    if not covered or covered != {name for name, _ in template.named_parameters()}:
        return None
    return chain


def _chain(template: nn.Module) -> list[Layer] | None:
    """:func:`_trace_chain`, traced once per template (the template's structure must not change after)."""
    if template not in _CHAINS:
        _CHAINS[template] = _trace_chain(template)
    return _CHAINS[template]


def _linear_many(h: Tensor, weight: Tensor, bias: Tensor | None, shared: bool) -> Tensor:
    """y_m = h_m W_m^T + b_m for every model m: ``weight`` ``[M, out, in]``, ``bias`` ``[M, out]``; ``h`` is
    ``[M, B, ..., in]``, or ``[B, ..., in]`` common to every model when ``shared`` (then one matrix product against
    all models' weight rows). Returns ``[M, B, ..., out]``, a view of ``[M, out, B...]`` memory: computed as
    W_m h_m^T, the weight gradient W_m-shaped and contiguous and the next layer's input already transposed."""
    m, n_out, n_in = weight.shape
    if shared:
        rows = h.reshape(-1, n_in).T  # [in, N]
        flat_w = weight.reshape(m * n_out, n_in)
        out = torch.mm(flat_w, rows) if bias is None else torch.addmm(bias.reshape(m * n_out, 1), flat_w, rows)
        out = out.reshape(m, n_out, -1)
    else:
        cols = h.reshape(m, -1, n_in).transpose(1, 2)  # [M, in, N]
        out = torch.bmm(weight, cols) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, cols)
    lead = h.shape[:-1] if shared else h.shape[1:-1]
    return out.transpose(1, 2).reshape(m, *lead, n_out)


def _chain_forward(chain: list[Layer], params: Params, x: Tensor, shared: bool) -> Tensor:
    """A chain's forward on stacked parameters (the inputs stay shared until the first linear layer)."""
    h = x
    for kind, what in chain:
        if kind == "linear":
            h = _linear_many(h, params[f"{what}weight"], params.get(f"{what}bias"), shared)
            shared = False
        elif kind == "flatten":
            start, end = what
            h = h.flatten(*what) if shared else h.flatten(start + (start >= 0), end + (end >= 0))
        else:
            h = what(h)
    return h


def forward_many(template: nn.Module, params: Params, x: Tensor, shared_input: bool = False) -> Tensor:
    """``template``'s forward with each model's parameters: ``[M, B, ...]`` outputs.

    ``x`` is ``[B, ...]`` fed to every model when ``shared_input``, else ``[M, B, ...]`` (model m sees ``x[m]``).
    ``template`` only supplies the architecture: its own parameter values are never read."""
    m = n_models(params)
    if not shared_input and x.shape[0] != m:
        raise ValueError(f"x must be [M={m}, B, ...] (or pass shared_input=True), got shape {tuple(x.shape)}")
    chain = _chain(template)
    if chain is not None:
        return _chain_forward(chain, params, x, shared_input)
    return vmap(lambda p, xb: functional_call(template, p, (xb,)), in_dims=(0, None if shared_input else 0))(params, x)


def per_model_losses(outputs: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy) -> Tensor:
    """``loss_fn(outputs[m], y[m])`` for every model m, ``[M]`` (``loss_fn`` a mean over its batch).

    ``F.cross_entropy`` of ``[M, B, C]`` logits against ``[M, B]`` class indices or ``[M, B, C]`` probabilities is
    computed at once with the class axis second: L_m = -(1/B) sum_i sum_c t_mic log softmax(z_mi)_c; any other
    ``loss_fn`` (or shape) is vmapped."""
    if loss_fn is F.cross_entropy and outputs.dim() == 3:
        if y.dim() == 2 and not y.is_floating_point():
            return F.cross_entropy(outputs.transpose(1, 2), y, reduction="none").mean(1)
        if y.shape == outputs.shape and y.is_floating_point():
            return F.cross_entropy(outputs.transpose(1, 2), y.transpose(1, 2), reduction="none").mean(1)
    return vmap(loss_fn)(outputs, y)


def _grads(
    template: nn.Module, weights: list[Tensor], names: list[str], x: Tensor, y: Tensor, loss_fn: LossFn
) -> tuple[list[Tensor], Tensor]:
    """The gradients of every model's own loss with respect to ``weights`` (leaves requiring grad), and the losses:
    d(sum_m L_m)/d theta_m = dL_m/d theta_m, since model m's parameters reach only its own loss."""
    with torch.enable_grad():
        losses = per_model_losses(forward_many(template, dict(zip(names, weights, strict=True)), x), y, loss_fn)
        grads = torch.autograd.grad(losses.sum(), weights, materialize_grads=True)  # an unused parameter: zeros
    return list(grads), losses.detach()


def grads_many(
    template: nn.Module, params: Params, x: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy
) -> tuple[Params, Tensor]:
    """For each model m, the gradient of ``loss_fn(model_m(x[m]), y[m])`` (a mean over its batch) with respect to its
    parameters, and the losses ``[M]``. ``x`` is ``[M, B, ...]``, ``y`` ``[M, B, ...]``."""
    m = n_models(params)
    if x.shape[0] != m or y.shape[0] != m:
        raise ValueError(f"x and y must lead with the model axis M={m}, got {tuple(x.shape)} and {tuple(y.shape)}")
    names = list(params)
    grads, losses = _grads(template, [params[k].detach().requires_grad_(True) for k in names], names, x, y, loss_fn)
    return dict(zip(names, grads, strict=True)), losses


@torch.no_grad()
def _sgd_(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor] | None,
    lr: float | Tensor,
    momentum: float,
    weight_decay: float,
) -> list[Tensor] | None:
    """One SGD step in place on ``params`` (``grads`` and ``buffers`` are overwritten too), fused over the tensors:
    g <- g + weight_decay * p;  b <- g at the first step (``buffers`` None), else momentum * b + g;  p <- p - lr * b.
    Returns the momentum buffers (``None`` when momentum is 0)."""
    if weight_decay:
        torch._foreach_add_(grads, params, alpha=weight_decay)
    step = grads
    if momentum:
        if buffers is None:
            buffers = grads
        else:
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_add_(buffers, grads)
        step = buffers
    if isinstance(lr, Tensor):
        torch._foreach_sub_(params, torch._foreach_mul(step, [lr.reshape(-1, *[1] * (p.dim() - 1)) for p in params]))
    else:
        torch._foreach_add_(params, step, alpha=-lr)
    return buffers if momentum else None


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
    names = list(params)
    new = [params[k].detach().clone() for k in names]
    g = [grads[k].clone() if weight_decay else grads[k] for k in names]
    b = None if buffers is None or not momentum else [buffers[k].clone() for k in names]
    b = _sgd_(new, g, b, lr, momentum, weight_decay)
    return dict(zip(names, new, strict=True)), (None if b is None else dict(zip(names, b, strict=True)))


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
    chunk: int = 64,
) -> Params:
    """Train M models at once, model m from ``factory()`` under ``seeds[m]`` on the rows ``indices[m]`` of ``(x, y)``.

    Each epoch model m visits its rows in the order ``indices[m][torch.randperm(n, generator=g_m)]`` with
    ``g_m = torch.Generator().manual_seed(seeds[m])`` (its seed sets both the initialisation and the data order), in
    mini-batches of ``batch_size`` (the last one smaller when ``batch_size`` does not divide n, as a shuffling
    ``DataLoader`` without ``drop_last``), each a :func:`sgd_many` step on the batch's mean loss (done in place on
    the stacked tensors). ``indices`` is ``[M, n]`` (every model trains on n rows; subsets of equal size, the
    datamodel and oracle setting). Returns the trained parameters stacked ``[M, ...]``.

    The models are trained ``chunk`` at a time (each chunk through all its epochs): the models are independent, so
    the result does not depend on it, while activations of a few MB stay in cache and are reused by the allocator
    instead of being mapped afresh at every step (larger stacks were slower on the CPU, see the dmm README)."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("chunk", chunk)
    check_positive("lr", lr)
    check_non_negative("momentum", momentum)
    check_non_negative("weight_decay", weight_decay)
    if indices.dim() != 2 or indices.shape[0] != len(seeds):
        raise ValueError(f"indices must be [M={len(seeds)}, n], got shape {tuple(indices.shape)}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= x.shape[0]):
        raise ValueError(f"indices must lie in [0, {x.shape[0]}) (the rows of x)")
    template = factory()
    params = stack_init(factory, seeds)
    names = list(params)
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    m, n = indices.shape
    for lo in range(0, m, chunk):
        # views of the stacked parameters, updated in place
        weights = [params[k][lo : lo + chunk].detach().requires_grad_(True) for k in names]
        own, rows_of = generators[lo : lo + chunk], indices[lo : lo + chunk]
        buffers = None
        for _ in range(epochs):
            order = torch.stack([row[torch.randperm(n, generator=g)] for row, g in zip(rows_of, own, strict=True)])
            for start in range(0, n, batch_size):
                rows = order[:, start : start + batch_size].reshape(-1)
                xb = x.index_select(0, rows).reshape(len(own), -1, *x.shape[1:])
                yb = y.index_select(0, rows).reshape(len(own), -1, *y.shape[1:])
                grads, _ = _grads(template, weights, names, xb, yb, loss_fn)
                buffers = _sgd_(weights, grads, buffers, lr, momentum, weight_decay)
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
