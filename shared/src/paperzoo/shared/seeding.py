"""Seeding of every random number generator a run may touch."""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np


def seed_everything(seed: int) -> Any:
    """Seed Python, NumPy and the frameworks already imported (torch, TensorFlow, JAX).

    Frameworks are never imported here: a torch paper does not pay for TensorFlow. Returns a JAX PRNG
    key made from ``seed`` when JAX is imported (JAX has no global state to seed), else ``None``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global generator is what is being seeded)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    if "jax" in sys.modules:
        return sys.modules["jax"].random.key(seed)
    return None
