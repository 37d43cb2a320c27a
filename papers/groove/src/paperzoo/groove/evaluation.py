"""Meta-testing: train fresh agents with a frozen LPG (or with A2C, or not at all) on given levels and report
their return as a fraction of the level's optimal return (exact DP, :meth:`GridWorld.optimal_return`).

Everything is one ``jit``-able function of (key, LPG parameters, levels): ``vmap`` over levels and agents,
``lax.scan`` over the agent's updates (those past a level's lifetime masked), then ``evaluate`` (first-episode
return of ``eval_workers`` fresh workers, as the official ``eval_agent``).
"""

from __future__ import annotations

from typing import Any

import jax

from paperzoo.groove.agent import (
    Agent,
    AgentConfig,
    a2c_update,
    evaluate,
    init_agent,
    lpg_update,
    reset_workers,
    rollout,
    uniform_policy,
)
from paperzoo.groove.gridworld import EnvParams, GridWorld
from paperzoo.groove.lpg import LPG
from paperzoo.groove.meta_grad import MetaConfig


def train_agent(
    key: jax.Array,
    env: GridWorld,
    level: EnvParams,
    lifetime: jax.Array,
    n_updates: int,
    agent_config: AgentConfig,
    meta: MetaConfig,
    n_workers: int,
    lpg: LPG | None = None,
    lpg_params: Any = None,
    a2c_entropy_coeff: float = 0.01,
) -> Agent:
    """A fresh agent trained on ``level`` for ``min(n_updates, lifetime)`` updates: by the frozen LPG when
    ``lpg`` is given, else by A2C. ``n_updates`` is static (the scan length)."""
    init_key, worker_key, key = jax.random.split(key, 3)
    kind = "lpg" if lpg is not None else "value"
    agent = init_agent(init_key, agent_config, env.obs_size, kind)
    workers = reset_workers(worker_key, env, level, n_workers)
    actor = agent_config.actor()

    def lpg_fn(r, d, pi, y_t, y_tp1):
        return lpg.apply({"params": lpg_params}, r, d, pi, y_t, y_tp1)

    def one(carry, k):
        agent, workers = carry
        traj, workers = rollout(
            k, lambda obs: actor.apply({"params": agent.actor}, obs), env, level, workers, meta.rollout_len
        )
        if lpg is not None:
            agent, _ = lpg_update(agent, traj, lpg_fn, lifetime, agent_config, meta.alpha_y)
        else:
            agent, _ = a2c_update(agent, traj, lifetime, agent_config, meta.gamma, meta.gae_lambda, a2c_entropy_coeff)
        return (agent, workers), None

    (agent, _), _ = jax.lax.scan(one, (agent, workers), jax.random.split(key, n_updates))
    return agent


def meta_test(
    key: jax.Array,
    env: GridWorld,
    levels: EnvParams,
    lifetimes: jax.Array,
    n_updates: int,
    episode_len: int,
    agent_config: AgentConfig,
    meta: MetaConfig,
    n_agents: int,
    n_workers: int,
    eval_workers: int,
    learner: str = "lpg",
    lpg: LPG | None = None,
    lpg_params: Any = None,
) -> dict[str, jax.Array]:
    """Returns, per level (batched ``levels``) and agent: ``return`` [L, n_agents], ``optimal`` [L] and
    ``normalised`` = return / optimal [L, n_agents]. ``learner``: "lpg" (frozen ``lpg_params``), "a2c", or
    "random" (the uniform policy, no training)."""
    if learner not in ("lpg", "a2c", "random"):
        raise ValueError(f"learner must be one of 'lpg', 'a2c', 'random', got {learner!r}")
    if learner == "lpg" and (lpg is None or lpg_params is None):
        raise ValueError("learner='lpg' needs lpg and lpg_params")
    actor = agent_config.actor()

    def one(key, level, lifetime):
        train_key, eval_key = jax.random.split(key)
        if learner == "random":
            policy = uniform_policy(agent_config.n_actions)
        else:
            agent = train_agent(
                train_key,
                env,
                level,
                lifetime,
                n_updates,
                agent_config,
                meta,
                n_workers,
                lpg if learner == "lpg" else None,
                lpg_params,
            )

            def policy(obs):
                return actor.apply({"params": agent.actor}, obs)

        return evaluate(eval_key, policy, env, level, eval_workers, episode_len)

    n_levels = lifetimes.shape[0]
    keys = jax.random.split(key, n_levels * n_agents).reshape(n_levels, n_agents)
    returns = jax.vmap(lambda ks, lv, lt: jax.vmap(lambda k: one(k, lv, lt))(ks))(keys, levels, lifetimes)
    optimal = jax.vmap(lambda lv: env.optimal_return(lv, episode_len))(levels)
    return {"return": returns, "optimal": optimal, "normalised": returns / optimal[:, None]}
