"""LPO (Lu et al., "Discovered Policy Optimisation", NeurIPS 2022) and TA-LPO (Jackson et al. 2024): PPO whose
clipping term is replaced by a learned *drift* function, meta-learned by OpenES on the agent's final return.

With r = pi_theta(a|s) / pi_old(a|s) and A the advantage normalised over the minibatch (official
``dpo/brax_drift.py::compute_drift_loss``)::

    x       = [log r, (log r)^2, 1 - r, (1 - r)^2]                          (4 features)
    input   = [x, A x]                                                      (8; TA-LPO: [in, (n/N) in], 16)
    drift   = ReLU(f_phi(input) - 1e-4)                                      (plain LPO)
    drift   = ReLU(ReLU((r - clip(r, 1 - eps, 1 + eps)) A) + f_phi(input) - 1e-4)   (PPO-initialised)
    L_pi    = -mean(r A - drift)

f_phi is an MLP 8 -> 128 (tanh) -> 1 *without biases*, so f_phi(0) = 0 and the drift vanishes at r = 1
(every feature is 0 there) and is never negative. With f_phi = 0 the PPO-initialised loss is PPO's clipped
objective -mean(min(r A, clip(r) A)) up to the 1e-4 margin, and plain LPO is the importance-weighted policy
gradient -mean(r A).

The PPO learner is the PureJaxRL one (discrete actions, MLP actor-critic with tanh, GAE, epochs x minibatches,
Adam with global-norm clipping) on a gymnax environment; :func:`make_ppo_train` returns a pure
``train(key, drift_params) -> metrics`` for ``objective`` "ppo", "lpo" or "ta_lpo", and
:func:`make_lpo_es_train` meta-trains phi with the OpenES of :mod:`~paperzoo.ta_lpg.es` (antithetic pairs share
every random number; fitness = mean final return).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from jax.flatten_util import ravel_pytree

from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range
from paperzoo.ta_lpg.es import ESConfig, ESState, ask, init_es, tell
from paperzoo.ta_lpg.lifetime_features import lpo_lifetime_features

DRIFT_MARGIN = 1e-4  # the official "- 0.0001" inside the outer ReLU
OBJECTIVES = ("ppo", "lpo", "ta_lpo")


class DriftNet(nn.Module):
    """f_phi: MLP in -> hidden (tanh) -> 1, no biases (so f_phi(0) = 0)."""

    hidden: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.tanh(nn.Dense(self.hidden, use_bias=False)(x))
        return nn.Dense(1, use_bias=False)(x)[..., 0]


def lpo_features(ratio: jax.Array, adv: jax.Array) -> jax.Array:
    """[x, A x] with x = [log r, (log r)^2, 1 - r, (1 - r)^2]; shape (..., 8)."""
    log_r = jnp.log(ratio)
    x = jnp.stack([log_r, log_r**2, 1.0 - ratio, (1.0 - ratio) ** 2], axis=-1)
    return jnp.concatenate([x, adv[..., None] * x], axis=-1)


def drift(
    drift_params: Any,
    ratio: jax.Array,
    adv: jax.Array,
    ppo_init: bool = True,
    clip_eps: float = 0.2,
    progress: jax.Array | None = None,
    hidden: int = 128,
) -> jax.Array:
    """The LPO drift (module docstring); ``progress`` = n/N makes it TA-LPO's (input [in, (n/N) in])."""
    features = lpo_features(ratio, adv)
    if progress is not None:
        features = lpo_lifetime_features(features, progress)
    f = DriftNet(hidden).apply({"params": drift_params}, features)
    if ppo_init:
        # ReLU((r - clip(r, 1 - eps, 1 + eps)) A): exactly the part of rA that PPO's clipping removes
        ppo_drift = nn.relu((ratio - jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)) * adv)
        return nn.relu(ppo_drift + f - DRIFT_MARGIN)
    return nn.relu(f - DRIFT_MARGIN)


def lpo_policy_loss(ratio: jax.Array, adv: jax.Array, drift_value: jax.Array) -> jax.Array:
    """L_pi = -mean(r A - drift)."""
    return -jnp.mean(ratio * adv - drift_value)


def ppo_clip_loss(ratio: jax.Array, adv: jax.Array, clip_eps: float = 0.2) -> jax.Array:
    """PPO's clipped surrogate -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))."""
    return -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv))


def init_drift_params(key: jax.Array, ta: bool, hidden: int = 128, zeros: bool = False) -> Any:
    """Drift-network parameters for 8 (LPO) or 16 (TA-LPO) inputs; ``zeros``: f_phi = 0 (the PPO start)."""
    params = DriftNet(hidden).init(key, jnp.ones((16 if ta else 8,)))["params"]
    return jax.tree.map(jnp.zeros_like, params) if zeros else params


# ----------------------------------------------------------------------------------------------------- PPO
class ActorCritic(nn.Module):
    """PureJaxRL's discrete actor-critic: two tanh MLPs (width ``hidden``, 2 layers), orthogonal init."""

    n_actions: int
    hidden: int = 64

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        ortho = nn.initializers.orthogonal
        a = jnp.tanh(nn.Dense(self.hidden, kernel_init=ortho(np.sqrt(2)))(x))
        a = jnp.tanh(nn.Dense(self.hidden, kernel_init=ortho(np.sqrt(2)))(a))
        logits = nn.Dense(self.n_actions, kernel_init=ortho(0.01))(a)
        v = jnp.tanh(nn.Dense(self.hidden, kernel_init=ortho(np.sqrt(2)))(x))
        v = jnp.tanh(nn.Dense(self.hidden, kernel_init=ortho(np.sqrt(2)))(v))
        return logits, nn.Dense(1, kernel_init=ortho(1.0))(v)[..., 0]


@functools.cache
def _builtin_gymnax_env_names() -> tuple[str, ...] | None:
    """gymnax's built-in environment names, read from ``gymnax/registration.py`` without importing gymnax (its
    import loads every environment: seconds); ``None`` where that file does not list them as expected."""
    spec = importlib.util.find_spec("gymnax")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        tree = ast.parse((Path(next(iter(spec.submodule_search_locations))) / "registration.py").read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "_BUILTIN_ENV_IDS" for t in targets) and node.value:
                try:
                    names = ast.literal_eval(node.value)
                except ValueError:
                    return None
                return tuple(names) if all(isinstance(n, str) for n in names) else None
    return None


def gymnax_env_names() -> tuple[str, ...]:
    """The environment names gymnax has registered (``gymnax.registered_envs``).

    Once gymnax is imported, its live registry (environments registered at run time included). Before that the
    registry holds exactly the built-in names, read from gymnax's source without importing it, so that building a
    config stays cheap; where they cannot be read, gymnax is imported.
    """
    if (module := sys.modules.get("gymnax")) is not None:
        return tuple(module.registered_envs)
    if (names := _builtin_gymnax_env_names()) is not None:
        return names
    import gymnax

    return tuple(gymnax.registered_envs)


@dataclass(frozen=True)
class PPOConfig:
    """A small PPO (PureJaxRL's CartPole defaults, fewer steps) whose policy objective is ``objective``."""

    env_name: str = "CartPole-v1"
    objective: str = "ppo"  # "ppo": clipped; "lpo": learned drift; "ta_lpo": lifetime-conditioned drift
    total_steps: int = 20_000
    num_envs: int = 4
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 2.5e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    ppo_init: bool = True  # LPO's drift includes PPO's clipping term (official ppo_init)
    drift_hidden: int = 128
    eval_envs: int = 16
    eval_steps: int = 500

    def __post_init__(self) -> None:
        check_one_of("objective", self.objective, OBJECTIVES)
        check_one_of("env_name", self.env_name, gymnax_env_names())
        for name in ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "hidden"):
            check_positive_int(name, getattr(self, name))
        for name in ("drift_hidden", "eval_envs", "eval_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_positive("clip_eps", self.clip_eps)
        check_non_negative("ent_coef", self.ent_coef)
        check_non_negative("vf_coef", self.vf_coef)
        check_positive("max_grad_norm", self.max_grad_norm)
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError("num_minibatches must divide num_envs * num_steps")
        if self.num_updates < 1:
            raise ValueError(f"total_steps must be >= num_envs * num_steps, got {self.total_steps}")

    @property
    def num_updates(self) -> int:
        return self.total_steps // (self.num_envs * self.num_steps)


def _make_env(name: str):
    import gymnax

    return gymnax.make(name)


def make_ppo_train(config: PPOConfig):
    """``train(key, drift_params) -> {"return": final evaluation return, "train_returns": [updates]}``: pure and
    ``jit``-able. ``drift_params`` is ignored (may be None) for ``objective="ppo"``."""
    env, env_params = _make_env(config.env_name)
    space = env.action_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(f"env_name must name a gymnax environment with discrete actions, got {config.env_name!r}")
    n_actions = space.n
    net = ActorCritic(n_actions, config.hidden)
    n_updates = config.num_updates
    batch = config.num_envs * config.num_steps
    mb = batch // config.num_minibatches

    def schedule(count):
        frac = 1.0 - count // (config.num_minibatches * config.update_epochs) / n_updates
        return config.lr * frac if config.anneal_lr else config.lr

    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-5))

    def policy_loss(ratio, adv, drift_params, progress):
        if config.objective == "ppo":
            return ppo_clip_loss(ratio, adv, config.clip_eps)
        d = drift(
            drift_params,
            ratio,
            adv,
            config.ppo_init,
            config.clip_eps,
            progress if config.objective == "ta_lpo" else None,
            config.drift_hidden,
        )
        return lpo_policy_loss(ratio, adv, d)

    def train(key: jax.Array, drift_params: Any = None) -> dict[str, jax.Array]:
        k_init, k_reset, k_loop, k_eval = jax.random.split(key, 4)
        obs_shape = env.observation_space(env_params).shape
        params = net.init(k_init, jnp.zeros(obs_shape))
        opt = tx.init(params)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, config.num_envs), env_params)
        ep_ret = jnp.zeros(config.num_envs)

        def env_step(carry, k):
            params, obs, state, ep_ret, done_sum, ret_sum = carry
            k_act, k_step = jax.random.split(k)
            logits, value = net.apply(params, obs)
            action = jax.random.categorical(k_act, logits)
            logp = jax.nn.log_softmax(logits)[jnp.arange(config.num_envs), action]
            next_obs, state, reward, term, trunc, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, config.num_envs), state, action, env_params
            )
            done = term | trunc  # gymnax 1.x; PureJaxRL treats both as episode ends
            ep_ret = ep_ret + reward
            done_sum = done_sum + done.sum()
            ret_sum = ret_sum + jnp.sum(jnp.where(done, ep_ret, 0.0))
            ep_ret = jnp.where(done, 0.0, ep_ret)
            out = (obs, action, logp, value, reward, done)
            return (params, next_obs, state, ep_ret, done_sum, ret_sum), out

        def update(carry, xs):
            params, opt, obs, state, ep_ret = carry
            k, n = xs
            k_roll, k_perm = jax.random.split(k)
            (_, obs, state, ep_ret, done_sum, ret_sum), traj = jax.lax.scan(
                env_step, (params, obs, state, ep_ret, 0.0, 0.0), jax.random.split(k_roll, config.num_steps)
            )
            t_obs, t_act, t_logp, t_val, t_rew, t_done = traj  # [T, E, ...]
            _, last_val = net.apply(params, obs)
            # GAE: delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t; A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}
            nd = 1.0 - t_done.astype(jnp.float32)
            next_val = jnp.concatenate([t_val[1:], last_val[None]], axis=0)
            deltas = t_rew + config.gamma * next_val * nd - t_val

            def back(a, x):
                d, m = x
                a = d + config.gamma * config.gae_lambda * m * a
                return a, a

            _, adv = jax.lax.scan(back, jnp.zeros(config.num_envs), (deltas, nd), reverse=True)
            targets = adv + t_val
            flat = jax.tree.map(lambda x: x.reshape((batch, *x.shape[2:])), (t_obs, t_act, t_logp, t_val, adv, targets))
            progress = n.astype(jnp.float32) / n_updates  # n/N: updates done so far over the lifetime

            def loss_fn(p, mbatch):
                o, a, old_logp, old_v, a_raw, tgt = mbatch
                logits, v = net.apply(p, o)
                logp_all = jax.nn.log_softmax(logits)
                logp = jnp.take_along_axis(logp_all, a[:, None], axis=-1)[:, 0]
                ratio = jnp.exp(logp - old_logp)
                a_norm = (a_raw - a_raw.mean()) / (a_raw.std() + 1e-8)  # per-minibatch normalisation
                pl = policy_loss(ratio, a_norm, drift_params, progress)
                v_clip = old_v + jnp.clip(v - old_v, -config.clip_eps, config.clip_eps)
                vl = 0.5 * jnp.mean(jnp.maximum((v - tgt) ** 2, (v_clip - tgt) ** 2))
                ent = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
                return pl + config.vf_coef * vl - config.ent_coef * ent

            def epoch(carry, k):
                params, opt = carry
                perm = jnp.argsort(jax.random.uniform(k, (batch,)))
                mbs = jax.tree.map(lambda x: x[perm].reshape((config.num_minibatches, mb, *x.shape[1:])), flat)

                def minibatch(carry, mbatch):
                    params, opt = carry
                    grads = jax.grad(loss_fn)(params, mbatch)
                    upd, opt = tx.update(grads, opt, params)
                    return (optax.apply_updates(params, upd), opt), None

                return jax.lax.scan(minibatch, (params, opt), mbs)[0], None

            (params, opt), _ = jax.lax.scan(epoch, (params, opt), jax.random.split(k_perm, config.update_epochs))
            mean_ret = ret_sum / jnp.maximum(done_sum, 1.0)
            return (params, opt, obs, state, ep_ret), (mean_ret, done_sum)

        xs = (jax.random.split(k_loop, n_updates), jnp.arange(n_updates))
        (params, *_), (train_returns, n_done) = jax.lax.scan(update, (params, opt, obs, state, ep_ret), xs)
        return {"return": evaluate_policy(k_eval, params), "train_returns": train_returns, "episodes": n_done}

    def evaluate_policy(key, params):
        """Mean first-episode return of ``eval_envs`` fresh environments under the stochastic policy."""
        k_reset, k_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, config.eval_envs), env_params)

        def step(carry, k):
            obs, state, alive, total = carry
            k_act, k_step = jax.random.split(k)
            logits, _ = net.apply(params, obs)
            action = jax.random.categorical(k_act, logits)
            obs, state, reward, term, trunc, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, config.eval_envs), state, action, env_params
            )
            done = (term | trunc).astype(jnp.float32)
            total = total + alive * reward
            return (obs, state, alive * (1.0 - done), total), None

        init = (obs, state, jnp.ones(config.eval_envs), jnp.zeros(config.eval_envs))
        (_, _, _, total), _ = jax.lax.scan(step, init, jax.random.split(k_run, config.eval_steps))
        return jnp.mean(total)

    return train


@dataclass(frozen=True)
class LPOESConfig:
    """OpenES meta-training of the drift network phi (LPO or TA-LPO) on a PPO agent's final return."""

    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(objective="lpo"))
    generations: int = 50
    n_pairs: int = 4
    init: str = "zeros"  # "zeros": f_phi = 0, i.e. start at PPO (with ppo_init); "flax": random init
    es: ESConfig = field(default_factory=lambda: ESConfig(lr=1e-2))

    def __post_init__(self) -> None:
        check_one_of("ppo.objective", self.ppo.objective, ("lpo", "ta_lpo"))
        check_positive_int("generations", self.generations)
        check_positive_int("n_pairs", self.n_pairs)
        check_one_of("init", self.init, ("zeros", "flax"))


def make_lpo_es_train(config: LPOESConfig):
    """``train(key) -> (ESState, metrics {name: [generations]}, unravel)`` of the drift network: each antithetic
    pair trains two PPO agents with the same key (same initialisation, environment and evaluation noise)."""
    ta = config.ppo.objective == "ta_lpo"
    template = init_drift_params(jax.random.key(0), ta, config.ppo.drift_hidden)
    _, unravel = ravel_pytree(template)
    ppo_train = make_ppo_train(config.ppo)

    def generation(state: ESState, key: jax.Array):
        k_ask, k_agents = jax.random.split(key)
        eps, candidates = ask(k_ask, state, config.n_pairs)
        keys = jax.random.split(k_agents, config.n_pairs)[jnp.arange(2 * config.n_pairs) // 2]
        fitness = jax.vmap(lambda flat, k: ppo_train(k, unravel(flat))["return"])(candidates, keys)
        state, grad = tell(state, eps, fitness, config.es)
        return state, {"fitness_mean": fitness.mean(), "grad_norm": jnp.linalg.norm(grad)}

    def train(key: jax.Array):
        init_key, loop_key = jax.random.split(key)
        params = init_drift_params(init_key, ta, config.ppo.drift_hidden, zeros=config.init == "zeros")
        state = init_es(ravel_pytree(params)[0], config.es)
        return jax.lax.scan(generation, state, jax.random.split(loop_key, config.generations))

    return train, unravel
