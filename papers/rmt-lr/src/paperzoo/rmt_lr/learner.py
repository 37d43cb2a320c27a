"""The SLQ learning-rate and momentum learner, as a ``torch.optim.lr_scheduler.LRScheduler`` of a real SGD.

OUR OPERATIONALISATION, not the paper's rule: the paper describes a learner that sets the learning rate
and momentum on the fly from a stochastic-Lanczos-quadrature estimate of the spectrum, but its exact
formula was not retrieved. Here, every ``every`` optimizer steps (and at the start) the scheduler draws a
fresh batch of ``batch_size`` training examples, runs SLQ (m Lanczos steps from n_v start vectors) on the
batch Hessian, and takes

- λ_max = the largest Ritz value, λ_min = the smallest positive Ritz value whose SLQ weight is >= ``w_min``
  (0 if there is none);
- the heavy-ball-optimal pair of a quadratic with spectrum [λ_min, λ_max] (Polyak):

      α = 4 / (√λ_max + √λ_min)²,   ρ = ((√λ_max − √λ_min) / (√λ_max + √λ_min))²;

- ρ <= ``rho_cap``: where the pair would exceed it, λ_min is raised to the value that gives ρ = ``rho_cap``
  exactly, √λ_min' = √λ_max (1 − √ρ_cap)/(1 + √ρ_cap), so (α, ρ) stays the optimal (hence stable) pair of
  the quadratic [λ_min', λ_max]: α = (1 + √ρ_cap)² / λ_max < 2(1 + ρ_cap)/λ_max;
- α <= ``lr_cap``; by default (``lr_cap=None``) the cap is the first call's α, so the learner never raises
  the learning rate above its estimate at the start. Without a cap the rule breaks down late in training on
  data the network separates: the cross-entropy and with it the batch curvature go to 0, α = 4/λ_max to
  infinity, and the run diverges (seen on digits; the quadratic model has no notion of this).

``rule="gradient"`` is the second option (the group's ``lr_sgd.py`` idea): α = gᵀg / gᵀHg on the batch
(the exact line-search step of the local quadratic along the gradient), the momentum left as set.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor, nn

from paperzoo.rmt_lr.hessian import LossFn, check_no_train_batchnorm, gradient_and_operator, n_params
from paperzoo.rmt_lr.lanczos import slq
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

RULES = ("heavy_ball", "gradient")


def heavy_ball_params(lambda_max: float, lambda_min: float, rho_cap: float = 0.99) -> tuple[float, float]:
    """(α, ρ): Polyak's optimal heavy-ball step and momentum for the spectrum [λ_min, λ_max], ρ <= ``rho_cap``."""
    check_positive("lambda_max", lambda_max)
    check_non_negative("lambda_min", lambda_min)
    check_range("rho_cap", rho_cap, 0.0, 1.0, high_inclusive=False)
    root_max = math.sqrt(lambda_max)
    root_min = min(math.sqrt(lambda_min), root_max)
    root_floor = root_max * (1 - math.sqrt(rho_cap)) / (1 + math.sqrt(rho_cap))
    root_min = max(root_min, root_floor)
    return 4 / (root_max + root_min) ** 2, ((root_max - root_min) / (root_max + root_min)) ** 2


class LanczosLRMomentumScheduler(torch.optim.lr_scheduler.LRScheduler):
    """Sets every param group's ``lr`` and ``momentum`` of a ``torch.optim.SGD`` from SLQ of the batch Hessian.

    Step it after every optimizer step (as any scheduler); it learns at construction and then every ``every``
    steps. ``history`` holds each learner call (step, λ_max, λ_min, lr, momentum); ``seconds`` the time spent
    in it. See the module docstring for the rule (our operationalisation).

    Args:
        optimizer: a ``torch.optim.SGD`` over ``model``'s parameters.
        model: the trained model (no train-mode BatchNorm).
        loss_fn: ``loss_fn(outputs, targets)``, the mean training loss.
        data: ``(inputs, targets)``, the training set the learner's batches are drawn from.
        batch_size: the learner's batch, in [1, N] (default 512).
        every: optimizer steps between learner calls (default: one epoch is the benchmark's choice).
        m: Lanczos steps, in [2, P]; n_v: start vectors (>= 1).
        w_min: the smallest SLQ weight a Ritz value needs to serve as λ_min.
        rho_cap: momentum cap in [0, 1); lr_cap: learning-rate cap (> 0; None: the first call's α).
        rule: ``"heavy_ball"`` (α, ρ) or ``"gradient"`` (α = gᵀg/gᵀHg, momentum unchanged).
        batched: run the n_v start vectors together (one batched HVP per Lanczos step).
        seed: the learner's batches and start vectors.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        loss_fn: LossFn,
        data: tuple[Tensor, Tensor],
        batch_size: int = 512,
        every: int = 1,
        m: int = 30,
        n_v: int = 3,
        w_min: float = 0.01,
        rho_cap: float = 0.99,
        lr_cap: float | None = None,
        rule: str = "heavy_ball",
        batched: bool = True,
        seed: int = 0,
    ) -> None:
        if not isinstance(optimizer, torch.optim.SGD):
            raise ValueError(f"optimizer must be a torch.optim.SGD, got {type(optimizer).__name__}")
        check_no_train_batchnorm(model)
        p, n = n_params(model), len(data[1])
        if not isinstance(m, int) or isinstance(m, bool) or not 2 <= m <= p:
            raise ValueError(f"m must be an integer in [2, P={p}], got {m!r}")
        check_positive_int("n_v", n_v)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be an integer in [1, N={n}], got {batch_size!r}")
        check_positive_int("every", every)
        check_range("w_min", w_min, 0.0, 1.0)
        check_range("rho_cap", rho_cap, 0.0, 1.0, high_inclusive=False)
        if lr_cap is not None and not lr_cap > 0:
            raise ValueError(f"lr_cap must be > 0, got {lr_cap!r}")
        check_one_of("rule", rule, RULES)
        self.model, self.loss_fn, self.data = model, loss_fn, data
        self.batch_size, self.every, self.m, self.n_v = batch_size, every, m, n_v
        self.w_min, self.rho_cap, self.lr_cap, self.rule, self.batched = w_min, rho_cap, lr_cap, rule, batched
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0
        super().__init__(optimizer)

    def learn(self) -> tuple[float, float]:
        """One learner call: SLQ on a fresh batch; returns (α, ρ) (ρ is the current momentum for "gradient")."""
        start = time.perf_counter()
        x, y = self.data
        index = torch.randperm(len(y), generator=self.generator)[: self.batch_size].to(y.device)
        grad, matvec = gradient_and_operator(self.model, self.loss_fn, (x[index], y[index]))
        momentum = float(self.optimizer.param_groups[0]["momentum"])
        if self.rule == "gradient":
            curvature = float(grad @ matvec(grad))
            lr = float(grad @ grad) / curvature if curvature > 0 else float(self.optimizer.param_groups[0]["lr"])
            lam_max = lam_min = math.nan
        else:
            theta, weights = slq(
                matvec, grad.numel(), self.m, self.n_v, self.generator, grad.dtype, self.batched, grad.device
            )
            lam_max = float(theta.max())
            usable = theta[(theta > 0) & (weights >= self.w_min)]
            lam_min = float(usable.min()) if usable.numel() else 0.0
            if lam_max > 0:
                lr, momentum = heavy_ball_params(lam_max, lam_min, self.rho_cap)
            else:  # no positive curvature seen: keep the current settings
                lr = float(self.optimizer.param_groups[0]["lr"])
        if self.lr_cap is None:
            self.lr_cap = lr
        lr = min(lr, self.lr_cap)
        for group in self.optimizer.param_groups:
            group["momentum"] = momentum
        self.history.append(
            {
                "step": float(self.last_epoch),
                "lambda_max": lam_max,
                "lambda_min": lam_min,
                "lr": lr,
                "momentum": momentum,
            }
        )
        self.seconds += time.perf_counter() - start
        return lr, momentum

    def get_lr(self) -> list[float]:  # called by step() with last_epoch already advanced
        if self.last_epoch % self.every == 0:
            lr, _ = self.learn()
            return [lr for _ in self.optimizer.param_groups]
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The schedule's state without the model, loss and data (the generator as its state tensor)."""
        skip = {"optimizer", "model", "loss_fn", "data", "generator"}
        return {k: v for k, v in self.__dict__.items() if k not in skip} | {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.generator.set_state(state.pop("generator"))
        self.__dict__.update(state)
