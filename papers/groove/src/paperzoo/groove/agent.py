"""Agents trained by a learned update rule (LPG) or by A2C: networks, rollouts, GAE and the two updates.

An agent has an actor pi_theta(a|s) (softmax policy) and a "critic" head: the m-way categorical prediction
y_theta(s) when trained by LPG, or a scalar value V(s) when trained by A2C. Tabular agents are linear maps
without bias of the one-hot observation (official ``models/agent.py``); MLP agents put hidden ReLU layers
in front.

LPG update (official ``agents/lpg_agent.py``), with (pi_hat_t, y_hat_t) = LPG(r, d, pi(a_t|s_t), y(s_t),
y(s_t+1)) on stop-gradient inputs, descends::

    L(theta) = mean_t[ log pi_theta(a_t|s_t) * pi_hat_t ] + alpha_y * mean_t KL(y_theta(s_t) || y_hat_t)

(the LPG paper writes the ascent form +log pi * pi_hat; the code's sign is the one kept here everywhere, the
learned pi_hat absorbs it). A2C update (official ``agents/a2c.py``): GAE advantages from V normalised over the
batch, descend -mean(log pi * A) - c_H * H(pi) for the actor and mean((G^lambda - V)^2) for the critic.

Every update past the agent's lifetime is discarded (masked, not skipped: static shapes under ``jit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct

from paperzoo.groove.gridworld import EnvParams, EnvState, GridWorld, uniform
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

EPS = 1e-8  # the official code's log(p + 1e-8)


class Head(nn.Module):
    """Linear map without bias (tabular) or ReLU MLP, then softmax when ``softmax``.

    Used for the actor (n_actions, softmax), the LPG prediction y (m, softmax) and the value (1, no softmax).
    """

    hidden: Sequence[int]
    out: int
    softmax: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        x = nn.Dense(self.out, use_bias=bool(self.hidden))(x)
        return nn.softmax(x) if self.softmax else x[..., 0]


@dataclass(frozen=True)
class AgentConfig:
    """An agent's networks and optimisers.

    Defaults are the official tabular hyper-parameters (``_TABULAR_HYPERS``): linear heads, SGD with global-norm
    clip 0.5, learning rate 40 for the actor and 4 for the critic / prediction head. The official "rand" agents
    use ``hidden=(32,)``, Adam, lr 1e-3 (Adam has no clipping there, as here).
    """

    hidden: tuple[int, ...] = ()
    actor_lr: float = 40.0
    critic_lr: float = 4.0
    optimizer: str = "sgd"
    max_grad_norm: float = 0.5
    target_width: int = 8  # m, the LPG prediction's size
    n_actions: int = 5

    def __post_init__(self) -> None:
        check_positive("actor_lr", self.actor_lr)
        check_positive("critic_lr", self.critic_lr)
        check_one_of("optimizer", self.optimizer, ("sgd", "adam"))
        check_positive("max_grad_norm", self.max_grad_norm)
        check_positive_int("target_width", self.target_width)
        check_positive_int("n_actions", self.n_actions)
        for width in self.hidden:
            check_positive_int("hidden", width)

    def actor(self) -> Head:
        return Head(self.hidden, self.n_actions, softmax=True)

    def critic(self, kind: str) -> Head:
        """``kind="lpg"``: the m-way prediction y; ``kind="value"``: a scalar value."""
        check_one_of("kind", kind, ("lpg", "value"))
        return Head(self.hidden, self.target_width, softmax=True) if kind == "lpg" else Head(self.hidden, 1, False)

    def tx(self, lr: float) -> optax.GradientTransformation:
        """Official ``create_optimizer``: SGD = clip_by_global_norm then -lr * g; Adam has no clipping."""
        if self.optimizer == "sgd":
            return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), optax.scale(-lr))
        return optax.chain(optax.scale_by_adam(), optax.scale(-lr))


@struct.dataclass
class Agent:
    """Parameters and optimiser states of one agent; ``step`` counts the updates applied so far."""

    actor: Any
    actor_opt: Any
    critic: Any
    critic_opt: Any
    step: jax.Array


@struct.dataclass
class Workers:
    """The agent's parallel environment workers: current observations and states, batched over workers."""

    obs: jax.Array
    state: EnvState


@struct.dataclass
class Transition:
    """A rollout, batched as (workers, time, ...)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array


def init_params(key: jax.Array, net: nn.Module, in_size: int) -> Any:
    """Flax's default Dense initialisation (LeCun normal: truncated normal in [-2, 2] sigma, std 1/sqrt(fan_in),
    zero biases) from a single PRNG draw for the whole network (one draw compiles in a fraction of the time)."""
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.ones((in_size,))))["params"]
    leaves, treedef = jax.tree.flatten(shapes)
    total = sum(int(np.prod(leaf.shape)) for leaf in leaves)
    flat = jax.random.truncated_normal(key, -2.0, 2.0, (total,))
    out, start = [], 0
    for leaf in leaves:
        size = int(np.prod(leaf.shape))
        if len(leaf.shape) == 2:  # kernel: std sqrt(1 / fan_in) / 0.8796 (the truncated normal's own std)
            scale = (1.0 / leaf.shape[0]) ** 0.5 / 0.87962566103423978
            out.append((flat[start : start + size] * scale).reshape(leaf.shape))
        else:
            out.append(jnp.zeros(leaf.shape))
        start += size
    return jax.tree.unflatten(treedef, out)


def init_agent(key: jax.Array, config: AgentConfig, obs_size: int, kind: str) -> Agent:
    """A fresh agent: actor and critic of ``kind`` ("lpg": prediction head, "value": value head)."""
    k1, k2 = jax.random.split(key)
    actor = init_params(k1, config.actor(), obs_size)
    critic = init_params(k2, config.critic(kind), obs_size)
    return Agent(
        actor=actor,
        actor_opt=config.tx(config.actor_lr).init(actor),
        critic=critic,
        critic_opt=config.tx(config.critic_lr).init(critic),
        step=jnp.int32(0),
    )


def reset_workers(key: jax.Array, env: GridWorld, params: EnvParams, n_workers: int) -> Workers:
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n_workers), params)
    return Workers(obs, state)


def rollout(
    key: jax.Array,
    policy: Callable[[jax.Array], jax.Array],
    env: GridWorld,
    params: EnvParams,
    workers: Workers,
    length: int,
) -> tuple[Transition, Workers]:
    """``length`` steps of every worker under ``policy(obs) -> action probabilities`` (one ``lax.scan`` over
    time, workers vectorised); episodes auto-reset. Returns the (workers, time) transitions and the workers."""

    def one_step(carry, u):
        obs, state = carry
        probs = policy(obs)
        # Inverse-CDF sampling of a ~ pi(.|s) from u[:, 0]; the rest of u drives the environment.
        cdf = jnp.cumsum(probs, axis=-1)
        action = jnp.minimum(jnp.sum(cdf < u[:, :1] * cdf[:, -1:], axis=-1), probs.shape[-1] - 1)
        next_obs, next_state, reward, done = jax.vmap(env.step_uniform, in_axes=(0, 0, 0, None))(
            u[:, 1:], state, action, params
        )
        return (next_obs, next_state), Transition(obs, action, reward, next_obs, done)

    n_workers = workers.obs.shape[0]
    # One PRNG call for the whole rollout: [time, workers, 1 (action) + the environment's draws].
    u = uniform(key, (length, n_workers, 1 + env.n_uniforms))
    (obs, state), traj = jax.lax.scan(one_step, (workers.obs, workers.state), u)
    traj = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)
    return traj, Workers(obs, state)


def evaluate(
    key: jax.Array,
    policy: Callable[[jax.Array], jax.Array],
    env: GridWorld,
    params: EnvParams,
    n_workers: int,
    length: int,
) -> jax.Array:
    """Mean return of the first episode of ``n_workers`` fresh workers, each run for ``length`` steps
    (official ``eval_agent``: rewards after the first ``done`` are not counted)."""
    reset_key, key = jax.random.split(key)
    traj, _ = rollout(key, policy, env, params, reset_workers(reset_key, env, params, n_workers), length)
    alive = jnp.cumprod(1.0 - traj.done.astype(jnp.float32), axis=1)
    valid = jnp.concatenate([jnp.ones_like(alive[:, :1]), alive[:, :-1]], axis=1)
    return jnp.mean(jnp.sum(traj.reward * valid, axis=1))


def gae(
    values: jax.Array, rewards: jax.Array, dones: jax.Array, gamma: float, lam: float
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over one trajectory (values has length T+1)::

        delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t,   A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}

    Returns (A, A + V[:-1]) (the lambda-return targets)."""
    not_done = 1.0 - dones.astype(values.dtype)
    deltas = rewards + gamma * values[1:] * not_done - values[:-1]

    def back(carry, x):
        delta, nd = x
        carry = delta + gamma * lam * nd * carry
        return carry, carry

    _, adv = jax.lax.scan(back, jnp.zeros_like(values[0]), (deltas, not_done), reverse=True)
    return adv, adv + values[:-1]


def _masked(new: Any, old: Any, keep: jax.Array) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, old)


def entropy(probs: jax.Array) -> jax.Array:
    """Mean entropy of categorical distributions on the last axis (official ``batch_rollout_entropy``)."""
    p = probs + EPS
    return -jnp.mean(jnp.sum(p * jnp.log(p), axis=-1))


def kl(p: jax.Array, q: jax.Array) -> jax.Array:
    """KL(p || q) on the last axis, with the official code's 1e-8 inside the logs."""
    return jnp.sum(p * (jnp.log(p + EPS) - jnp.log(q + EPS)), axis=-1)


def lpg_update(
    agent: Agent,
    traj: Transition,
    lpg_fn: Callable[..., tuple[jax.Array, jax.Array]],
    lifetime: jax.Array,
    config: AgentConfig,
    alpha_y: float = 0.5,
) -> tuple[Agent, dict[str, jax.Array]]:
    """One LPG update of ``agent`` on a (workers, time) rollout, differentiable in the LPG parameters that
    ``lpg_fn(r, d, pi, y_t, y_tp1) -> (pi_hat, y_hat)`` closes over.

    Returns the agent (unchanged if this update would exceed ``lifetime``) and the statistics the meta-loss
    regularises: ``pi_l2`` = mean pi_hat^2, ``y_l2`` = mean_t sum_k y_hat_k^2, and the entropies of the
    updated policy and prediction on the rollout's observations.
    """
    actor_net, critic_net = config.actor(), config.critic("lpg")

    def loss_fn(actor_params, critic_params):
        probs = actor_net.apply({"params": actor_params}, traj.obs) + EPS
        pi = jnp.take_along_axis(probs, traj.action[..., None], axis=-1)[..., 0]
        y_t = critic_net.apply({"params": critic_params}, traj.obs)
        y_tp1 = critic_net.apply({"params": critic_params}, traj.next_obs)
        sg = jax.lax.stop_gradient
        pi_hat, y_hat = lpg_fn(traj.reward, traj.done, sg(pi), sg(y_t), sg(y_tp1))
        # L = mean[log pi(a|s) pi_hat] + alpha_y mean KL(y || y_hat)   (official sign: descend)
        loss = jnp.mean(jnp.log(pi) * pi_hat) + alpha_y * jnp.mean(kl(y_t, y_hat))
        return loss, (jnp.mean(jnp.square(pi_hat)), jnp.mean(jnp.sum(jnp.square(y_hat), axis=-1)))

    (g_actor, g_critic), (pi_l2, y_l2) = jax.grad(loss_fn, argnums=(0, 1), has_aux=True)(agent.actor, agent.critic)
    new = _apply(agent, g_actor, g_critic, config)
    new = _masked(new, agent, new.step <= lifetime)
    stats = {
        "pi_l2": pi_l2,
        "y_l2": y_l2,
        "policy_entropy": entropy(actor_net.apply({"params": new.actor}, traj.obs)),
        "target_entropy": entropy(critic_net.apply({"params": new.critic}, traj.obs)),
    }
    return new, stats


def _apply(agent: Agent, g_actor: Any, g_critic: Any, config: AgentConfig) -> Agent:
    u_actor, actor_opt = config.tx(config.actor_lr).update(g_actor, agent.actor_opt, agent.actor)
    u_critic, critic_opt = config.tx(config.critic_lr).update(g_critic, agent.critic_opt, agent.critic)
    return Agent(
        actor=optax.apply_updates(agent.actor, u_actor),
        actor_opt=actor_opt,
        critic=optax.apply_updates(agent.critic, u_critic),
        critic_opt=critic_opt,
        step=agent.step + 1,
    )


def value_targets(
    value_params: Any, traj: Transition, config: AgentConfig, gamma: float, lam: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per worker: values V(s_0..s_T) (bootstrapping from the last next_obs), GAE advantages and targets."""
    value_net = config.critic("value")
    obs = jnp.concatenate([traj.obs, traj.next_obs[:, -1:]], axis=1)
    values = value_net.apply({"params": value_params}, obs)
    adv, target = jax.vmap(gae, in_axes=(0, 0, 0, None, None))(values, traj.reward, traj.done, gamma, lam)
    return values, jax.lax.stop_gradient(adv), jax.lax.stop_gradient(target)


def value_loss(value_params: Any, traj: Transition, config: AgentConfig, gamma: float, lam: float) -> jax.Array:
    """Semi-gradient TD(lambda) loss mean((G^lambda - V)^2), G^lambda held fixed."""
    values, _, target = value_targets(value_params, traj, config, gamma, lam)
    return jnp.mean(jnp.square(target - values[:, :-1]))


def a2c_update(
    agent: Agent,
    traj: Transition,
    lifetime: jax.Array,
    config: AgentConfig,
    gamma: float = 0.99,
    lam: float = 0.95,
    entropy_coeff: float = 0.01,
) -> tuple[Agent, dict[str, jax.Array]]:
    """One A2C update (official ``a2c_agent_train_step``): critic on mean((G^lambda - V)^2); actor on
    -mean(log pi(a|s) A_norm) - c_H H(pi), A_norm the batch-normalised GAE advantage. ``agent.critic`` is the
    value head."""
    check_non_negative("entropy_coeff", entropy_coeff)
    actor_net = config.actor()
    critic_loss, g_critic = jax.value_and_grad(value_loss)(agent.critic, traj, config, gamma, lam)
    _, adv, _ = value_targets(agent.critic, traj, config, gamma, lam)
    adv = (adv - adv.mean()) / (adv.std() + EPS)

    def actor_loss(params):
        probs = actor_net.apply({"params": params}, traj.obs) + EPS
        logp = jnp.log(probs)
        chosen = jnp.take_along_axis(logp, traj.action[..., None], axis=-1)[..., 0]
        ent = -jnp.mean(jnp.sum(probs * logp, axis=-1))
        return -jnp.mean(chosen * adv) - entropy_coeff * ent

    loss, g_actor = jax.value_and_grad(actor_loss)(agent.actor)
    new = _apply(agent, g_actor, g_critic, config)
    return _masked(new, agent, new.step <= lifetime), {"actor_loss": loss, "critic_loss": critic_loss}


def policy_fn(agent_params: Any, config: AgentConfig) -> Callable[[jax.Array], jax.Array]:
    """``obs -> action probabilities`` of an actor."""
    net = config.actor()
    return lambda obs: net.apply({"params": agent_params}, obs)


def uniform_policy(n_actions: int = 5) -> Callable[[jax.Array], jax.Array]:
    """The random policy: uniform action probabilities."""
    return lambda obs: jnp.full((*obs.shape[:-1], n_actions), 1.0 / n_actions)
