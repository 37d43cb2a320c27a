"""BIB's design loop: all candidates in one tensor, Adam with a learning rate per candidate, Adaptive-gamma and
Adaptive-eta (the semantics of the official ``dna/BIB.py``).

Per step t (0-based), for every candidate at once (the encoder treats batch rows independently):

1. ``phi = embed(X)``; ``L_f``, ``L_b`` (:class:`~paperzoo.bib.losses.BidirectionalLoss`).
2. Adaptive-gamma (BIB): ``g_f = dL_f/dX``, ``g_b = dL_b/dX``, ``a = df_aux/dX``; the hypergradient
   ``h = a . [eta0 (g_f - g_b)]`` (flattened dot; since ``X' = X - eta0 (gamma g_f + (1 - gamma) g_b)``,
   ``d f_aux(X') / d gamma ~= -h``) and ``gamma <- clip(gamma - lr_gamma m_hat / (sqrt(v_hat) + 1e-8), 0, 1)``
   with Adam moments of h: ascent on f_aux. gamma is updated before the step, as in the official code.
3. The step direction ``d = gamma g_f + (1 - gamma) g_b`` (``g_f`` alone for forward-only, ``g_b`` for
   backward-only): the gradient of ``gamma L_f + (1 - gamma) L_b``.
4. Adaptive-eta (t >= 1): ``u = m_hat / (sqrt(v_hat) + 1e-8)`` from the optimizer's moments updated with d
   (the Adam step about to be taken), ``eta_t = clip(eta0 - 0.01 a . u, 1e-4, 0.5)`` (re-centred at eta0 each
   step, not cumulative).
5. Adam step on X with the per-candidate learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from paperzoo.bib.losses import AuxProxyEnsemble, BidirectionalLoss
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int, check_range

MODES = ("bdi", "forward", "backward")
BETAS = (0.9, 0.999)
EPS = 1e-8


class BatchedAdam:
    """``torch.optim.Adam`` (no weight decay) on a ``(B, ...)`` tensor with a learning rate per row ``(B,)``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, ``X -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t)
    + eps)``: torch's own order of operations, so one row equals a per-row ``torch.optim.Adam``.
    """

    def __init__(self, X: Tensor, betas: tuple[float, float] = BETAS, eps: float = EPS) -> None:
        self.X, self.betas, self.eps = X, betas, eps
        self.m, self.v, self.t = torch.zeros_like(X), torch.zeros_like(X), 0

    def _rows(self, lr: Tensor) -> Tensor:
        return lr.to(self.X.dtype).reshape(-1, *([1] * (self.X.ndim - 1)))

    def direction(self, grad: Tensor) -> Tensor:
        """The normalised step ``m_hat / (sqrt(v_hat) + eps)`` that :meth:`step` would take with ``grad``."""
        (b1, b2), t = self.betas, self.t + 1
        m = self.m * b1 + grad * (1 - b1)
        v = self.v * b2 + grad * grad * (1 - b2)
        return (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + self.eps)

    @torch.no_grad()
    def step(self, grad: Tensor, lr: Tensor) -> None:
        """One Adam step with per-row learning rates ``lr (B,)``."""
        (b1, b2), self.t = self.betas, self.t + 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step_size = self._rows(lr) / (1 - b1**self.t)
        denom = (self.v.sqrt() / (1 - b2**self.t) ** 0.5).add_(self.eps)
        self.X.sub_(step_size * self.m / denom)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-candidate flattened dot product ``(B,)``."""
    return (a * b).flatten(1).sum(1)


def hypergradient(a: Tensor, g_f: Tensor, g_b: Tensor, eta0: float) -> Tensor:
    """``h = a . [eta0 (g_f - g_b)]`` per candidate ``(B,)``: minus the derivative in gamma of f_aux after the step
    ``X' = X - eta0 (gamma g_f + (1 - gamma) g_b)``, to first order at the current X."""
    return _dot(a, eta0 * (g_f - g_b)).double()


class AdaptiveGamma:
    """Per-candidate gamma learned by Adam on the hypergradient ``h = a . [eta0 (g_f - g_b)]`` (module doc)."""

    def __init__(
        self, n: int, gamma0: float = 0.5, lr: float = 0.1, eta0: float = 0.1, device: str | torch.device = "cpu"
    ) -> None:
        check_positive_int("n", n)
        check_range("gamma", gamma0, 0.0, 1.0)
        self.lr, self.eta0 = check_positive("lr", lr), check_positive("eta0", eta0)
        self.gamma = torch.full((n,), float(gamma0), dtype=torch.float64, device=device)
        self.m, self.v, self.t = torch.zeros_like(self.gamma), torch.zeros_like(self.gamma), 0

    def step(self, a: Tensor, g_f: Tensor, g_b: Tensor) -> Tensor:
        """Update and return gamma ``(B,)`` from the aux gradient and the two loss gradients (each ``(B, ...)``)."""
        h = hypergradient(a, g_f, g_b, self.eta0)
        (b1, b2), self.t = BETAS, self.t + 1
        self.m = b1 * self.m + (1 - b1) * h
        self.v = b2 * self.v + (1 - b2) * h * h
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.gamma = (self.gamma - self.lr * m_hat / (v_hat.sqrt() + EPS)).clamp(0.0, 1.0)
        return self.gamma


@dataclass(frozen=True)
class AdaptiveEta:
    """``eta_t = clip(eta0 - scale * a . u, low, high)``, u the Adam step about to be taken (module docstring)."""

    eta0: float = 0.1
    scale: float = 0.01
    low: float = 1e-4
    high: float = 0.5

    def __post_init__(self) -> None:
        check_positive("eta0", self.eta0)
        check_positive("scale", self.scale)
        check_range("low", self.low, 0.0, self.high)

    def __call__(self, adam: BatchedAdam, d: Tensor, a: Tensor) -> Tensor:
        """Per-candidate learning rates ``(B,)`` for the step with direction gradient ``d``."""
        return (self.eta0 - self.scale * _dot(a, adam.direction(d)).double()).clamp(self.low, self.high)


def init_designs(starts: np.ndarray, seed: int, std: float = 0.01) -> Tensor:
    """Design logits ``(B, L, 4)`` of the start sequences ``(B, L)``: ONE shared noise matrix ``N(0, std^2)``,
    with, per row, the largest entry swapped into the start base's column, so that ``argmax X = start``."""
    starts = torch.as_tensor(np.asarray(starts), dtype=torch.long)
    if starts.ndim != 2 or starts.min() < 0 or starts.max() > 3:
        raise ValueError(f"starts must be (B, L) integers in [0, 3], got shape {tuple(starts.shape)}")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(starts.shape[1], 4, generator=generator) * std
    top, largest = noise.argmax(1).expand_as(starts), noise.max(1).values.expand_as(starts)
    X = noise.expand(len(starts), -1, -1).clone()
    X.scatter_(2, top.unsqueeze(-1), noise.gather(1, starts.T).T.unsqueeze(-1))  # the start's value to the top
    X.scatter_(2, starts.unsqueeze(-1), largest.unsqueeze(-1).contiguous())  # the largest value to the start
    return X


@dataclass
class DesignTrace:
    """What a design run did: final logits, decoded sequences per step ``(T, B, L)``, gamma and eta per step
    ``(T, B)``, and the mean ``L_f`` per step (before each step's update)."""

    X: Tensor
    sequences: np.ndarray
    gamma: np.ndarray
    eta: np.ndarray
    forward_loss: np.ndarray


def design(
    encoder: nn.Module,
    loss: BidirectionalLoss,
    X0: Tensor,
    mode: str = "bdi",
    steps: int = 100,
    lr: float = 0.1,
    gamma: float = 0.5,
    adaptive_gamma: bool = False,
    adaptive_eta: bool = False,
    aux: AuxProxyEnsemble | None = None,
    gamma_lr: float = 0.1,
) -> DesignTrace:
    """Optimise all candidates ``X0 (B, L, 4)`` for ``steps`` Adam steps (module docstring).

    ``mode``: ``bdi`` (``gamma L_f + (1 - gamma) L_b``), ``forward`` or ``backward`` only. ``adaptive_gamma``
    (BIB) and ``adaptive_eta`` need ``mode="bdi"`` and the auxiliary proxies ``aux``.
    """
    check_one_of("mode", mode, MODES)
    check_positive_int("steps", steps)
    check_range("gamma", gamma, 0.0, 1.0)
    check_positive("lr", lr)
    if X0.ndim != 3 or len(X0) < 1 or X0.shape[-1] != 4:
        raise ValueError(f"X0 must hold candidates >= 1 as (B, L, 4), got {tuple(X0.shape)}")
    if (adaptive_gamma or adaptive_eta) and (mode != "bdi" or aux is None):
        raise ValueError("adaptive_gamma and adaptive_eta need mode='bdi' and the auxiliary proxies aux")
    X = X0.detach().clone().requires_grad_(True)
    adam = BatchedAdam(X.data)
    n = len(X)
    gammas = AdaptiveGamma(n, gamma, gamma_lr, lr, X.device) if adaptive_gamma else None
    f64 = {"dtype": torch.float64, "device": X.device}
    weight = torch.full((n,), {"bdi": gamma, "forward": 1.0, "backward": 0.0}[mode], **f64)
    eta_rule = AdaptiveEta(eta0=lr)
    base_lr = torch.full((n,), lr, **f64)
    seqs, gamma_log, eta_log, lf_log = [], [], [], []

    def grad(f: Tensor, keep: bool) -> Tensor:
        return torch.autograd.grad(f.sum(), X, retain_graph=keep)[0]

    for t in range(steps):
        phi = encoder(X)
        lf, lb = loss.forward(phi), loss.backward(phi)
        if aux is not None and (adaptive_gamma or adaptive_eta):
            g_f, g_b, a = grad(lf, True), grad(lb, True), grad(aux(phi), False)
            if gammas is not None:
                weight = gammas.step(a, g_f, g_b)
            w = weight.to(X.dtype).reshape(-1, 1, 1)
            d = w * g_f + (1 - w) * g_b
        else:
            a = None
            d = grad(weight.to(lf.dtype) @ lf + (1 - weight).to(lb.dtype) @ lb, False)
        step_lr = eta_rule(adam, d, a) if adaptive_eta and t >= 1 else base_lr
        adam.step(d, step_lr)
        seqs.append(X.detach().argmax(-1).cpu().numpy())
        gamma_log.append(weight.cpu().numpy())
        eta_log.append(step_lr.cpu().numpy())
        lf_log.append(float(lf.detach().mean()))
    return DesignTrace(X.detach(), np.stack(seqs), np.stack(gamma_log), np.stack(eta_log), np.array(lf_log))
