"""Lifetime conditioning of TA-LPG and TA-LPO (Jackson et al. 2024, "Discovering Temporally-Aware Reinforcement
Learning Algorithms", Sec. 4).

TA-LPG (paper eq. 9) appends to LPG's per-transition input the agent's training progress::

    x_t <- [x_t, n / N, log N]        n = agent updates so far (0 .. N-1), N = lifetime in updates

constant over the rollout, changing across the agent's updates. The official code (``models/lpg.py``) feeds
the raw step count and raw lifetime instead (``mode="raw"``, kept reachable behind this flag).

TA-LPO appends n/N times the LPO features (no log N: LPO is meta-trained at one horizon)::

    x <- [x, (n / N) x]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MODES = ("relative", "raw")


def lpg_lifetime_features(step: jax.Array, lifetime: jax.Array, mode: str = "relative") -> jax.Array:
    """[n/N, log N] (``mode="relative"``, the paper) or [n, N] (``mode="raw"``, the official code), float32 [2]."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    n = jnp.asarray(step, jnp.float32)
    big_n = jnp.asarray(lifetime, jnp.float32)
    if mode == "raw":
        return jnp.stack([n, big_n])
    return jnp.stack([n / big_n, jnp.log(big_n)])


def lpo_lifetime_features(x: jax.Array, progress: jax.Array) -> jax.Array:
    """[x, (n/N) x] on the last axis: TA-LPO's drift input from the LPO features ``x`` and ``progress`` = n/N."""
    return jnp.concatenate([x, progress * x], axis=-1)
