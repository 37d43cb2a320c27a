"""The policy: a Hugging Face causal LM (a Llama or GPT-2 built from a small config here, any causal LM path
at paper scale) with an optional scalar value head for PPO.

Batches are left-padded; position ids are ``cumsum(attention_mask) - 1`` (:func:`paperzoo.shared.torch.lm.
position_ids`) so that a prompt's tokens get the same positions whatever its padding; batched KV-cache sampling
is :func:`paperzoo.shared.torch.lm.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.shared.torch.lm import position_ids
from paperzoo.shared.validate import check_one_of, check_positive_int

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
