"""The policy: a Hugging Face causal LM (a Llama or GPT-2 built from a small config here, any causal LM path
at paper scale) with an optional scalar value head for PPO, and batched sampling with the model's KV cache.

Batches are left-padded; position ids are ``cumsum(attention_mask) - 1`` so that a prompt's tokens get the
same positions whatever its padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int

ARCHITECTURES = ("llama", "gpt2")


@dataclass(frozen=True)
class ModelConfig:
    """A tiny causal LM (the brief: 2-4 layers, d=128, 4 heads, ~0.5M parameters at full scale).

    ``arch="llama"`` (default): ``LlamaForCausalLM`` with rotary positions, SwiGLU MLP of width 2d and tied
    embeddings, the family of the paper's Qwen2.5 base; ``"gpt2"``: ``GPT2LMHeadModel`` (learned positions).
    """

    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 96
    arch: str = "llama"

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_embd", "n_head", "n_positions"):
            check_positive_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be a multiple of n_head, got {self.n_embd} and {self.n_head}")
        check_one_of("arch", self.arch, ARCHITECTURES)


def build_lm(config: ModelConfig, vocab_size: int, pad_id: int = 0, bos_id: int = 1, eos_id: int = 2) -> nn.Module:
    """A randomly initialised ``LlamaForCausalLM`` or ``GPT2LMHeadModel`` (no dropout: rollouts and updates see
    one policy)."""
    if config.arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM(
            LlamaConfig(
                vocab_size=vocab_size,
                hidden_size=config.n_embd,
                intermediate_size=2 * config.n_embd,
                num_hidden_layers=config.n_layer,
                num_attention_heads=config.n_head,
                num_key_value_heads=config.n_head,
                max_position_embeddings=config.n_positions,
                tie_word_embeddings=True,
                pad_token_id=pad_id,
                bos_token_id=bos_id,
                eos_token_id=eos_id,
            )
        )
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )
    return GPT2LMHeadModel(cfg)


def load_lm(name_or_path: str, dtype: torch.dtype | None = None) -> nn.Module:
    """Any Hugging Face causal LM by hub name or local path (the paper scale: Qwen2.5-Math-7B)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding: ``cumsum(mask) - 1``, clamped at 0 on pads."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class PolicyWithValue(nn.Module):
    """A causal LM policy pi_theta and, for PPO, a value head V(s_t) = w^T h_t + b on the last hidden state.

    ``forward(input_ids, attention_mask) -> (logits, values)``; ``values`` is ``None`` without a value head.
    Raises ``ValueError`` naming ``lm`` when the model has no causal LM head (e.g. a bare ``GPT2Model``).
    """

    def __init__(self, lm: nn.Module, value_head: bool = True) -> None:
        super().__init__()
        head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
        if head is None or not hasattr(lm, "generation_config"):
            raise ValueError(f"lm must be a causal language model with an LM head, got {type(lm).__name__}")
        self.lm = lm
        hidden = head.weight.shape[1]
        self.value_head = nn.Linear(hidden, 1) if value_head else None
        if self.value_head is not None:
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            output_hidden_states=self.value_head is not None,
        )
        values = None
        if self.value_head is not None:
            values = self.value_head(out.hidden_states[-1].to(self.value_head.weight.dtype)).squeeze(-1)
        return out.logits, values


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
