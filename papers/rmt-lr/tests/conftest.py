"""One thread and deterministic algorithms for every rmt-lr test; the shared tiny models and data."""

import pytest
import torch

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


@pytest.fixture
def tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    """64 random 8x8 "images" and labels of 10 classes (float64)."""
    gen = torch.Generator().manual_seed(0)
    return torch.rand(64, 8, 8, generator=gen, dtype=torch.float64), torch.randint(0, 10, (64,), generator=gen)
