"""Seeding of every random number generator a run may touch, and the one way to derive sub-seeds.

Every seed or key a run uses beyond its own seed comes from :func:`derive`: a stable hash of the run's
seed and a name (``derive(seed, "held-out levels")``). Never Python's ``hash()`` (salted per process
unless ``PYTHONHASHSEED`` is set) and never magic offsets (``10_000 + seed``), which collide across
purposes and seeds.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from typing import Any

import numpy as np

# Derived seeds lie in [0, 2**31): valid for NumPy, torch, TensorFlow and JAX (32-bit) alike.
DERIVED_SEED_BITS = 31


def _check_seed(seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def derive(seed: int, *names: str | int) -> int:
    """A seed for the purpose ``names`` within the run seeded ``seed``: stable across processes and machines.

    ``derive(seed, *names) = int(BLAKE2b-64(repr((seed, *names)))) mod 2**31``. Distinct names give
    statistically independent seeds; the same arguments always give the same seed. Integers among
    ``names`` index a family (``derive(seed, "eval episode", i)``).

    Raises:
        ValueError: ``seed`` is not an integer >= 0, no name is given, or a name is neither str nor int.
    """
    seed = _check_seed(seed)
    if not names:
        raise ValueError("derive needs at least one name: the purpose of the derived seed")
    for name in names:
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise ValueError(f"names must be str or int, got {name!r}")
    digest = hashlib.blake2b(repr((seed, *names)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**DERIVED_SEED_BITS


def seed_everything(seed: int) -> Any:
    """Seed Python, NumPy and the frameworks already imported (torch, TensorFlow, JAX).

    Frameworks are never imported here: a torch paper does not pay for TensorFlow. Returns a JAX PRNG
    key made from ``seed`` when JAX is imported (JAX has no global state to seed), else ``None``.
    """
    seed = _check_seed(seed)
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
