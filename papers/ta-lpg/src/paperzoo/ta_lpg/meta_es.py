"""LPG and TA-LPG meta-trained by OpenES over whole agent lifetimes (official ``meta/train.py::
lpg_es_train_step`` with ``--use_es``, where ``num_agent_updates`` is set to the maximum lifetime).

One generation (pure, ``jit``-able; :func:`make_es_train` scans generations in the PureJaxRL shape)::

    eps, candidates = ask(theta, sigma)                   2P candidates theta +- sigma eps_i, pairs adjacent
    (level_i, N_i), key_i  ~ level distribution           one per *pair* (antithetic task sampling)
    f_k = R(agent trained for its whole lifetime N_i by LPG_{candidate k} on level_i, from key_i)
    theta <- tell(theta, eps, f)                           pairwise rank, Adam on the ES gradient

Both members of a pair share the level, the lifetime *and* every random number (agent initialisation,
environment uniforms, evaluation): common random numbers, so the pairwise comparison measures the
perturbation only. Every candidate trains a fresh agent for its full lifetime (updates 1..N); under ``jit``
the loop runs to the largest lifetime of the batch and updates past an agent's N are masked (groove's
``lpg_update`` discards them). The fitness is the agent's mean first-episode return over its environment
workers (official ``eval_agent``).

TA-LPG feeds LPG the lifetime features of :mod:`~paperzoo.ta_lpg.lifetime_features` at every update
(``extra`` input of groove's :class:`~paperzoo.groove.LPG`); LPG is the same with ``conditioning=None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from paperzoo.groove import LPG, Agent, AgentConfig, EnvParams, GridWorld, LevelDistribution, sample_level
from paperzoo.groove.agent import evaluate, init_agent, lpg_update, reset_workers, rollout
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int
from paperzoo.ta_lpg.es import ESConfig, ESState, ask, init_es, tell
from paperzoo.ta_lpg.lifetime_features import MODES, lpg_lifetime_features

# Level distributions of the ES runs (official ``configs.py`` families; "vrandlife": log-uniform lifetimes).
ES_DISTRIBUTIONS = {
    # The brief's CPU scale: "small" levels with lifetimes log-U[10, 100] updates.
    "small_vrandlife": LevelDistribution("small_vrandlife", (4, 6), (1, 3), (20, 100), (10, 100), 7),
    # The paper's default env mode "all_vrandlife": "all" levels with lifetimes log-U[10, 250].
    "all_vrandlife": LevelDistribution("all_vrandlife", (4, 10), (1, 5), (20, 750), (10, 250), 15),
    # Smoke: 4x4 grids, lifetimes 5-10 updates.
    "smoke": LevelDistribution("smoke", (4, 4), (1, 2), (5, 10), (5, 10), 4),
}
INITS = ("zeros", "flax")


@dataclass(frozen=True)
class ESTrainConfig:
    """LPG / TA-LPG meta-training by OpenES. Defaults: the official TA-LPG command (README of EmptyJackson/groove:
    ``--use_es --lifetime_conditioning --train_steps 2500 --lpg_learning_rate 0.01 --env_mode all_vrandlife``,
    512 pairs x 64 workers, GRU 256, sigma 0.1), except ``conditioning``, which follows the paper (n/N, log N)
    rather than the code (raw n, N)."""

    conditioning: str | None = "relative"  # None: LPG; "relative": [n/N, log N] (paper); "raw": [n, N] (code)
    distribution: str = "all_vrandlife"
    generations: int = 2_500  # --train_steps 2500
    n_pairs: int = 512  # P = official num_agents; population 2P
    num_workers: int = 64
    rollout_len: int = 20
    embedding_width: int = 16
    gru_width: int = 256
    alpha_y: float = 0.5
    init: str = "zeros"  # evosax's OpenES starts its mean at 0 (init_min = init_max = 0); "flax": LPG's init
    # Pairs sorted by lifetime and evaluated in this many sequential chunks, each running to its own longest
    # lifetime (1: one vmap over the population, every lifetime running to the batch's longest N). A speed knob
    # only (like the official num_mini_batches): each candidate's computation is the same.
    lifetime_buckets: int = 1
    checkpoints: int = 1
    es: ESConfig = field(default_factory=lambda: ESConfig(lr=1e-2))  # --lpg_learning_rate 0.01, sigma 0.1
    agent: AgentConfig = field(default_factory=AgentConfig)

    def __post_init__(self) -> None:
        if self.conditioning is not None:
            check_one_of("conditioning", self.conditioning, MODES)
        check_one_of("distribution", self.distribution, tuple(ES_DISTRIBUTIONS))
        check_one_of("init", self.init, INITS)
        for name in ("generations", "n_pairs", "num_workers", "rollout_len", "embedding_width", "gru_width"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("checkpoints", self.checkpoints)
        check_positive_int("lifetime_buckets", self.lifetime_buckets)
        if self.n_pairs % self.lifetime_buckets:
            raise ValueError(
                f"lifetime_buckets must divide n_pairs, got {self.lifetime_buckets} buckets for {self.n_pairs} pairs"
            )
        if self.generations % self.checkpoints:
            raise ValueError(
                f"generations must be a multiple of checkpoints, got {self.generations}/{self.checkpoints}"
            )
        check_non_negative("alpha_y", self.alpha_y)

    @property
    def dist(self) -> LevelDistribution:
        return ES_DISTRIBUTIONS[self.distribution]

    @property
    def lpg(self) -> LPG:
        return LPG(self.embedding_width, self.gru_width, self.agent.target_width)

    @property
    def extra_features(self) -> int:
        return 0 if self.conditioning is None else 2

    def init_lpg_params(self, key: jax.Array) -> Any:
        """LPG parameters at the ES mean's initialisation (zeros as evosax, or flax's initialisers)."""
        params = self.lpg.init_params(key, self.extra_features)
        if self.init == "zeros":
            params = jax.tree.map(jnp.zeros_like, params)
        return params


def train_lifetime(
    key: jax.Array,
    lpg_params: Any,
    lpg: LPG,
    env: GridWorld,
    level: EnvParams,
    lifetime: jax.Array,
    max_updates: int,
    agent_config: AgentConfig,
    rollout_len: int,
    n_workers: int,
    conditioning: str | None = None,
    alpha_y: float = 0.5,
) -> tuple[Agent, jax.Array]:
    """A fresh agent trained by a frozen (TA-)LPG for its whole lifetime N = ``lifetime`` (<= ``max_updates``).

    Update n = 0..N-1 rolls out ``rollout_len`` steps of ``n_workers`` workers and applies groove's
    :func:`~paperzoo.groove.lpg_update`, LPG seeing ``lpg_lifetime_features(n, N, conditioning)`` when
    ``conditioning`` is set. The loop runs ``lifetime`` iterations (a ``fori_loop``: under ``vmap`` it runs to
    the batch's largest lifetime, updates past an agent's own N masked). With ``conditioning=None`` this is
    groove's ``train_agent`` with the same keys (tested bit for bit).

    Returns the agent and its policy entropy after each update, [max_updates] (zeros past N).
    """
    init_key, worker_key, key = jax.random.split(key, 3)
    agent = init_agent(init_key, agent_config, env.obs_size, "lpg")
    workers = reset_workers(worker_key, env, level, n_workers)
    actor = agent_config.actor()
    update_keys = jax.random.split(key, max_updates)

    def body(i, carry):
        agent, workers, entropies = carry
        traj, workers = rollout(
            update_keys[i], lambda obs: actor.apply({"params": agent.actor}, obs), env, level, workers, rollout_len
        )
        extra = None if conditioning is None else lpg_lifetime_features(agent.step, lifetime, conditioning)

        def lpg_fn(r, d, pi, y_t, y_tp1):
            return lpg.apply({"params": lpg_params}, r, d, pi, y_t, y_tp1, extra)

        agent, stats = lpg_update(agent, traj, lpg_fn, lifetime, agent_config, alpha_y)
        entropies = entropies.at[i].set(jnp.where(i < lifetime, stats["policy_entropy"], 0.0))
        return agent, workers, entropies

    agent, _, entropies = jax.lax.fori_loop(
        0, jnp.minimum(lifetime, max_updates), body, (agent, workers, jnp.zeros(max_updates))
    )
    return agent, entropies


def lifetime_return(
    key: jax.Array,
    lpg_params: Any,
    config: ESTrainConfig,
    env: GridWorld,
    level: EnvParams,
    lifetime: jax.Array,
    max_updates: int,
    episode_len: int,
    eval_workers: int,
) -> tuple[jax.Array, jax.Array]:
    """Train an agent for its whole lifetime with ``lpg_params`` then evaluate it (mean first-episode return of
    ``eval_workers`` fresh workers). Returns (return, policy entropy per update)."""
    train_key, eval_key = jax.random.split(key)
    agent, entropies = train_lifetime(
        train_key,
        lpg_params,
        config.lpg,
        env,
        level,
        lifetime,
        max_updates,
        config.agent,
        config.rollout_len,
        config.num_workers,
        config.conditioning,
        config.alpha_y,
    )
    actor = config.agent.actor()
    ret = evaluate(
        eval_key, lambda obs: actor.apply({"params": agent.actor}, obs), env, level, eval_workers, episode_len
    )
    return ret, entropies


def pair_tasks(key: jax.Array, dist: LevelDistribution, n_pairs: int) -> tuple[jax.Array, EnvParams, jax.Array]:
    """Antithetic task sampling: one (key, level, lifetime) per pair, repeated for its two candidates.

    Returns per-candidate (keys [2P], levels [2P, ...], lifetimes [2P]); candidates 2i and 2i+1 share all three
    (common random numbers: same agent initialisation, environment uniforms and evaluation)."""
    k_level, k_life = jax.random.split(key)
    levels, lifetimes = jax.vmap(sample_level, in_axes=(0, None))(jax.random.split(k_level, n_pairs), dist)
    pair_keys = jax.random.split(k_life, n_pairs)
    pair_of = jnp.arange(2 * n_pairs) // 2  # candidate k belongs to pair k // 2
    return jax.tree.map(lambda x: x[pair_of], (pair_keys, levels, lifetimes))


def evaluate_candidates(
    state: ESState, key: jax.Array, config: ESTrainConfig, unravel: Any
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Ask 2P antithetic candidates and train one agent per candidate for its whole lifetime on its pair's task.

    Returns (eps [P, D], fitness [2P], policy entropy per update [2P, max_lifetime], lifetimes [2P])."""
    dist, env, n_pairs = config.dist, config.dist.env, config.n_pairs
    k_ask, k_tasks = jax.random.split(key)
    eps, candidates = ask(k_ask, state, n_pairs)
    keys, levels, lifetimes = pair_tasks(k_tasks, dist, n_pairs)

    def fitness_fn(flat, key, level, lifetime):
        return lifetime_return(
            key,
            unravel(flat),
            config,
            env,
            level,
            lifetime,
            dist.max_lifetime,
            dist.max_episode_len,
            config.num_workers,
        )

    if config.lifetime_buckets == 1:
        fitness, entropies = jax.vmap(fitness_fn)(candidates, keys, levels, lifetimes)
        return eps, fitness, entropies, lifetimes
    # Sort the pairs by lifetime (a pair's two candidates stay adjacent), run the sorted population in
    # lifetime_buckets sequential chunks (lax.map over chunks, vmap within one), then undo the sort.
    pair_order = jnp.argsort(lifetimes[::2])
    order = jnp.stack([2 * pair_order, 2 * pair_order + 1], axis=1).reshape(-1)
    chunked = jax.tree.map(
        lambda x: x[order].reshape(config.lifetime_buckets, -1, *x.shape[1:]), (candidates, keys, levels, lifetimes)
    )
    fitness, entropies = jax.lax.map(lambda args: jax.vmap(fitness_fn)(*args), chunked)
    inverse = jnp.argsort(order)
    fitness, entropies = (x.reshape(-1, *x.shape[2:])[inverse] for x in (fitness, entropies))
    return eps, fitness, entropies, lifetimes


def generation_step(
    state: ESState, key: jax.Array, config: ESTrainConfig, unravel: Any
) -> tuple[ESState, dict[str, jax.Array]]:
    """One OpenES generation with antithetic task sampling (see the module docstring)."""
    eps, fitness, entropies, lifetimes = evaluate_candidates(state, key, config, unravel)
    new_state, grad = tell(state, eps, fitness, config.es)
    metrics = {
        "fitness_mean": jnp.mean(fitness),
        "fitness_max": jnp.max(fitness),
        "pair_gap": jnp.mean(jnp.abs(fitness[::2] - fitness[1::2])),
        "pair_ties": jnp.mean(fitness[::2] == fitness[1::2]),
        "grad_norm": jnp.linalg.norm(grad),
        "mean_lifetime": jnp.mean(lifetimes.astype(jnp.float32)),
        "final_entropy": jnp.mean(entropies[jnp.arange(fitness.shape[0]), lifetimes - 1]),
    }
    return new_state, metrics


def make_es_train(config: ESTrainConfig):
    """``train(key) -> (final ESState, metrics {name: [generations]}, ES means [checkpoints, D])``; pure and
    ``jit``-able. ``unravel_fn(config)`` maps a flat mean back to LPG parameters."""
    unravel = unravel_fn(config)
    per_chunk = config.generations // config.checkpoints

    def train(key: jax.Array):
        init_key, loop_key = jax.random.split(key)
        state = init_es(initial_mean(config, init_key), config.es)

        def chunk(state, chunk_key):
            state, metrics = jax.lax.scan(
                lambda s, k: generation_step(s, k, config, unravel), state, jax.random.split(chunk_key, per_chunk)
            )
            return state, (metrics, state.mean)

        state, (metrics, means) = jax.lax.scan(chunk, state, jax.random.split(loop_key, config.checkpoints))
        metrics = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), metrics)
        return state, metrics, means

    return train


def _param_shapes(config: ESTrainConfig) -> Any:
    """LPG's parameter shapes for ``config`` (``eval_shape``: nothing is computed or compiled)."""
    return jax.eval_shape(lambda: config.lpg.init_params(jax.random.key(0), config.extra_features))


def unravel_fn(config: ESTrainConfig):
    """The map from a flat ES vector to LPG parameters of ``config`` (static slices, ``ravel_pytree``'s order)."""
    leaves, treedef = jax.tree.flatten(_param_shapes(config))
    sizes = [int(np.prod(leaf.shape)) for leaf in leaves]
    offsets = np.cumsum([0, *sizes])

    def unravel(flat: jax.Array) -> Any:
        parts = [flat[a:b].reshape(leaf.shape) for a, b, leaf in zip(offsets[:-1], offsets[1:], leaves, strict=True)]
        return jax.tree.unflatten(treedef, parts)

    return unravel


def initial_mean(config: ESTrainConfig, key: jax.Array) -> jax.Array:
    """The ES mean's initial flat vector: zeros (evosax) or LPG's flax initialisation drawn from ``key``."""
    if config.init == "zeros":
        size = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(_param_shapes(config)))
        return jnp.zeros(size, jnp.float32)
    return jax.jit(lambda k: ravel_pytree(config.init_lpg_params(k))[0])(key)


def compile_jit(fn: Any, *args: Any, fast_compile: bool = False) -> Any:
    """``jax.jit(fn)`` lowered and compiled for ``args``. ``fast_compile`` lowers XLA's backend optimisation level
    to 0: XLA:CPU then compiles the lifetime loop ~2.5x faster (used by the smoke run and the tests, whose
    programs run for milliseconds; long runs keep the optimised build)."""
    lowered = jax.jit(fn).lower(*args)
    if fast_compile:
        return lowered.compile(compiler_options={"xla_backend_optimization_level": 0})
    return lowered.compile()
