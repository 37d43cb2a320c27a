"""Real rollouts and the RL losses (the same RL loss for every regime), plus the SFT loss.

- SFT: L_SFT = mean over demonstration tokens of -log pi_theta(y_t | x, y_<t) (prompt and pads masked).
- Rollouts: G samples per prompt at temperature 1 with the KV cache; outcome reward R in {0, 1} on the
  final token of each sample.
- PPO (the official configuration): token-level GAE with gamma = 1, lambda = 0.95 and a value head;
  ratio r_t = exp(log pi_theta - log pi_old); L_RL = -E[min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)]
  + c_v E[(V_t - R_t)^2] - c_H E[H_t] with eps = 0.2, c_v = 0.1, c_H = 0.01.
- Group baseline (critic-free variant): A_i = (R_i - mean_G R) / (std_G R + 1e-6) on every token of sample i,
  with the same clipped surrogate and entropy bonus and no value loss.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.amft.model import PolicyWithValue
from paperzoo.amft.task import CharTokenizer, Problem
from paperzoo.shared.torch.lm import (
    at_least_float32,
    gae,
    left_pad,
    masked_mean,
    outcome_token_rewards,
    sample,
    token_logprobs_and_entropy,
)
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int, check_range

RL_LOSSES = ("ppo", "group")


def sft_loss(policy: PolicyWithValue, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """L_SFT = mean_t CE(pi_theta(. | x, y_<t), y_t) over labelled (non -100) positions."""
    logits, _ = policy(batch["input_ids"], batch["attention_mask"])
    flat = at_least_float32(logits[:, :-1].flatten(0, 1))
    return F.cross_entropy(flat, batch["labels"][:, 1:].flatten(), ignore_index=-100)


@dataclass
class Rollouts:
    """A batch of sampled solutions, aligned with the logits at positions 0..L-2 (``action_mask``)."""

    input_ids: torch.Tensor  # (N, L) prompt (left-padded) + response (right-padded)
    attention_mask: torch.Tensor  # (N, L)
    action_mask: torch.Tensor  # (N, L-1): 1 where position t+1 holds a generated token (up to <eos>)
    rewards: torch.Tensor  # (N,)
    old_logprobs: torch.Tensor  # (N, L-1)
    old_values: torch.Tensor | None  # (N, L-1): V(s_t) before emitting token t+1
    advantages: torch.Tensor  # (N, L-1)
    returns: torch.Tensor  # (N, L-1)
    generated_tokens: int
    generation_s: float


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """A_i = (R_i - mean_G R) / (std_G R + 1e-6) within each group of ``group_size`` consecutive samples."""
    check_positive_int("group_size", group_size)
    r = rewards.view(-1, group_size)
    std = r.std(dim=1, keepdim=True, unbiased=False) if group_size > 1 else torch.zeros_like(r[:, :1])
    return ((r - r.mean(dim=1, keepdim=True)) / (std + 1e-6)).flatten()


@torch.no_grad()
def collect_rollouts(
    policy: PolicyWithValue,
    tok: CharTokenizer,
    problems: Sequence[Problem],
    group_size: int,
    max_new_tokens: int,
    rl_loss: str = "ppo",
    temperature: float = 1.0,
    gamma: float = 1.0,
    lam: float = 0.95,
    generator: torch.Generator | None = None,
) -> Rollouts:
    """Sample ``group_size`` solutions per problem, score them with ``problem.reward``, compute advantages."""
    check_one_of("rl_loss", rl_loss, RL_LOSSES)
    device = next(policy.parameters()).device
    repeated = [p for p in problems for _ in range(group_size)]
    prompts = [tok.encode(p.prompt, bos=True) for p in repeated]
    ids, mask = left_pad(prompts, tok.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    start = time.perf_counter()
    new = sample(policy.lm, ids, mask, max_new_tokens, tok.eos_id, tok.pad_id, temperature, generator)
    generation_s = time.perf_counter() - start
    ended = torch.cumsum((new == tok.eos_id).long(), dim=1)
    # generated tokens: everything up to and including the first <eos>
    gen_mask = ((ended == 0) | ((ended == 1) & (new == tok.eos_id))).long()
    rewards = torch.tensor(
        [p.reward(tok.decode(row.tolist())) for p, row in zip(repeated, new, strict=True)],
        dtype=torch.float32,
        device=device,
    )
    full_ids = torch.cat([ids, new], dim=1)
    full_mask = torch.cat([mask, gen_mask], dim=1)
    action_mask = torch.cat([torch.zeros_like(mask[:, 1:]), gen_mask], dim=1)
    logits, values = policy(full_ids, full_mask)
    old_logprobs, _ = token_logprobs_and_entropy(logits, full_ids)
    old_values = at_least_float32(values[:, :-1]) if values is not None else None
    if rl_loss == "ppo":
        if old_values is None:
            raise ValueError("rl_loss 'ppo' needs a policy with a value head (PolicyWithValue(value_head=True))")
        token_rewards = outcome_token_rewards(rewards, action_mask, old_values.dtype)
        advantages, returns = gae(token_rewards, old_values, action_mask, gamma, lam)
    else:
        advantages = group_advantages(rewards, group_size)[:, None] * action_mask
        returns = torch.zeros_like(advantages)
    return Rollouts(
        full_ids,
        full_mask,
        action_mask,
        rewards,
        old_logprobs,
        old_values,
        advantages,
        returns,
        int(gen_mask.sum()),
        generation_s,
    )


@dataclass(frozen=True)
class RLLossConfig:
    """The official AMFT RL configuration: PPO-clip 0.2, value coefficient 0.1, entropy coefficient 0.01."""

    kind: str = "ppo"
    clip_eps: float = 0.2
    vf_coef: float = 0.1
    ent_coef: float = 0.01

    def __post_init__(self) -> None:
        check_one_of("kind", self.kind, RL_LOSSES)
        check_range("clip_eps", self.clip_eps, 0.0, 1.0, low_inclusive=False)
        check_non_negative("vf_coef", self.vf_coef)
        check_non_negative("ent_coef", self.ent_coef)


def rl_loss(
    policy: nn.Module, batch: Rollouts, config: RLLossConfig = RLLossConfig()
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped policy-gradient loss (+ value loss for PPO, - entropy bonus) on ``batch``.

    Returns the loss and detached stats: ``pg_loss``, ``value_loss``, ``entropy`` (mean per generated token,
    the H_t of the controller) and ``ratio`` (mean r_t).
    """
    logits, values = policy(batch.input_ids, batch.attention_mask)
    logprobs, entropy = token_logprobs_and_entropy(logits, batch.input_ids)
    m = batch.action_mask
    # r_t = pi_theta(a_t | s_t) / pi_old(a_t | s_t)
    ratio = torch.exp(logprobs - batch.old_logprobs)
    # L_clip = -E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]
    surrogate = torch.minimum(
        ratio * batch.advantages, ratio.clamp(1 - config.clip_eps, 1 + config.clip_eps) * batch.advantages
    )
    pg_loss = -masked_mean(surrogate, m)
    mean_entropy = masked_mean(entropy, m)
    loss = pg_loss - config.ent_coef * mean_entropy
    value_loss = torch.zeros((), device=loss.device)
    if config.kind == "ppo":
        # L_V = E[(V_t - R_t)^2]
        value_loss = masked_mean((at_least_float32(values[:, :-1]) - batch.returns) ** 2, m)
        loss = loss + config.vf_coef * value_loss
    stats = {
        "pg_loss": pg_loss.detach(),
        "value_loss": value_loss.detach(),
        "entropy": mean_entropy.detach(),
        "ratio": masked_mean(ratio, m).detach(),
    }
    return loss, stats
