"""Unlearning methods on stacked models (``{name: [M, ...]}``, one row per independently trained original model).

The paper's methods (Georgiev et al. 2024, "Attribute-to-Delete"):

- :func:`dm_direct`: the predicted oracle outputs ``f_hat(x) = f_theta0(x) - kappa * sum_{i in F} beta_i(x)``;
- :func:`dmm_unlearn` (Datamodel Matching): fine-tune theta0 so that its outputs on U = F (x forget_multiplier)
  + a retain sample (retain_multiplier * |F| points of S \\ F, numpy ``default_rng(42)``) match f_hat;
- :func:`om_unlearn` (Oracle Matching): the same loop with the mean outputs of real oracles as targets.

Both minimise ``mean_batch MSE(f_theta(x), target(x)) + wd_lambda ||theta - theta0||^2`` with Adam (lr 5e-4, batch
512, 5 epochs, ExponentialLR(0.95) per epoch, no shuffling): the official defaults (:class:`MatchConfig`).

The baselines of data-unlearning-bench, plain SGD over fixed-order (unshuffled) loaders, each returning the models
after the requested epochs: :func:`do_nothing`, :func:`gradient_ascent` (minimise -CE on F),
:func:`gd_retain` (CE on R), :func:`ascent_descent` (per epoch: GA over F while epoch <= ascent_epochs, then one
epoch of GD over R), :func:`scrub` (student from theta0, frozen teacher theta0; per epoch: while epoch <=
ascent_epochs maximise T^2 KL(teacher_T || student_T) on F, then minimise 0.99 CE + 0.1 T^2 KL on R; T = 4; the
learning rate x0.1 after each of epochs 3, 5, 9). ``lr`` may be one rate or a ``[M]`` tensor (one per model: a
learning-rate grid run as one stack).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from paperzoo.dmm.datamodels import check_forget
from paperzoo.dmm.stacked import outputs_stacked, per_model_loss, stacked_grads
from paperzoo.shared.torch.many import Params, forward_many, sgd_many
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

Checkpoints = dict[int, Params]


def dm_direct(outputs: Tensor, effect: Tensor, kappa: float = 1.0) -> Tensor:
    """DM-Direct: ``outputs - kappa * effect``, with ``effect = sum_{i in F} beta_i`` (``group_effect``) broadcast over
    any leading model axes of ``outputs`` (``[..., n, C]``). ``kappa`` is the paper's ``dm_multiplier``."""
    check_non_negative("kappa", kappa)
    return outputs - kappa * effect


def retain_sample(n_train: int, forget: Sequence[int] | Tensor, multiplier: float = 3.0, seed: int = 42) -> Tensor:
    """``round(multiplier * |F|)`` points of ``S \\ F`` (at most all of them), drawn without replacement with numpy
    ``default_rng(seed)`` (the official fixed seed 42), in draw order."""
    check_non_negative("retain_multiplier", multiplier)
    index = check_forget(forget, n_train)
    pool = np.setdiff1d(np.arange(n_train), index.numpy())
    size = min(len(pool), round(multiplier * len(index)))
    return torch.from_numpy(np.random.default_rng(seed).choice(pool, size, replace=False))


@dataclass(frozen=True)
class MatchConfig:
    """The matching loop of DMM and OM; defaults are the official code's."""

    lr: float = 5e-4
    epochs: int = 5
    batch_size: int = 512
    gamma: float = 0.95  # ExponentialLR, stepped once per epoch
    wd_lambda: float = 0.0
    loss_type: str = "MSE"  # or "CE": cross-entropy to softmax(target logits)
    forget_multiplier: float = 1.0
    retain_multiplier: float = 3.0
    retain_seed: int = 42

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive("gamma", self.gamma)
        check_non_negative("wd_lambda", self.wd_lambda)
        check_one_of("loss_type", self.loss_type, ("MSE", "CE"))
        check_non_negative("forget_multiplier", self.forget_multiplier)
        check_non_negative("retain_multiplier", self.retain_multiplier)


def finetune_set(n_train: int, forget: Sequence[int] | Tensor, config: MatchConfig) -> Tensor:
    """U: F tiled to ``round(forget_multiplier * |F|)`` rows, then the retain sample (:func:`retain_sample`)."""
    index = check_forget(forget, n_train)
    tiled = index.repeat(int(np.ceil(config.forget_multiplier)) or 1)[: round(config.forget_multiplier * len(index))]
    return torch.cat([tiled, retain_sample(n_train, index, config.retain_multiplier, config.retain_seed)])


def match_outputs(
    template: nn.Module,
    params: Params,
    x: Tensor,
    targets: Tensor,
    config: MatchConfig,
    checkpoints: Sequence[int] = (),
) -> tuple[Checkpoints, list[float]]:
    """Fine-tune every model m so that its outputs on ``x`` (``[u, ...]``, shared) match ``targets[m]`` (``[M, u, C]``
    logits): Adam on the stacked parameters (Adam is elementwise, so this is each model's own Adam), batches of
    ``x`` in order, ``lr * gamma^epoch``. Returns the models after each epoch in ``checkpoints`` (default: the last)
    and the mean loss over models at the start of each epoch and after the last."""
    wanted = set(checkpoints or (config.epochs,))
    if min(wanted) < 1 or max(wanted) > config.epochs:
        raise ValueError(f"checkpoints must lie in [1, {config.epochs}], got {sorted(wanted)}")
    start = {k: v.detach().clone() for k, v in params.items()}
    if len(x) == 0:
        return {e: start for e in wanted}, []
    leaves = {k: v.clone() for k, v in start.items()}
    moments = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in leaves.items()}
    step = 0

    def loss_of(p: Params, xb: Tensor, tb: Tensor) -> Tensor:
        out = forward_many(template, p, xb, shared_input=True)
        fit = per_model_loss(out, tb, "mse") if config.loss_type == "MSE" else per_model_loss(out, tb.softmax(-1))
        if config.wd_lambda:
            fit = fit + config.wd_lambda * sum((p[k] - start[k]).pow(2).flatten(1).sum(1) for k in p)
        return fit

    saved: Checkpoints = {}
    history = []
    for epoch in range(1, config.epochs + 1):
        with torch.no_grad():
            history.append(float(loss_of(leaves, x, targets).mean()))
        lr = config.lr * config.gamma ** (epoch - 1)  # ExponentialLR stepped after each epoch
        for lo in range(0, len(x), config.batch_size):
            xb, tb = x[lo : lo + config.batch_size], targets[:, lo : lo + config.batch_size]
            grads = stacked_grads(template, leaves, lambda p, xb=xb, tb=tb: loss_of(p, xb, tb))
            step += 1
            leaves = {k: adam_step(v, grads[k], moments[k], lr, step) for k, v in leaves.items()}
        if epoch in wanted:
            saved[epoch] = {k: v.detach().clone() for k, v in leaves.items()}
    with torch.no_grad():
        history.append(float(loss_of(leaves, x, targets).mean()))
    return saved, history


def adam_step(p: Tensor, g: Tensor, moments: tuple[Tensor, Tensor], lr: float, step: int) -> Tensor:
    """One ``torch.optim.Adam`` step (betas 0.9/0.999, eps 1e-8, bias-corrected, no weight decay) of one stacked
    tensor, elementwise (so each model gets its own Adam); updates the moments in place, returns the new tensor:
    m <- 0.9 m + 0.1 g, v <- 0.999 v + 0.001 g^2, p <- p - lr/(1 - 0.9^t) m / (sqrt(v)/sqrt(1 - 0.999^t) + 1e-8).
    Written out because the library optimizer's first step imports torch's compiler stack (4 s of CPU here)."""
    m, v = moments
    m.lerp_(g, 0.1)
    v.mul_(0.999).addcmul_(g, g, value=0.001)
    denom = (v.sqrt() / (1 - 0.999**step) ** 0.5).add_(1e-8)
    return p.addcdiv(m, denom, value=-lr / (1 - 0.9**step))


def dmm_unlearn(
    template: nn.Module,
    params: Params,
    x_train: Tensor,
    forget: Sequence[int] | Tensor,
    effect: Tensor,
    kappa: float = 1.0,
    config: MatchConfig = MatchConfig(),
    checkpoints: Sequence[int] = (),
) -> tuple[Checkpoints, list[float]]:
    """Datamodel Matching: targets ``dm_direct(f_theta0(x_U), effect[U], kappa)`` per model, with ``effect`` the
    attribution's ``group_effect(forget)`` on the training points (``[n_train, C]``), then :func:`match_outputs`."""
    check_non_negative("kappa", kappa)
    u = finetune_set(len(x_train), forget, config)
    base = outputs_stacked(template, params, x_train[u])
    return match_outputs(template, params, x_train[u], dm_direct(base, effect[u], kappa), config, checkpoints)


def om_unlearn(
    template: nn.Module,
    params: Params,
    x_train: Tensor,
    forget: Sequence[int] | Tensor,
    oracle_outputs: Tensor,
    config: MatchConfig = MatchConfig(),
    checkpoints: Sequence[int] = (),
) -> tuple[Checkpoints, list[float]]:
    """Oracle Matching: :func:`match_outputs` to ``oracle_outputs[U]`` (``[n_train, C]``, the mean logits of k
    models retrained on S \\ F), the same target for every model."""
    u = finetune_set(len(x_train), forget, config)
    m = next(iter(params.values())).shape[0]
    return match_outputs(template, params, x_train[u], oracle_outputs[u].expand(m, -1, -1), config, checkpoints)


# ------------------------------------------------------------------------------------------ baselines (SGD)
def do_nothing(params: Params) -> Checkpoints:
    """The original models, unchanged (epoch 0)."""
    return {0: {k: v.clone() for k, v in params.items()}}


def _sgd_epoch(
    template: nn.Module,
    params: Params,
    x: Tensor,
    index: Tensor,
    batch_size: int,
    loss: Callable[[Tensor, Tensor], Tensor],
    lr: float | Tensor,
) -> Params:
    """One pass of plain SGD over ``index`` in order, in batches; ``loss(outputs [M, B, C], batch) -> [M]``."""
    for batch in index.split(batch_size):
        xb = x[batch]
        grads = stacked_grads(template, params, lambda p, b=batch, xb=xb: loss(forward_many(template, p, xb, True), b))
        params, _ = sgd_many(params, grads, lr)
    return params


def _run(params: Params, epochs: Sequence[int], epoch_fn: Callable[[Params, int], Params]) -> Checkpoints:
    """``epoch_fn`` for epochs 1..max(epochs), the models kept after each epoch in ``epochs``."""
    if not epochs or min(epochs) < 1:
        raise ValueError(f"epochs must be positive checkpoint epochs, got {list(epochs)}")
    saved: Checkpoints = {}
    for epoch in range(1, max(epochs) + 1):
        params = epoch_fn(params, epoch)
        if epoch in epochs:
            saved[epoch] = params
    return saved


def _check_lr(lr: float | Tensor) -> None:
    if isinstance(lr, Tensor):
        if bool((lr <= 0).any()):
            raise ValueError("lr must be positive")
    else:
        check_positive("lr", lr)


def _retain(n_train: int, forget: Tensor) -> Tensor:
    keep = torch.ones(n_train, dtype=torch.bool)
    keep[forget] = False
    return keep.nonzero().squeeze(1)


def gradient_ascent(
    template: nn.Module,
    params: Params,
    x: Tensor,
    y: Tensor,
    forget: Sequence[int] | Tensor,
    lr: float | Tensor,
    epochs: Sequence[int],
    forget_batch_size: int = 32,
) -> Checkpoints:
    """GA: SGD on ``-CE`` over F (batches of ``forget_batch_size`` in index order), per epoch."""
    _check_lr(lr)
    f = check_forget(forget, len(x))
    ascent = lambda out, b: -per_model_loss(out, y[b].expand(out.shape[0], -1))  # noqa: E731
    return _run(params, epochs, lambda p, _: _sgd_epoch(template, p, x, f, forget_batch_size, ascent, lr))


def gd_retain(
    template: nn.Module,
    params: Params,
    x: Tensor,
    y: Tensor,
    forget: Sequence[int] | Tensor,
    lr: float | Tensor,
    epochs: Sequence[int],
    batch_size: int = 100,
) -> Checkpoints:
    """GD: fine-tune on R = S \\ F alone (CE, batches in index order)."""
    _check_lr(lr)
    r = _retain(len(x), check_forget(forget, len(x)))
    descent = lambda out, b: per_model_loss(out, y[b].expand(out.shape[0], -1))  # noqa: E731
    return _run(params, epochs, lambda p, _: _sgd_epoch(template, p, x, r, batch_size, descent, lr))


def ascent_descent(
    template: nn.Module,
    params: Params,
    x: Tensor,
    y: Tensor,
    forget: Sequence[int] | Tensor,
    lr: float | Tensor,
    epochs: Sequence[int],
    ascent_epochs: int = 3,
    batch_size: int = 100,
    forget_batch_size: int = 32,
) -> Checkpoints:
    """Per epoch: a GA pass over F while ``epoch <= ascent_epochs``, then a GD pass over R."""
    _check_lr(lr)
    check_non_negative("ascent_epochs", ascent_epochs)
    f = check_forget(forget, len(x))
    r = _retain(len(x), f)
    ce = lambda out, b: per_model_loss(out, y[b].expand(out.shape[0], -1))  # noqa: E731

    def epoch_fn(p: Params, epoch: int) -> Params:
        if epoch <= ascent_epochs:
            p = _sgd_epoch(template, p, x, f, forget_batch_size, lambda out, b: -ce(out, b), lr)
        return _sgd_epoch(template, p, x, r, batch_size, ce, lr)

    return _run(params, epochs, epoch_fn)


def distill_kl(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """``T^2 KL(softmax(teacher/T) || softmax(student/T))`` summed over classes, averaged over the batch -> ``[M]``."""
    log_s = (student / temperature).log_softmax(-1)
    log_t = (teacher / temperature).log_softmax(-1)
    return (log_t.exp() * (log_t - log_s)).sum(-1).mean(-1) * temperature**2


def scrub(
    template: nn.Module,
    params: Params,
    x: Tensor,
    y: Tensor,
    forget: Sequence[int] | Tensor,
    lr: float | Tensor,
    epochs: Sequence[int],
    ascent_epochs: int = 3,
    batch_size: int = 100,
    forget_batch_size: int = 32,
    temperature: float = 4.0,
    gamma: float = 0.99,
    alpha: float = 0.1,
    decay_epochs: Sequence[int] = (3, 5, 9),
    decay: float = 0.1,
) -> Checkpoints:
    """SCRUB (Kurmanji et al. 2023) as data-unlearning-bench runs it: the student starts at theta0, the teacher is
    theta0 frozen; epoch e uses ``lr * decay^(#decay_epochs < e)``; while ``e <= ascent_epochs`` a max-step on F
    (minimise ``-distill_kl``), then a min-step pass on R with ``gamma CE + alpha distill_kl``."""
    _check_lr(lr)
    check_non_negative("ascent_epochs", ascent_epochs)
    check_positive("temperature", temperature)
    f = check_forget(forget, len(x))
    r = _retain(len(x), f)
    teacher = outputs_stacked(template, params, x)  # [M, n, C], frozen

    def epoch_fn(p: Params, epoch: int) -> Params:
        rate = lr * decay ** int(np.sum(epoch > np.asarray(decay_epochs)))
        if epoch <= ascent_epochs:
            p = _sgd_epoch(
                template, p, x, f, forget_batch_size, lambda out, b: -distill_kl(out, teacher[:, b], temperature), rate
            )

        def min_loss(out: Tensor, b: Tensor) -> Tensor:
            return gamma * per_model_loss(out, y[b].expand(out.shape[0], -1)) + alpha * distill_kl(
                out, teacher[:, b], temperature
            )

        return _sgd_epoch(template, p, x, r, batch_size, min_loss, rate)

    return _run(params, epochs, epoch_fn)
