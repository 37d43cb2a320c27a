"""Prioritised level replay (PLR) over grid-world levels, scored by algorithmic regret: GROOVE's curriculum
(official ``environments/level_sampler.py``).

A level is (env params, agent lifetime). The buffer holds ``buffer_size`` levels with a score, an ``active``
flag (an agent is training on it) and a ``new`` flag (never evaluated). When agents finish their lifetimes:

1. ``reset_lowest_scoring``: the B lowest-scoring inactive levels (unevaluated ones first) are replaced by
   fresh random levels (so at least B new, inactive levels exist);
2. the finished levels get their score, algorithmic regret AR = R(A2C antagonist) - R(LPG agent), and become
   inactive and evaluated;
3. each finished agent gets a replayed level with probability p_replay (rank transform: the B highest
   softmax(score / temperature) inactive evaluated levels; slot i of the batch takes the i-th, as in the
   official code), otherwise a new random level from the buffer. Replay happens only when at least B
   evaluated, inactive levels exist.

Official-code quirk: ``_reset_lowest_scoring`` rebuilds the ``new`` flags from ``active`` (``new =
active.at[ids].set(True)``), which marks every inactive, never-evaluated level as evaluated with score 0.
``official_new_flags=False`` (our default) keeps ``new`` (``new.at[ids].set(True)``); ``True`` copies the
official behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from paperzoo.groove.gridworld import EnvParams, LevelDistribution, sample_level, uniform
from paperzoo.shared.validate import check_positive, check_positive_int, check_range


@struct.dataclass
class Level:
    """Environment parameters, the agent lifetime (in updates) and the level's buffer slot."""

    params: EnvParams
    lifetime: jax.Array
    buffer_id: jax.Array


@struct.dataclass
class LevelBuffer:
    level: Level
    score: jax.Array
    active: jax.Array
    new: jax.Array


@dataclass(frozen=True)
class PLRConfig:
    """Official defaults: buffer 4000, p_replay 0.5, rank transform, temperature 1."""

    buffer_size: int = 4000
    p_replay: float = 0.5
    temperature: float = 1.0
    official_new_flags: bool = False

    def __post_init__(self) -> None:
        check_positive_int("buffer_size", self.buffer_size)
        check_range("p_replay", self.p_replay, 0.0, 1.0)
        check_positive("temperature", self.temperature)


def sample_levels(key: jax.Array, dist: LevelDistribution, n: int) -> Level:
    """``n`` random levels of ``dist`` (buffer id 0)."""
    params, lifetime = jax.vmap(lambda k: sample_level(k, dist))(jax.random.split(key, n))
    return Level(params, lifetime, jnp.zeros(n, jnp.int32))


def init_buffer(key: jax.Array, dist: LevelDistribution, size: int) -> LevelBuffer:
    """A buffer of ``size`` random, new, inactive levels with score 0."""
    levels = sample_levels(key, dist, size).replace(buffer_id=jnp.arange(size, dtype=jnp.int32))
    return LevelBuffer(levels, jnp.zeros(size), jnp.zeros(size, bool), jnp.ones(size, bool))


def algorithmic_regret(antagonist_return: jax.Array, agent_return: jax.Array) -> jax.Array:
    """AR = R(antagonist trained by a hand-designed algorithm) - R(agent trained by the learned rule)."""
    return antagonist_return - agent_return


def _take(level: Level, ids: jax.Array) -> Level:
    return jax.tree.map(lambda x: x[ids], level)


def reset_lowest_scoring(
    key: jax.Array, buffer: LevelBuffer, n: int, dist: LevelDistribution, official_new_flags: bool = False
) -> LevelBuffer:
    """Replace the ``n`` lowest-scoring inactive levels (new ones count as lowest) by fresh random levels."""
    scores = jnp.where(buffer.new, -jnp.inf, buffer.score)
    scores = jnp.where(buffer.active, jnp.inf, scores)
    ids = jnp.argsort(scores)[:n]
    fresh = sample_levels(key, dist, n).replace(buffer_id=ids.astype(jnp.int32))
    level = jax.tree.map(lambda x, y: x.at[ids].set(y), buffer.level, fresh)
    new_flags = buffer.active if official_new_flags else buffer.new
    return LevelBuffer(
        level=level,
        score=buffer.score.at[ids].set(0.0),
        active=buffer.active.at[ids].set(False),
        new=new_flags.at[ids].set(True),
    )


def replay_ids(buffer: LevelBuffer, n: int, temperature: float = 1.0) -> jax.Array:
    """The ``n`` highest softmax(score / T) inactive, evaluated levels, best first (rank transform).
    If fewer than ``n`` such levels exist every level is equally likely (the official fallback)."""
    invalid = buffer.new | buffer.active
    weights = jnp.where(invalid, 0.0, jax.nn.softmax(jnp.where(invalid, -jnp.inf, buffer.score / temperature)))
    enough = jnp.sum(~invalid) >= n
    weights = jnp.where(enough, weights, jnp.ones_like(weights))
    return jnp.flip(jnp.argsort(weights))[:n]


def random_new_ids(key: jax.Array, buffer: LevelBuffer, n: int) -> jax.Array:
    """``n`` distinct new, inactive levels, uniformly."""
    mask = buffer.new & ~buffer.active
    return jnp.argsort(-(uniform(key, mask.shape) + 2.0 * mask))[:n]


def plr_sample(
    key: jax.Array,
    buffer: LevelBuffer,
    levels: Level,
    finished: jax.Array,
    scores: jax.Array,
    dist: LevelDistribution,
    config: PLRConfig,
) -> tuple[LevelBuffer, Level, jax.Array]:
    """Score the finished agents' levels and give each finished agent its next level (official ``sample``).

    Args:
        levels: the batch's current levels (B); finished: bool[B]; scores: the finished levels' scores.

    Returns the buffer, the batch's levels (unchanged where not finished) and bool[B] "was replayed".
    """
    n = finished.shape[0]
    reset_key, choice_key, count_key = jax.random.split(key, 3)
    buffer = reset_lowest_scoring(reset_key, buffer, n, dist, config.official_new_flags)
    ids = levels.buffer_id
    buffer = buffer.replace(
        score=buffer.score.at[ids].set(jnp.where(finished, scores, buffer.score[ids])),
        active=buffer.active.at[ids].set(jnp.where(finished, False, buffer.active[ids])),
        new=buffer.new.at[ids].set(jnp.where(finished, False, buffer.new[ids])),
    )
    replay = _take(buffer.level, replay_ids(buffer, n, config.temperature))
    fresh = _take(buffer.level, random_new_ids(choice_key, buffer, n))
    u = uniform(count_key, (2, n))
    n_replay = jnp.sum(u[0] < config.p_replay)
    n_replayable = jnp.sum(~(buffer.new | buffer.active))
    use_replay = (jnp.arange(n) < n_replay) & (n_replayable >= n)
    use_replay = use_replay[jnp.argsort(u[1])]  # a random permutation ("shuffle to remove bias")
    chosen = jax.tree.map(lambda a, b: jax.vmap(jnp.where)(use_replay, a, b), replay, fresh)
    next_levels = jax.tree.map(lambda a, b: jax.vmap(jnp.where)(finished, a, b), chosen, levels)
    buffer = buffer.replace(active=buffer.active.at[next_levels.buffer_id].set(True))
    return buffer, next_levels, use_replay & finished
