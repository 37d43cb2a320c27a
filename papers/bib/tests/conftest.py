"""Shared fixtures: a small landscape and its offline split, and a tiny random BERT encoder."""

import pytest
import torch

from paperzoo.bib import EncoderConfig, Landscape, OfflineTask, tiny_encoder

TINY = EncoderConfig(length=6, layers=1, d_model=16, heads=2, d_ff=32, steps=60, batch=64, lr=1e-2, warmup=5)


@pytest.fixture(scope="session")
def landscape():
    return Landscape.tfbind_like(length=6, motif_length=4, seed=3)


@pytest.fixture(scope="session")
def task(landscape):
    return OfflineTask(landscape, n_offline=400, n_starts=8)


@pytest.fixture(scope="session")
def encoder():
    torch.manual_seed(0)
    enc, _ = tiny_encoder(TINY, pretrained=False, cache_dir=None)
    return enc.double()


@pytest.fixture(scope="session")
def tiny_config():
    return TINY
