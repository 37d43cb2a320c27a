"""Meta-testing a frozen (TA-)LPG at chosen lifetimes: fresh tabular agents trained for exactly N updates on
fixed held-out levels, scored as return / optimal return (exact DP of groove's grid-world), plus the policy
entropy after every update (the learned schedule, plotted against n/N).

``lifetime`` is a traced argument, so one compilation serves every test lifetime (the update loop is a
``fori_loop`` whose trip count is N).
"""

from __future__ import annotations

from typing import Any

import jax

from paperzoo.groove import EnvParams, LevelDistribution, sample_level
from paperzoo.ta_lpg.meta_es import ESTrainConfig, lifetime_return


def held_out_levels(dist: LevelDistribution, n_levels: int, seed: int = 12_345) -> EnvParams:
    """``n_levels`` levels of ``dist`` drawn from a fixed key that meta-training never uses (batched)."""
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    levels, _ = jax.vmap(sample_level, in_axes=(0, None))(jax.random.split(jax.random.key(seed), n_levels), dist)
    return levels


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
    from paperzoo.groove import evaluate, uniform_policy

    dist = config.dist
    env, episode_len = dist.env, dist.max_episode_len
    n_levels = levels.grid_size.shape[0]
    ret = jax.vmap(lambda k, lv: evaluate(k, uniform_policy(), env, lv, eval_workers, episode_len))(
        jax.random.split(key, n_levels), levels
    )
    optimal = jax.vmap(lambda lv: env.optimal_return(lv, episode_len))(levels)
    return ret / optimal
