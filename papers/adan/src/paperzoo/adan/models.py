"""A small vision transformer (ViT, Dosovitskiy et al. 2021) built from ``torch.nn.TransformerEncoderLayer``.

The same class is the digits-scale model (8×8 images, 2×2 patches → 16 tokens, dim 64, 2 blocks,
about 70k parameters) and, with its ``paper`` arguments, ViT-S/16 on 224×224 ImageNet (dim 384, 12
blocks, 6 heads, 22M parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.shared.validate import check_positive_int


class TinyViT(nn.Module):
    """Patch embedding, a class token, learned positions, pre-norm encoder blocks, a linear head."""

    def __init__(
        self,
        image_size: int = 8,
        patch_size: int = 2,
        channels: int = 1,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: int = 2,
        n_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("image_size", image_size), ("patch_size", patch_size), ("dim", dim), ("heads", heads)):
            check_positive_int(name, value)
        if image_size % patch_size:
            raise ValueError(f"image_size must be a multiple of patch_size ({patch_size}), got {image_size}")
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads ({heads}), got {dim}")
        n_patches = (image_size // patch_size) ** 2
        self.patch = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp_ratio * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, C, H, W) -> (batch, n_classes)
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.norm(self.blocks(tokens))[:, 0])
