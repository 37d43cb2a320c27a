"""Curvature-vector products of a model's mean mini-batch loss, flat in ``parameters_to_vector`` order.

For a batch B = (inputs, targets) and L_B(θ) = loss_fn(model(inputs; θ), targets) (a mean over the batch):

- Hessian-vector product (Pearlmutter; double backward): Hv = ∇_θ(∇_θ L_B(θ) · v);
- Gauss-Newton-vector product: Gv = Jᵀ H_out J v, with J = ∂z/∂θ the Jacobian of the outputs z and
  H_out = ∂²L/∂z² the Hessian of the loss in the outputs (positive semi-definite for cross-entropy).

Every product is in the model's own dtype; ``v`` holds one vector (P,) or a stack of them (k, P), P being
the number of trainable parameters. Train-mode BatchNorm is refused: its H_B would depend on the batch's
statistics, so batch Hessians would not be sub-samples of one function (the brief's pitfall).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
MatVec = Callable[[Tensor], Tensor]

# The exact Hessian (P x P) is for tiny models only.
MAX_EXACT_PARAMS = 5000


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that require gradients, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


def n_params(model: nn.Module) -> int:
    """P: the number of trainable scalars (the length of every flat vector here)."""
    return sum(p.numel() for p in trainable(model))


def check_no_train_batchnorm(model: nn.Module) -> None:
    """``ValueError`` naming ``model`` if it holds a BatchNorm layer in training mode."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
            raise ValueError(
                f"model has train-mode BatchNorm ({name or type(module).__name__}): its batch Hessian depends on the "
                "batch statistics; use GroupNorm/no normalisation or put BatchNorm in eval mode"
            )


def _flat(tensors: tuple[Tensor, ...] | list[Tensor], lead: int | None = None) -> Tensor:
    if lead is None:
        return torch.cat([t.reshape(-1) for t in tensors])
    return torch.cat([t.reshape(lead, -1) for t in tensors], dim=1)


def _check_vector(v: Tensor, p: int) -> None:
    if v.ndim not in (1, 2) or v.shape[-1] != p:
        raise ValueError(f"v must have shape ({p},) or (k, {p}), got {tuple(v.shape)}")


def gradient_and_operator(model: nn.Module, loss_fn: LossFn, batch: Batch) -> tuple[Tensor, MatVec]:
    """(∇L_B flat, v -> H_B v) for repeated products on one batch: the gradient graph is built once and kept.

    Each product is then one backward pass through ∇L_B (the second half of a double backward); a stack
    (k, P) of vectors is one batched backward (``is_grads_batched``).
    """
    check_no_train_batchnorm(model)
    params = trainable(model)
    inputs, targets = batch
    grads = torch.autograd.grad(loss_fn(model(inputs), targets), params, create_graph=True)
    flat_grad = _flat(grads)
    p = flat_grad.numel()

    def matvec(v: Tensor) -> Tensor:
        _check_vector(v, p)
        batched = v.ndim == 2
        out = torch.autograd.grad(
            flat_grad, params, grad_outputs=v.to(flat_grad.dtype), retain_graph=True, is_grads_batched=batched
        )
        return _flat(out, len(v) if batched else None).detach()

    return flat_grad.detach(), matvec


def hessian_operator(model: nn.Module, loss_fn: LossFn, batch: Batch) -> MatVec:
    """v -> H_B v on one batch (see :func:`gradient_and_operator`)."""
    return gradient_and_operator(model, loss_fn, batch)[1]


def hvp(model: nn.Module, loss_fn: LossFn, batch: Batch, v: Tensor) -> Tensor:
    """Hv = ∇_θ(∇_θ L_B · v) by double backward; ``v`` (P,) or (k, P) flat in ``parameters_to_vector`` order."""
    return hessian_operator(model, loss_fn, batch)(v)


def ggn_vp(model: nn.Module, loss_fn: LossFn, batch: Batch, v: Tensor) -> Tensor:
    """Gv = Jᵀ H_out J v (the generalised Gauss-Newton product), by ``torch.func`` forward-over-reverse.

    J v is a forward-mode product of the outputs, H_out (J v) a forward-over-reverse product of the loss in
    the outputs, and Jᵀ(·) a reverse-mode product. ``v`` is (P,) or (k, P).
    """
    from torch.func import functional_call, grad, jvp, vjp

    check_no_train_batchnorm(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = tuple(p.detach() for p in trainable(model))
    _check_vector(v, sum(p.numel() for p in params))
    inputs, targets = batch

    def outputs(*ps: Tensor) -> Tensor:
        return functional_call(model, dict(zip(names, ps, strict=True)), (inputs,))

    def one(u: Tensor) -> Tensor:
        tangents = tuple(t.view_as(p) for t, p in zip(u.split([p.numel() for p in params]), params, strict=True))
        z, jv = jvp(outputs, params, tangents)
        _, h_jv = jvp(grad(lambda o: loss_fn(o, targets)), (z.detach(),), (jv,))
        _, pullback = vjp(outputs, *params)
        return _flat(pullback(h_jv))

    return torch.stack([one(u) for u in v]) if v.ndim == 2 else one(v)


def exact_hessian(model: nn.Module, loss_fn: LossFn, batch: Batch) -> Tensor:
    """The full P x P Hessian of L_B (one batched double backward against the identity); P <= 5000."""
    p = n_params(model)
    if p > MAX_EXACT_PARAMS:
        raise ValueError(f"model must have at most {MAX_EXACT_PARAMS} trainable parameters for exact_hessian, got {p}")
    dtype = trainable(model)[0].dtype
    h = hessian_operator(model, loss_fn, batch)(torch.eye(p, dtype=dtype, device=trainable(model)[0].device))
    return 0.5 * (h + h.T)  # symmetric up to rounding
