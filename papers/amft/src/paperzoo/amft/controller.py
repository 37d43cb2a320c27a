"""The AMFT adaptive weight controller (He et al., 2025, Sec. 3 and Alg. 1; official ``AdaptiveWeightController``).

The policy is trained on L(theta) = (1 - mu) L_RL + mu L_SFT; the imitation weight mu is updated before each
step by

    mu_{t+1} = clip(mu_t + eta_meta * s * m_t + eta_H * (H* - H_t), mu_min, mu_max)

- entropy term: H* is the target entropy (mean per-token entropy after the SFT warm-up, over non-pad
  positions), H_t the policy's entropy on its generated tokens. Entropy below target -> mu grows (imitate).
- meta term (every K = ``meta_update_freq`` steps, 0 otherwise): with g_s = grad L_SFT, g_r = grad L_RL at theta,
  the one-step SGD look-ahead theta'(mu) = theta - alpha ((1 - mu) g_r + mu g_s) gives

      m_t = dU_val(theta'(mu)) / dmu = < grad U_val(theta'), -alpha (g_s - g_r) >

  (exact for the look-ahead; the paper's ~= -alpha <grad U_val(theta), g_s - g_r> is its first-order form).
  U_val is ``val_reward`` (expected reward on held-out prompts via a REINFORCE surrogate; the paper's intent)
  or ``val_ce`` (cross-entropy on held-out demonstrations; the official code). s = +1 ascends a reward;
  for a loss, ``meta_sign="descent"`` uses s = -1 while ``"official"`` keeps the code's s = +1 (it then moves mu
  to *increase* the validation loss).

Defaults: mu_min = 0.05, mu_max = 0.95, eta_meta = 1e-4, eta_H = 5e-4, K = 20 (official config); mu_0 = 0.5 is
the class default (the official training config starts at 0.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from paperzoo.shared.torch.lm import at_least_float32, masked_mean
from paperzoo.shared.validate import (
    check_non_negative,
    check_one_of,
    check_positive_int,
    check_range,
)

META_OBJECTIVES = ("val_reward", "val_ce")
META_SIGNS = ("descent", "official")


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H = -sum_v pi(v) log pi(v) per position (natural log; a uniform distribution gives log |V|)."""
    logp = torch.log_softmax(at_least_float32(logits), dim=-1)
    return -(logp.exp() * logp).sum(-1)


TARGET_ENTROPY_POSITIONS = ("all", "response")


@torch.no_grad()
def target_entropy(
    policy: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    max_batches: int = 20,
    positions: str = "all",
) -> float:
    """H* = mean per-token entropy of the policy over at most ``max_batches`` SFT batches.

    Each batch has ``input_ids`` and ``attention_mask`` (and ``labels`` for ``positions="response"``);
    ``policy(ids, mask)`` returns ``(logits, ...)``. The entropy at position t is that of the next-token
    distribution. ``positions="all"`` (the official trainer) averages over every non-pad position, prompt
    included; ``"response"`` only over the positions that predict a demonstration token (label at t+1 not
    -100), the positions whose counterpart H_t is measured on.
    """
    check_positive_int("max_batches", max_batches)
    check_one_of("positions", positions, TARGET_ENTROPY_POSITIONS)
    total, count = 0.0, 0.0
    for i, batch in enumerate(batches):
        if i >= max_batches:
            break
        out = policy(batch["input_ids"], batch["attention_mask"])
        logits = out[0] if isinstance(out, tuple) else out.logits
        if positions == "all":
            mask = batch["attention_mask"].to(torch.float64)
        else:
            mask = torch.zeros(batch["labels"].shape, dtype=torch.float64, device=logits.device)
            mask[:, :-1] = (batch["labels"][:, 1:] != -100).to(torch.float64)
        total += float((token_entropy(logits).double() * mask).sum())
        count += float(mask.sum())
    if count == 0:
        raise ValueError("batches must contain at least one non-pad position")
    return total / count


def meta_gradient(
    model: nn.Module,
    loss_sft: torch.Tensor,
    loss_rl: torch.Tensor,
    val_objective: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
    mu: float,
    lr: float,
) -> float:
    """m = dU_val(theta'(mu))/dmu for the look-ahead theta'(mu) = theta - lr ((1 - mu) g_r + mu g_s).

    ``loss_sft`` and ``loss_rl`` are graphs of ``model``'s parameters; their gradients g_s, g_r come from
    ``torch.autograd.grad`` (``retain_graph=True``), so nothing is written to ``.grad`` and the caller can still
    backpropagate the mixed loss. ``val_objective(params)`` evaluates U_val with the given parameter dict
    (e.g. through ``torch.func.functional_call``).
    """
    check_range("mu", mu, 0.0, 1.0)
    check_non_negative("lr", lr)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    g_s = torch.autograd.grad(loss_sft, params, retain_graph=True, allow_unused=True)
    g_r = torch.autograd.grad(loss_rl, params, retain_graph=True, allow_unused=True)
    g_s = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_s, strict=True)]
    g_r = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_r, strict=True)]
    # theta' = theta - alpha ((1 - mu) g_r + mu g_s)
    lookahead = {
        n: (p.detach() - lr * ((1 - mu) * gr + mu * gs)).requires_grad_()
        for (n, p), gs, gr in zip(named, g_s, g_r, strict=True)
    }
    u = val_objective(lookahead)
    g_u = torch.autograd.grad(u, list(lookahead.values()), allow_unused=True)
    # dU/dmu = < grad U(theta'), d theta'/d mu > with d theta'/d mu = -alpha (g_s - g_r)
    total = torch.zeros((), dtype=torch.float64)
    for gu, gs, gr in zip(g_u, g_s, g_r, strict=True):
        if gu is not None:
            total = total + (gu.double() * (-lr) * (gs.double() - gr.double())).sum().cpu()
    return float(total)


def functional_objective(
    model: nn.Module, fn: Callable[[Callable[..., Any]], torch.Tensor]
) -> Callable[[Mapping[str, torch.Tensor]], torch.Tensor]:
    """Wrap ``fn(forward)`` as ``U(params)``: ``forward(*args)`` runs ``model`` with ``params`` substituted."""

    def objective(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return fn(lambda *args, **kwargs: functional_call(model, dict(params), args, kwargs))

    return objective


class AdaptiveWeightController:
    """mu_t, its bounds, the target entropy H*, and the update mu <- clip(mu + meta term + entropy term).

    Each :meth:`update` appends ``mu``, ``meta_term`` (eta_meta * s * m_t) and ``entropy_term``
    (eta_H * (H* - H_t)) to :attr:`history`, so that both contributions can be plotted.
    """

    def __init__(
        self,
        mu0: float = 0.5,
        mu_min: float = 0.05,
        mu_max: float = 0.95,
        eta_meta: float = 1e-4,
        eta_entropy: float = 5e-4,
        meta_update_freq: int = 20,
        meta_objective: str = "val_reward",
        meta_sign: str = "descent",
        use_meta: bool = True,
        use_entropy: bool = True,
        target_entropy: float | None = None,
    ) -> None:
        check_range("mu_min", mu_min, 0.0, 1.0)
        check_range("mu_max", mu_max, 0.0, 1.0)
        if mu_min > mu_max:
            raise ValueError(f"mu_min must be <= mu_max, got mu_min={mu_min} > mu_max={mu_max}")
        check_range("mu0", mu0, mu_min, mu_max)
        check_non_negative("eta_meta", eta_meta)
        check_non_negative("eta_entropy", eta_entropy)
        check_positive_int("meta_update_freq", meta_update_freq)
        check_one_of("meta_objective", meta_objective, META_OBJECTIVES)
        check_one_of("meta_sign", meta_sign, META_SIGNS)
        if target_entropy is not None:
            check_non_negative("target_entropy", target_entropy)
        self.mu, self.mu_min, self.mu_max = float(mu0), float(mu_min), float(mu_max)
        self.eta_meta, self.eta_entropy, self.meta_update_freq = eta_meta, eta_entropy, meta_update_freq
        self.meta_objective, self.meta_sign = meta_objective, meta_sign
        self.use_meta, self.use_entropy = use_meta, use_entropy
        self.target_entropy = target_entropy
        self.history: dict[str, list[float]] = {"mu": [], "meta_term": [], "entropy_term": [], "meta_gradient": []}

    @property
    def meta_direction(self) -> float:
        """s: +1 ascends a reward; a loss is descended (-1) unless ``meta_sign="official"`` (+1, as coded)."""
        if self.meta_objective == "val_reward" or self.meta_sign == "official":
            return 1.0
        return -1.0

    def is_meta_step(self, step: int) -> bool:
        """Whether step ``step`` (counted from 0 after warm-up) computes a meta-gradient: every K-th step."""
        return self.use_meta and step % self.meta_update_freq == 0

    def set_target_entropy(self, value: float) -> None:
        self.target_entropy = check_non_negative("target_entropy", value)

    def update(self, entropy: float, meta_grad: float = 0.0) -> float:
        """mu <- clip(mu + eta_meta s m_t + eta_H (H* - H_t), mu_min, mu_max); returns the new mu."""
        meta_term = self.eta_meta * self.meta_direction * meta_grad if self.use_meta else 0.0
        entropy_term = 0.0
        if self.use_entropy:
            if self.target_entropy is None:
                raise ValueError("target_entropy must be set (set_target_entropy) before an entropy update")
            # eta_H (H* - H_t): entropy below target -> more imitation
            entropy_term = self.eta_entropy * (self.target_entropy - entropy)
        # mu_{t+1} = clip(mu_t + eta_meta s m_t + eta_H (H* - H_t), mu_min, mu_max)
        self.mu = min(max(self.mu + meta_term + entropy_term, self.mu_min), self.mu_max)
        self.history["mu"].append(self.mu)
        self.history["meta_term"].append(meta_term)
        self.history["entropy_term"].append(entropy_term)
        self.history["meta_gradient"].append(meta_grad)
        return self.mu

    def state_dict(self) -> dict[str, Any]:
        return {
            "mu": self.mu,
            "target_entropy": self.target_entropy,
            "history": {k: list(v) for k, v in self.history.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mu, self.target_entropy = float(state["mu"]), state["target_entropy"]
        self.history = {k: list(v) for k, v in state["history"].items()}


def reinforce_surrogate(logprobs: torch.Tensor, action_mask: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """J ~= mean_i (R_i - mean R) sum_t log pi(a_it | s_it): its gradient is the REINFORCE estimate of grad J."""
    seq_logp = (logprobs * action_mask.to(logprobs.dtype)).sum(-1)
    return ((rewards - rewards.mean()).to(seq_logp.dtype) * seq_logp).mean()


__all__ = [
    "META_OBJECTIVES",
    "META_SIGNS",
    "TARGET_ENTROPY_POSITIONS",
    "AdaptiveWeightController",
    "functional_objective",
    "masked_mean",
    "meta_gradient",
    "reinforce_surrogate",
    "target_entropy",
    "token_entropy",
]
