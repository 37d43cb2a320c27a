"""A small character-level decoder-only transformer (GPT-style), the CPU-scale stand-in for GPT-2.

Token and learned position embeddings, pre-norm causal self-attention blocks (``torch.nn.TransformerEncoderLayer``
with a causal mask), a final LayerNorm and a linear head over the alphabet. With the benchmark's defaults
(21 characters, context 32, width 64, 2 blocks, 4 heads, MLP 4x) it has about 105k parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.shared.validate import check_positive_int


class CharTransformer(nn.Module):
    """Next-character logits for every position of a (batch, time) tensor of character indices."""

    def __init__(
        self, vocab_size: int, context: int = 32, dim: int = 64, depth: int = 2, heads: int = 4, mlp_ratio: int = 4
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("context", context),
            ("dim", dim),
            ("depth", depth),
            ("heads", heads),
            ("mlp_ratio", mlp_ratio),
        ):
            check_positive_int(name, value)
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads ({heads}), got {dim}")
        self.context = context
        self.embed = nn.Embedding(vocab_size, dim)
        self.position = nn.Parameter(torch.randn(context, dim) * 0.02)
        block = nn.TransformerEncoderLayer(
            dim, heads, mlp_ratio * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (batch, time) -> (batch, time, vocab)
        length = tokens.shape[1]
        if length > self.context:
            raise ValueError(f"sequence length must be <= context ({self.context}), got {length}")
        x = self.embed(tokens) + self.position[:length]
        x = self.blocks(x, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(x))
