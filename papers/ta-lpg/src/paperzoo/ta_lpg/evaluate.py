"""Meta-testing a frozen (TA-)LPG at chosen lifetimes: fresh tabular agents trained for exactly N updates on
fixed held-out levels, scored as return / optimal return (exact DP of groove's grid-world), plus the policy
entropy after every update (the learned schedule, plotted against n/N).

``lifetime`` is a traced argument, so one compilation serves every test lifetime (the update loop is a
``fori_loop`` whose trip count is N).

The held-out levels (:func:`select_held_out`) are drawn from the training distribution with a fixed key and kept
only where there is something to learn: the uniform random policy reaches less than 0.7 of the optimal return
(issue 20: two of the first 8 levels gave it 0.76-0.85 of the optimum) and the optimum is at least 0.1 (below it
one collected -1 hazard is worth -10 optima, and such a level would dominate a mean over levels).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paperzoo.groove import EnvParams, LevelDistribution, evaluate, sample_level, uniform_policy
from paperzoo.ta_lpg.meta_es import ESTrainConfig, lifetime_return

HEADROOM = 0.7  # a held-out level is kept only if the uniform random policy reaches less of its optimum than this
MIN_OPTIMAL = 0.1  # ... and its optimal return is at least this (return / optimum is ill-conditioned below)
SELECTION_WORKERS = 256  # workers of the random policy's estimate used for the selection
POOL_FACTOR = 4  # candidate levels drawn per level kept


@functools.partial(jax.jit, static_argnums=(1, 2))
def _pool(key: jax.Array, dist: LevelDistribution, pool_size: int) -> tuple[EnvParams, jax.Array, jax.Array]:
    """``pool_size`` levels of ``dist`` from ``key``, the random policy's return / optimum on each (estimated with
    :data:`SELECTION_WORKERS` workers) and their optimal returns."""
    env, episode_len = dist.env, dist.max_episode_len
    levels, _ = jax.vmap(sample_level, in_axes=(0, None))(jax.random.split(key, pool_size), dist)
    optimal = jax.vmap(lambda lv: env.optimal_return(lv, episode_len))(levels)
    keys = jax.random.split(jax.random.fold_in(key, 1), pool_size)
    ret = jax.vmap(lambda k, lv: evaluate(k, uniform_policy(), env, lv, SELECTION_WORKERS, episode_len))(keys, levels)
    return levels, ret / optimal, optimal


@functools.cache
def select_held_out(
    dist: LevelDistribution,
    n_levels: int,
    seed: int = 12_345,
    headroom: float | None = HEADROOM,
    min_optimal: float = MIN_OPTIMAL,
) -> tuple[EnvParams, np.ndarray, np.ndarray]:
    """Held-out levels with headroom: the first ``n_levels`` of a pool of ``POOL_FACTOR * n_levels`` levels of
    ``dist`` (drawn from a fixed key that meta-training never uses) on which the uniform random policy reaches
    less than ``headroom`` of the optimal return and whose optimal return is at least ``min_optimal``.

    The random policy's score is estimated once, with :data:`SELECTION_WORKERS` workers and a key of its own
    (not the meta-test's). ``headroom=None`` keeps the first ``n_levels`` of the pool unfiltered (the selection
    before issue 20). Returns (levels batched [n_levels], the random policy's estimated return / optimum [n_levels],
    optimal return [n_levels]); raises ``ValueError`` if fewer than ``n_levels`` levels of the pool pass.
    """
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    if headroom is not None and not 0.0 < headroom <= 1.0:
        raise ValueError(f"headroom must be in (0, 1] or None, got {headroom}")
    pool_size = n_levels if headroom is None else POOL_FACTOR * n_levels
    levels, random_score, optimal = jax.device_get(_pool(jax.random.key(seed), dist, pool_size))
    keep = (
        np.arange(pool_size)
        if headroom is None
        else np.flatnonzero((random_score < headroom) & (optimal >= min_optimal))
    )
    if keep.size < n_levels:
        raise ValueError(
            f"n_levels: only {keep.size} of {pool_size} pool levels have headroom (random < {headroom} of the "
            f"optimum, optimum >= {min_optimal}); ask for fewer"
        )
    keep = keep[:n_levels]
    return jax.tree.map(lambda x: jnp.asarray(x[keep]), levels), random_score[keep], optimal[keep]


def held_out_levels(
    dist: LevelDistribution, n_levels: int, seed: int = 12_345, headroom: float | None = HEADROOM
) -> EnvParams:
    """``n_levels`` held-out levels of ``dist`` with headroom (batched): see :func:`select_held_out`."""
    return select_held_out(dist, n_levels, seed, headroom)[0]


def meta_test(
    key: jax.Array,
    lpg_params: Any,
    config: ESTrainConfig,
    levels: EnvParams,
    lifetime: jax.Array,
    max_updates: int,
    n_agents: int,
    eval_workers: int,
) -> dict[str, jax.Array]:
    """Per level (batched ``levels``) and agent: ``return`` [L, A], ``optimal`` [L], ``normalised`` [L, A] and
    ``entropy`` [L, A, max_updates] (policy entropy after update n, zero past N) of fresh agents trained by the
    frozen ``lpg_params`` for ``lifetime`` updates (the same N for all)."""
    if n_agents < 1:
        raise ValueError(f"n_agents must be >= 1, got {n_agents}")
    dist = config.dist
    env, episode_len = dist.env, dist.max_episode_len
    n_levels = levels.grid_size.shape[0]
    keys = jax.random.split(key, n_levels * n_agents).reshape(n_levels, n_agents)

    def one(k, level):
        return lifetime_return(k, lpg_params, config, env, level, lifetime, max_updates, episode_len, eval_workers)

    returns, entropies = jax.vmap(lambda ks, lv: jax.vmap(lambda k: one(k, lv))(ks))(keys, levels)
    optimal = jax.vmap(lambda lv: env.optimal_return(lv, episode_len))(levels)
    return {"return": returns, "optimal": optimal, "normalised": returns / optimal[:, None], "entropy": entropies}


def random_policy_score(key: jax.Array, config: ESTrainConfig, levels: EnvParams, eval_workers: int) -> jax.Array:
    """Return / optimal return of the uniform random policy per level (the non-degeneracy reference)."""
    dist = config.dist
    env, episode_len = dist.env, dist.max_episode_len
    n_levels = levels.grid_size.shape[0]
    ret = jax.vmap(lambda k, lv: evaluate(k, uniform_policy(), env, lv, eval_workers, episode_len))(
        jax.random.split(key, n_levels), levels
    )
    optimal = jax.vmap(lambda lv: env.optimal_return(lv, episode_len))(levels)
    return ret / optimal
