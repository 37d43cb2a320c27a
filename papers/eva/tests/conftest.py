"""One thread per xdist worker and deterministic algorithms for every EVA test; tiny shared fixtures."""

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
    """A factory of 2-layer, d=32, d_ff=64 Llamas with the same random weights (seed 0).

    By default the embedding is made anisotropic (a few strong directions), so that layers differ in how concentrated
    their input variance is and EVA's rank redistribution has something to redistribute. ``make(isotropic=True)``
    keeps the random embedding: activations with a flat spectrum, on which an approximate (randomized) SVD is visibly
    off, so a comparison of decompositions can tell exact from approximate.
    """
    from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, build_llama

    def make(isotropic: bool = False):
        torch.manual_seed(0)
        model = build_llama(ModelConfig(n_layer=2, d_model=32, d_ff=64, n_head=2, max_positions=48), tok)
        if not isotropic:
            with torch.no_grad():
                emb = model.get_input_embeddings().weight
                scales = torch.logspace(0, -2, emb.shape[1])
                emb.mul_(scales)
        return model

    return make


@pytest.fixture
def loader(tok):
    """Eight batches of 16 subtraction problems (input_ids, attention_mask, labels)."""
    from paperzoo.shared.testbeds.arithmetic_lm import lm_batch, make_problems

    problems = make_problems(128, "-", (1, 2), 0)
    return [lm_batch(tok, problems[i : i + 16]) for i in range(0, 128, 16)]
