"""One thread per xdist worker and deterministic algorithms for every AMFT test; shared tiny fixtures."""

import pytest
import torch

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


@pytest.fixture
def tok():
    from paperzoo.amft.task import CharTokenizer

    return CharTokenizer()


@pytest.fixture
def tiny_policy(tok):
    """A 1-layer, d=16 GPT-2 policy with a value head (random weights, seed 0)."""
    from paperzoo.amft.model import ModelConfig, PolicyWithValue, build_lm

    torch.manual_seed(0)
    return PolicyWithValue(
        build_lm(ModelConfig(n_layer=1, n_embd=16, n_head=2, n_positions=96, arch="gpt2"), tok.vocab_size)
    )
