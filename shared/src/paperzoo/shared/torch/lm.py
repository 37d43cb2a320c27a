"""Causal-LM plumbing shared by the papers that sample from, score or run RL on a Hugging Face causal LM.

- :func:`left_pad` and :func:`position_ids`: a batch of prompts of different lengths, left-padded, with
  positions that skip the padding (so a padded row computes what the prompt alone computes).
- :func:`sample`: batched decoding with the KV cache (greedy or at a temperature), rows stop at ``<eos>``.
- :func:`token_logprobs_and_entropy`, :func:`masked_mean`, :func:`at_least_float32`: per-token log-probs of
  the tokens taken and the policy entropy, computed in at least float32.
- :func:`outcome_token_rewards` and :func:`gae`: token-level generalised advantage estimation, for one reward
  stream or several stacked along leading dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``(ids, attention_mask)``, both ``(B, max_len)`` long tensors, of a batch of token lists."""
    if not seqs:
        raise ValueError("seqs must hold at least one sequence")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s) :] = 1
    return ids, mask


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding: ``cumsum(mask) - 1``, clamped at 0 on pads."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def sample(
    lm: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Batched decoding with the KV cache: one forward over the left-padded prompts, then one token at a time.

    ``temperature == 0`` is greedy; otherwise tokens are drawn from softmax(logits / temperature). Returns the
    new tokens ``(B, T)``; after a row's ``<eos>`` its tokens are ``pad_id``. Stops when every row has ended.
    """
    check_positive_int("max_new_tokens", max_new_tokens)
    check_non_negative("temperature", temperature)
    mask = attention_mask.clone()
    pos = position_ids(mask)
    out = lm(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True)
    past, logits, next_pos = out.cache, out.logits[:, -1], pos[:, -1:] + 1
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    new = []
    for t in range(max_new_tokens):
        if temperature == 0:
            tok = logits.argmax(-1)
        else:
            probs = F.softmax(logits.float() / temperature, dim=-1)
            tok = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        new.append(tok)
        done |= tok == eos_id
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = lm(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos, cache=past, use_cache=True)
        past, logits, next_pos = out.cache, out.logits[:, -1], next_pos + 1
    return torch.stack(new, dim=1)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is in a lower precision (bf16/fp16 logits), unchanged otherwise (float64 stays)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def token_logprobs_and_entropy(logits: torch.Tensor, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(x_{t+1} | x_<=t) and the entropy H_t = -sum_v pi(v) log pi(v) at positions 0..L-2.

    Computed in at least float32 (a float64 model keeps float64, so that its gradients can be checked tightly).
    """
    logp = F.log_softmax(at_least_float32(logits[:, :-1]), dim=-1)
    taken = logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return taken, entropy


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (0 if the mask is empty)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def outcome_token_rewards(rewards: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Per-token rewards ``(N, L)`` with the outcome reward ``rewards[i]`` on row i's last action, 0 elsewhere."""
    n, length = mask.shape
    if rewards.shape != (n,):
        raise ValueError(
            f"rewards must have shape ({n},) to match mask {tuple(mask.shape)}, got {tuple(rewards.shape)}"
        )
    last = (mask.long() * torch.arange(length, device=mask.device)).argmax(-1)
    out = torch.zeros(n, length, dtype=dtype or rewards.dtype, device=rewards.device)
    out[torch.arange(n), last] = rewards.to(out.dtype)
    return out


def gae(
    token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each row's actions (``mask`` 1), for ``(..., N, L)`` streams.

    delta_t = r_t + gamma V_{t+1} - V_t;  A_t = delta_t + gamma lambda A_{t+1};  returns R_t = A_t + V_t,
    where V after a row's last action is 0 and t+1 is the row's next action (positions with ``mask`` 0 are
    skipped and get A = 0). ``token_rewards`` and ``values`` share their shape; leading dimensions (several
    reward streams, each with its own value head) broadcast against the ``(N, L)`` mask.
    """
    check_range("gamma", gamma, 0.0, 1.0)
    check_range("lam", lam, 0.0, 1.0)
    if token_rewards.shape != values.shape or values.shape[-2:] != mask.shape:
        raise ValueError(
            f"token_rewards {tuple(token_rewards.shape)} and values {tuple(values.shape)} must share a shape "
            f"ending in the mask's {tuple(mask.shape)}"
        )
    mask = mask.to(values.dtype).expand_as(values)
    adv = torch.zeros_like(values)
    running = torch.zeros_like(values[..., 0])
    next_value = torch.zeros_like(running)
    for t in reversed(range(values.shape[-1])):
        m = mask[..., t]
        # delta_t = r_t + gamma V_{t+1} - V_t
        delta = token_rewards[..., t] + gamma * next_value - values[..., t]
        # A_t = delta_t + gamma lambda A_{t+1}  (only over the row's own actions)
        running = torch.where(m > 0, delta + gamma * lam * running, running)
        adv[..., t] = running * m
        next_value = torch.where(m > 0, values[..., t], next_value)
    return adv, adv + values
