"""The POLAR reward model: a one-label Hugging Face sequence-classification backbone read at the reward token.

r_phi(x, y_ref, y) = w^T h_L(T(x, y_ref, y) + [reward token])[last]: a linear head on the final hidden state of
the last non-pad token, which is the appended reward token (inputs are left-padded, so it is always the last
column). The same class serves the reference-free Bradley-Terry baseline (its input has no reference half).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig
from paperzoo.shared.torch.lm import left_pad, position_ids
from paperzoo.shared.validate import check_positive_int


@dataclass(frozen=True)
class RMConfig(ModelConfig):
    """A tiny ``LlamaForSequenceClassification`` (one label): the shared tiny-Llama shape (validated there) with
    2 blocks and room for 256 positions (a prompt, a reference and a candidate)."""

    n_layer: int = 2
    max_positions: int = 256


def build_llama_rm(config: RMConfig, vocab_size: int, pad_id: int) -> nn.Module:
    """A randomly initialised one-label ``transformers.LlamaForSequenceClassification`` of ``config``."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    return LlamaForSequenceClassification(
        LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=config.d_model,
            intermediate_size=config.d_ff,
            num_hidden_layers=config.n_layer,
            num_attention_heads=config.n_head,
            num_key_value_heads=config.n_head,
            max_position_embeddings=config.max_positions,
            num_labels=1,
            pad_token_id=pad_id,
            tie_word_embeddings=False,
        )
    )


class PolarRM(nn.Module):
    """A scalar reward per sequence from any one-label Hugging Face ``*ForSequenceClassification`` backbone.

    ``forward(input_ids, attention_mask)`` takes left-padded batches and returns ``(B,)`` float scores, read at
    the last column (the reward token); positions skip the left padding, so a padded row scores what it scores
    alone. ``ValueError`` for a backbone with more than one label, without a pad id, or a right-padded batch.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        config = backbone.config
        if getattr(config, "num_labels", None) != 1:
            raise ValueError(f"backbone must have num_labels=1, got {getattr(config, 'num_labels', None)}")
        if config.pad_token_id is None:
            raise ValueError("backbone.config.pad_token_id must be set (the pooling finds the last non-pad token)")
        self.backbone = backbone
        self.pad_id = int(config.pad_token_id)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if not bool(attention_mask[:, -1].all()):
            raise ValueError("attention_mask must be left-padded: the last column holds every row's reward token")
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask)
        )
        return out.logits[:, 0].float()

    def score(self, seqs: Sequence[Sequence[int]], batch_size: int = 256) -> torch.Tensor:
        """Scores of encoded sequences (lists of ids ending in the reward token), in ``batch_size`` chunks."""
        check_positive_int("batch_size", batch_size)
        device = next(self.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(seqs), batch_size):
                ids, mask = left_pad(seqs[start : start + batch_size], self.pad_id)
                out.append(self(ids.to(device), mask.to(device)))
        return torch.cat(out) if out else torch.zeros(0)
