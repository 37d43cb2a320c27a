"""The LPG meta-gradient (official ``meta/train.py``, ``lpg_meta_grad_train_step``).

For each agent of the batch: K LPG updates theta_0 -> theta_K, each on a fresh rollout, kept differentiable in
the LPG parameters phi; then one more rollout with theta_K and a GAE(gamma, lambda) advantage A_t from a
separate value critic V. The meta-loss (minimised in phi)::

    L(phi) = -mean_t[ log pi_thetaK(a_t|s_t) A~_t ]
             - b0 mean_k H(pi_theta_k) - b1 mean_k H(y_theta_k)
             + b2 mean_k mean_t pi_hat^2 + b3 mean_k mean_t sum_j y_hat_j^2

    A~_t = (A_t - mean(A)) / (std(A) + 1e-8)       mean, std over this agent's workers x time (official code)

(b0, b1, b2, b3) = (0.05, 1e-3, 5e-3, 1e-3), the entropies measured after each inner update on that update's
rollout, the L2 terms on the LPG outputs of each inner update (official code). The gradient is averaged over
agents (``vmap``), and phi takes one Adam step (lr 1e-4; the official code ignores ``lpg_max_grad_norm`` with
Adam, ``max_grad_norm=None`` here by default).

Official-code quirk: the value critic's update is computed inside the loss and its result discarded
(``value_critic_state.replace(...)`` returns a new object), so its gradient is zero and V stays at its random
initialisation. ``train_value_critic=True`` (our default) trains V on its TD(lambda) loss with the agent's
critic optimiser; ``False`` reproduces the official behaviour.

The advantage is normalised per agent, as the official code does ("Normalize advantage across batch" inside the
per-agent, ``vmap``-ed ``_train_agent``): every agent's policy-gradient term then has the same scale whatever its
level's rewards (the meta-loss is invariant to scaling the rewards), instead of weighting each level by its reward
scale. ``MetaConfig(normalise_advantage=False)`` keeps the raw GAE advantage (the ablation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from paperzoo.groove.agent import (
    EPS,
    Agent,
    AgentConfig,
    Workers,
    lpg_update,
    rollout,
    value_loss,
    value_targets,
)
from paperzoo.groove.gridworld import EnvParams, GridWorld
from paperzoo.groove.lpg import LPG
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range


@dataclass(frozen=True)
class MetaConfig:
    """Meta-gradient hyper-parameters (official defaults, ``experiments/parse_args.py``)."""

    num_agent_updates: int = 5  # K
    rollout_len: int = 20  # T
    gamma: float = 0.99
    gae_lambda: float = 0.95
    alpha_y: float = 0.5  # agent_target_coeff
    policy_entropy_coeff: float = 5e-2  # b0
    target_entropy_coeff: float = 1e-3  # b1
    policy_l2_coeff: float = 5e-3  # b2
    target_l2_coeff: float = 1e-3  # b3
    lpg_lr: float = 1e-4
    lpg_max_grad_norm: float | None = None  # the official code does not clip with Adam
    train_value_critic: bool = True  # official: False in effect (see module docstring)
    normalise_advantage: bool = True  # official: (A - mean) / (std + 1e-8) per agent; False: raw GAE advantage

    def __post_init__(self) -> None:
        check_positive_int("num_agent_updates", self.num_agent_updates)
        check_positive_int("rollout_len", self.rollout_len)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        for name in ("alpha_y", "policy_entropy_coeff", "target_entropy_coeff", "policy_l2_coeff", "target_l2_coeff"):
            check_non_negative(name, getattr(self, name))
        check_positive("lpg_lr", self.lpg_lr)
        if self.lpg_max_grad_norm is not None:
            check_positive("lpg_max_grad_norm", self.lpg_max_grad_norm)

    def lpg_tx(self) -> optax.GradientTransformation:
        adam = optax.adam(self.lpg_lr)
        if self.lpg_max_grad_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(self.lpg_max_grad_norm), adam)


def policy_gradient_loss(logp: jax.Array, adv: jax.Array, normalise: bool = True) -> jax.Array:
    """-mean(log pi(a|s) A~) over one agent's (workers, time) rollout, A~ = (A - mean A) / (std A + 1e-8) when
    ``normalise`` (official ``meta/train.py``), else the raw advantage A."""
    if normalise:
        adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + EPS)
    return -jnp.mean(logp * adv)


def inner_updates(
    lpg_params: Any,
    key: jax.Array,
    agent: Agent,
    workers: Workers,
    env: GridWorld,
    level: EnvParams,
    lifetime: jax.Array,
    lpg: LPG,
    agent_config: AgentConfig,
    meta: MetaConfig,
    num_updates: int | None = None,
) -> tuple[Agent, Workers, dict[str, jax.Array]]:
    """``num_updates`` (default K) LPG updates of one agent, one rollout each (a ``lax.scan``). Returns the
    agent, its workers and the per-update statistics stacked over updates."""

    def lpg_fn(r, d, pi, y_t, y_tp1):
        return lpg.apply({"params": lpg_params}, r, d, pi, y_t, y_tp1)

    def one_update(carry, step_key):
        agent, workers = carry
        policy = lambda obs: agent_config.actor().apply({"params": agent.actor}, obs)  # noqa: E731
        traj, workers = rollout(step_key, policy, env, level, workers, meta.rollout_len)
        agent, stats = lpg_update(agent, traj, lpg_fn, lifetime, agent_config, meta.alpha_y)
        return (agent, workers), stats

    n = meta.num_agent_updates if num_updates is None else num_updates
    (agent, workers), stats = jax.lax.scan(one_update, (agent, workers), jax.random.split(key, n))
    return agent, workers, stats


def agent_meta_loss(
    lpg_params: Any,
    key: jax.Array,
    agent: Agent,
    workers: Workers,
    value_params: Any,
    env: GridWorld,
    level: EnvParams,
    lifetime: jax.Array,
    lpg: LPG,
    agent_config: AgentConfig,
    meta: MetaConfig,
) -> tuple[jax.Array, tuple[Agent, Workers, Any, dict[str, jax.Array]]]:
    """The regularised meta-loss of one agent after K inner updates (differentiable in ``lpg_params``).

    Returns the loss and (updated agent, workers, gradient of the value critic's loss, metrics)."""
    inner_key, eval_key = jax.random.split(key)
    agent, workers, stats = inner_updates(
        lpg_params, inner_key, agent, workers, env, level, lifetime, lpg, agent_config, meta
    )
    actor = agent_config.actor()
    policy = lambda obs: actor.apply({"params": jax.lax.stop_gradient(agent.actor)}, obs)  # noqa: E731
    traj, workers = rollout(eval_key, policy, env, level, workers, meta.rollout_len)
    _, adv, _ = value_targets(value_params, traj, agent_config, meta.gamma, meta.gae_lambda)
    probs = actor.apply({"params": agent.actor}, traj.obs)
    logp = jnp.take_along_axis(jnp.log(probs + EPS), traj.action[..., None], axis=-1)[..., 0]
    pg_loss = policy_gradient_loss(logp, adv, meta.normalise_advantage)
    stats = jax.tree.map(jnp.mean, stats)
    loss = (
        pg_loss
        - meta.policy_entropy_coeff * stats["policy_entropy"]
        + meta.policy_l2_coeff * stats["pi_l2"]
        - meta.target_entropy_coeff * stats["target_entropy"]
        + meta.target_l2_coeff * stats["y_l2"]
    )
    # Gradient of the value critic's TD(lambda) loss on the fresh rollout; applied by meta_step when
    # train_value_critic (our default), dropped otherwise (the official code, in effect).
    v_loss, v_grad = jax.value_and_grad(value_loss)(
        jax.lax.stop_gradient(value_params), traj, agent_config, meta.gamma, meta.gae_lambda
    )
    metrics = {
        "pg_loss": pg_loss,
        "meta_loss": loss,
        "value_loss": v_loss,
        "reward_per_step": jnp.mean(traj.reward),
        **stats,
    }
    return loss, (agent, workers, jax.lax.stop_gradient(v_grad), metrics)
