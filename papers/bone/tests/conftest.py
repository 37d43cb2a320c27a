"""One thread per xdist worker and deterministic algorithms for every Bone test; tiny shared fixtures."""

import pytest
import torch

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


@pytest.fixture
def tok():
    from paperzoo.shared.testbeds.arithmetic_lm import CharTokenizer

    return CharTokenizer()


@pytest.fixture
def tiny_llama(tok):
    """A factory of 1-layer, d=16, d_ff=32 Llamas with the same random weights (seed 0)."""
    from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, build_llama

    def make():
        torch.manual_seed(0)
        return build_llama(ModelConfig(n_layer=1, d_model=16, d_ff=32, n_head=2, max_positions=48), tok)

    return make


@pytest.fixture
def ids(tok):
    from paperzoo.shared.testbeds.arithmetic_lm import lm_batch, make_problems

    return lm_batch(tok, make_problems(3, "-", (1, 2), 0))["input_ids"]
