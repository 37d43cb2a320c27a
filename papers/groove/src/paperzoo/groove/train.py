"""Meta-training of LPG, on random levels (the LPG baseline) or on a PLR curriculum scored by algorithmic
regret (GROOVE), as one pure function of (config, key) in the PureJaxRL style.

``make_train(config)`` returns ``train(key) -> (state, metrics, checkpoints)``: a ``lax.scan`` over meta-steps
(nested in a scan over checkpoints), each meta-step ``vmap``-ing K differentiable LPG updates of B agents x W
workers, one Adam step on LPG, then (GROOVE) K A2C updates of each agent's antagonist, and the level sampler.
Agents persist across meta-steps until their lifetime (updates) is reached; then they are evaluated and
re-created on a new level (official ``train.py`` + ``level_sampler.py``).

The antagonist (official ``_compute_algorithmic_regret``): an A2C agent trained for the level's lifetime on
the level, from scratch. The official code trains it, for every agent of the batch, at every meta-step and
keeps the score only of the finished agents; its training does not depend on the LPG agent, so here each
level's antagonist trains alongside its LPG agent (K A2C updates per meta-step, the same lifetime mask) and is
evaluated when the LPG agent finishes: the same antagonist at 1/(lifetime/K) of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from paperzoo.groove.agent import (
    Agent,
    AgentConfig,
    Workers,
    a2c_update,
    evaluate,
    init_agent,
    reset_workers,
    rollout,
)
from paperzoo.groove.gridworld import DISTRIBUTIONS, LevelDistribution
from paperzoo.groove.level_buffer import (
    Level,
    LevelBuffer,
    PLRConfig,
    algorithmic_regret,
    init_buffer,
    plr_sample,
    sample_levels,
)
from paperzoo.groove.lpg import LPG
from paperzoo.groove.meta_grad import MetaConfig, agent_meta_loss
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int

SAMPLERS = ("random", "groove")


@dataclass(frozen=True)
class TrainConfig:
    """Meta-training settings. Defaults: the official code's (30k meta-steps, 512 agents x 64 workers, GRU 256,
    PLR buffer 4000) on the "all" distribution."""

    sampler: str = "random"  # "random": LPG on uniformly random levels; "groove": PLR + algorithmic regret
    distribution: str = "all"
    meta_steps: int = 30_000
    num_agents: int = 512  # B
    num_workers: int = 64  # W, environment workers per agent (also the evaluation workers of AR)
    checkpoints: int = 1  # LPG parameters are saved this many times, evenly, the last at the end
    embedding_width: int = 16
    gru_width: int = 256
    agent: AgentConfig = field(default_factory=AgentConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    plr: PLRConfig = field(default_factory=PLRConfig)
    a2c_entropy_coeff: float = 0.01

    def __post_init__(self) -> None:
        check_one_of("sampler", self.sampler, SAMPLERS)
        check_one_of("distribution", self.distribution, tuple(DISTRIBUTIONS))
        for name in ("meta_steps", "num_agents", "num_workers", "checkpoints", "embedding_width", "gru_width"):
            check_positive_int(name, getattr(self, name))
        if self.meta_steps % self.checkpoints:
            raise ValueError(f"meta_steps must be a multiple of checkpoints, got {self.meta_steps}/{self.checkpoints}")
        if self.sampler == "groove" and self.plr.buffer_size < 2 * self.num_agents:
            raise ValueError(f"plr.buffer_size must be >= 2 * num_agents, got {self.plr.buffer_size}")
        check_non_negative("a2c_entropy_coeff", self.a2c_entropy_coeff)

    @property
    def dist(self) -> LevelDistribution:
        return DISTRIBUTIONS[self.distribution]

    @property
    def lpg(self) -> LPG:
        return LPG(self.embedding_width, self.gru_width, self.agent.target_width)


@struct.dataclass
class ValueCritic:
    params: Any
    opt: Any


@struct.dataclass
class MetaState:
    """Everything meta-training carries from one meta-step to the next (batched over the B agents)."""

    lpg_params: Any
    lpg_opt: Any
    agents: Agent
    workers: Workers
    values: ValueCritic
    levels: Level
    antagonists: Agent
    antagonist_workers: Workers
    buffer: LevelBuffer | None
    step: jax.Array


def _new_learners(
    key: jax.Array, config: TrainConfig, levels: Level
) -> tuple[Agent, Workers, ValueCritic, Agent, Workers]:
    """Fresh LPG agents, value critics, antagonists and workers on ``levels`` (batched)."""
    env, cfg = config.dist.env, config.agent
    n = levels.lifetime.shape[0]
    k_agent, k_value, k_ant, k_w, k_aw = (jax.random.split(k, n) for k in jax.random.split(key, 5))
    agents = jax.vmap(lambda k: init_agent(k, cfg, env.obs_size, "lpg"))(k_agent)
    values = jax.vmap(lambda k: init_agent(k, cfg, env.obs_size, "value"))(k_value)
    value_critics = ValueCritic(values.critic, values.critic_opt)
    ants = jax.vmap(lambda k: init_agent(k, cfg, env.obs_size, "value"))(k_ant)
    workers = jax.vmap(lambda k, p: reset_workers(k, env, p, config.num_workers))(k_w, levels.params)
    ant_workers = jax.vmap(lambda k, p: reset_workers(k, env, p, config.num_workers))(k_aw, levels.params)
    return agents, workers, value_critics, ants, ant_workers


def init_state(key: jax.Array, config: TrainConfig) -> MetaState:
    """LPG parameters, Adam state, the first B levels (random, or the buffer's first B) and their agents."""
    k_lpg, k_levels, k_learners = jax.random.split(key, 3)
    lpg_params = config.lpg.init_params(k_lpg)
    n = config.num_agents
    buffer = None
    if config.sampler == "groove":
        buffer = init_buffer(k_levels, config.dist, config.plr.buffer_size)
        levels = jax.tree.map(lambda x: x[:n], buffer.level)
        buffer = buffer.replace(active=jnp.arange(config.plr.buffer_size) < n)
    else:
        levels = sample_levels(k_levels, config.dist, n)
    agents, workers, values, ants, ant_workers = _new_learners(k_learners, config, levels)
    return MetaState(
        lpg_params=lpg_params,
        lpg_opt=config.meta.lpg_tx().init(lpg_params),
        agents=agents,
        workers=workers,
        values=values,
        levels=levels,
        antagonists=ants,
        antagonist_workers=ant_workers,
        buffer=buffer,
        step=jnp.int32(0),
    )


def a2c_updates(
    key: jax.Array, agent: Agent, workers: Workers, level: Level, config: TrainConfig, n_updates: int
) -> tuple[Agent, Workers]:
    """``n_updates`` A2C updates of one agent (its updates beyond ``level.lifetime`` masked)."""
    env, cfg, meta = config.dist.env, config.agent, config.meta

    def one(carry, k):
        agent, workers = carry
        policy = lambda obs: cfg.actor().apply({"params": agent.actor}, obs)  # noqa: E731
        traj, workers = rollout(k, policy, env, level.params, workers, meta.rollout_len)
        agent, _ = a2c_update(agent, traj, level.lifetime, cfg, meta.gamma, meta.gae_lambda, config.a2c_entropy_coeff)
        return (agent, workers), None

    (agent, workers), _ = jax.lax.scan(one, (agent, workers), jax.random.split(key, n_updates))
    return agent, workers


def meta_step(state: MetaState, key: jax.Array, config: TrainConfig) -> tuple[MetaState, dict[str, jax.Array]]:
    """One LPG update from B agents' meta-losses, then antagonist updates and level sampling."""
    env, cfg, meta, dist = config.dist.env, config.agent, config.meta, config.dist
    n = config.num_agents
    k_grad, k_ant, k_eval, k_sample, k_new = jax.random.split(key, 5)

    def one_loss(lpg_params, key, agent, workers, value_params, level_params, lifetime):
        return agent_meta_loss(
            lpg_params, key, agent, workers, value_params, env, level_params, lifetime, config.lpg, cfg, meta
        )

    def batch_loss(lpg_params):
        losses, aux = jax.vmap(one_loss, in_axes=(None, 0, 0, 0, 0, 0, 0))(
            lpg_params,
            jax.random.split(k_grad, n),
            state.agents,
            state.workers,
            state.values.params,
            state.levels.params,
            state.levels.lifetime,
        )
        return jnp.mean(losses), aux

    (_, (agents, workers, v_grads, metrics)), grad = jax.value_and_grad(batch_loss, has_aux=True)(state.lpg_params)
    updates, lpg_opt = meta.lpg_tx().update(grad, state.lpg_opt, state.lpg_params)
    lpg_params = optax.apply_updates(state.lpg_params, updates)
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["grad_norm"] = optax.global_norm(grad)

    values = state.values
    if meta.train_value_critic:
        tx = cfg.tx(cfg.critic_lr)
        upd, opt = jax.vmap(tx.update)(v_grads, values.opt, values.params)
        values = ValueCritic(optax.apply_updates(values.params, upd), opt)

    ants, ant_workers = state.antagonists, state.antagonist_workers
    if config.sampler == "groove":
        ants, ant_workers = jax.vmap(lambda k, a, w, lv: a2c_updates(k, a, w, lv, config, meta.num_agent_updates))(
            jax.random.split(k_ant, n), ants, ant_workers, state.levels
        )

    # --- Finished agents: evaluate (common random numbers for agent and antagonist), score, re-create ---
    finished = agents.step >= state.levels.lifetime
    length = dist.max_episode_len

    def evaluate_finished(_):
        keys = jax.random.split(k_eval, n)

        def returns(actor_params, key, level):
            policy = lambda obs: cfg.actor().apply({"params": actor_params}, obs)  # noqa: E731
            return evaluate(key, policy, env, level, config.num_workers, length)

        agent_ret = jax.vmap(returns)(agents.actor, keys, state.levels.params)
        if config.sampler == "groove":
            ant_ret = jax.vmap(returns)(ants.actor, keys, state.levels.params)
        else:
            ant_ret = jnp.zeros(n)
        optimal = jax.vmap(lambda p: env.optimal_return(p, length))(state.levels.params)
        return agent_ret, ant_ret, optimal

    zeros = jnp.zeros(n)
    agent_ret, ant_ret, optimal = jax.lax.cond(finished.any(), evaluate_finished, lambda _: (zeros,) * 3, None)
    regret = algorithmic_regret(ant_ret, agent_ret)

    buffer = state.buffer
    if config.sampler == "groove":
        buffer, levels, replayed = plr_sample(k_sample, buffer, state.levels, finished, regret, dist, config.plr)
        # Bookkeeping check: each finished level's buffer score is its algorithmic regret.
        score_error = jnp.max(jnp.where(finished, jnp.abs(buffer.score[state.levels.buffer_id] - regret), 0.0))
    else:
        fresh = sample_levels(k_sample, dist, n)
        levels = jax.tree.map(lambda a, b: jax.vmap(jnp.where)(finished, a, b), fresh, state.levels)
        replayed = jnp.zeros(n, bool)
        score_error = jnp.float32(0.0)

    new = _new_learners(k_new, config, levels)
    keep = lambda fresh, old: jax.tree.map(lambda a, b: jax.vmap(jnp.where)(finished, a, b), fresh, old)  # noqa: E731
    agents, workers, values, ants, ant_workers = keep(new, (agents, workers, values, ants, ant_workers))

    count = finished.sum()
    solvable = finished & (optimal > 1e-6)
    metrics |= {
        "n_finished": count,
        "n_replayed": replayed.sum(),
        "finished_return_sum": jnp.sum(jnp.where(finished, agent_ret, 0.0)),
        "finished_normalised_sum": jnp.sum(jnp.where(solvable, agent_ret / jnp.where(solvable, optimal, 1.0), 0.0)),
        "n_finished_solvable": solvable.sum(),
        "finished_regret_sum": jnp.sum(jnp.where(finished, regret, 0.0)),
        "finished_antagonist_normalised_sum": jnp.sum(
            jnp.where(solvable, ant_ret / jnp.where(solvable, optimal, 1.0), 0.0)
        ),
        "mean_lifetime": jnp.mean(levels.lifetime.astype(jnp.float32)),
        "buffer_score_error": score_error,
    }
    if buffer is not None:
        evaluated = ~buffer.new
        metrics["buffer_mean_score"] = jnp.sum(jnp.where(evaluated, buffer.score, 0.0)) / jnp.maximum(
            evaluated.sum(), 1
        )
    new_state = MetaState(
        lpg_params=lpg_params,
        lpg_opt=lpg_opt,
        agents=agents,
        workers=workers,
        values=values,
        levels=levels,
        antagonists=ants,
        antagonist_workers=ant_workers,
        buffer=buffer,
        step=state.step + 1,
    )
    return new_state, metrics


def make_train(config: TrainConfig):
    """``train(key) -> (final MetaState, metrics {name: [meta_steps]}, LPG params stacked [checkpoints, ...])``.

    Pure and ``jit``-able; ``jax.vmap(make_train(config))(keys)`` trains several seeds at once."""

    per_chunk = config.meta_steps // config.checkpoints

    def train(key: jax.Array):
        init_key, loop_key = jax.random.split(key)
        state = init_state(init_key, config)

        def chunk(state, chunk_key):
            state, metrics = jax.lax.scan(
                lambda s, k: meta_step(s, k, config), state, jax.random.split(chunk_key, per_chunk)
            )
            return state, (metrics, state.lpg_params)

        state, (metrics, params) = jax.lax.scan(chunk, state, jax.random.split(loop_key, config.checkpoints))
        metrics = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), metrics)
        return state, metrics, params

    return train
