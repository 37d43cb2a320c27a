"""One thread per xdist worker and deterministic algorithms for every Hydra test; tiny shared fixtures."""

import pytest
import torch

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


@pytest.fixture
def tiny_vit():
    """A factory of 2-block, d = 16 ViTs for 8x8 images with the same random weights (seed 0)."""
    from paperzoo.hydra.train import ModelConfig, build_vit

    def make(n_classes: int = 5):
        torch.manual_seed(0)
        return build_vit(ModelConfig(hidden_size=16, layers=2, heads=2), n_classes).eval()

    return make


@pytest.fixture
def images():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
