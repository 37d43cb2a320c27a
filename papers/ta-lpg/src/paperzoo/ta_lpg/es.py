"""OpenES (Salimans et al. 2017) with antithetic sampling and pairwise rank fitness, as TA-LPG's official
code configures evosax 0.1's ``OpenES`` (``models/optim.py``, ``meta/train.py::lpg_es_train_step``).

Generation g, mean theta_g (flat vector of D numbers), noise eps_i ~ N(0, I_D), i = 1..P pairs::

    candidates  theta_g + sigma_g eps_i  and  theta_g - sigma_g eps_i        (population 2P, pairs adjacent)
    w_i^+ = 1[f(theta + sigma eps_i) > f(theta - sigma eps_i)],  w_i^- = 1 - w_i^+      (pairwise rank)
    g_g   = 1 / (2P sigma_g) sum_i (w_i^+ - w_i^-) eps_i                      (ascent direction)
    theta_{g+1} = (1 - mean_decay) (theta_g + Adam_lr_g(g_g))                (Adam on the ES gradient)
    lr_{g+1} = max(lr_g decay_lr, lr_limit),  sigma_{g+1} = max(sigma_g decay_sigma, sigma_limit)

The rank transform follows the official code exactly, ties included (a tie gives the *minus* member the
win, ``first_greater`` being a strict comparison). evosax's OpenES minimises the negated fitness
(``maximize=True``): its gradient 1/(2P sigma) sum_k f_k z_k with f = -w, z_k = +-eps_i, followed by Adam
*descent*, is the ascent step above (Adam's step is odd in the gradient). evosax 0.1's Adam (``utils/optimizer.py``)
uses beta1 = 0.99, beta2 = 0.999, eps = 1e-8 outside the square root, bias correction with the update count, and
decays the learning rate after each step; evosax 0.1 applies ``mean_decay`` after the update,
theta <- (1 - mean_decay)(theta + step). evosax initialises the mean at zero (``init_min = init_max = 0``);
:func:`init_es` takes any initial vector. A test checks the gradient and several updates against evosax 0.3's
``Open_ES`` (the version on PyPI today) on fixed fitness tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from paperzoo.shared.validate import check_non_negative, check_positive, check_range


@dataclass(frozen=True)
class ESConfig:
    """OpenES hyper-parameters; defaults from the official ``experiments/parse_args.py`` (``--use_es``). The official
    TA-LPG command sets ``--lpg_learning_rate 0.01`` (``ESTrainConfig``'s default ``es``): the README of the official
    repository notes that 1e-4 (and sigma 3e-3) were misreported."""

    lr: float = 1e-4  # lpg_learning_rate (parse_args default; the TA-LPG command uses 1e-2)
    lr_decay: float = 0.999  # es_lrate_decay
    lr_limit: float = 1e-5  # es_lrate_limit
    sigma: float = 0.1  # es_sigma_init
    sigma_decay: float = 1.0  # es_sigma_decay
    sigma_limit: float = 0.1  # es_sigma_limit
    mean_decay: float = 0.0  # es_mean_decay
    beta1: float = 0.99  # evosax 0.1 Adam defaults (utils/optimizer.py): beta_1 0.99, beta_2 0.999, eps 1e-8
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_range("lr_decay", self.lr_decay, 0.0, 1.0, low_inclusive=False)
        check_non_negative("lr_limit", self.lr_limit)
        check_positive("sigma", self.sigma)
        check_range("sigma_decay", self.sigma_decay, 0.0, 1.0, low_inclusive=False)
        check_non_negative("sigma_limit", self.sigma_limit)
        check_range("mean_decay", self.mean_decay, 0.0, 1.0, high_inclusive=False)
        check_range("beta1", self.beta1, 0.0, 1.0, high_inclusive=False)
        check_range("beta2", self.beta2, 0.0, 1.0, high_inclusive=False)
        check_positive("eps", self.eps)


@struct.dataclass
class ESState:
    """The search distribution's mean, Adam moments, current learning rate and sigma, generation count."""

    mean: jax.Array  # [D]
    m: jax.Array  # [D]
    v: jax.Array  # [D]
    lr: jax.Array
    sigma: jax.Array
    generation: jax.Array


def init_es(mean: jax.Array, config: ESConfig) -> ESState:
    """The ES state around a flat initial ``mean``."""
    if mean.ndim != 1:
        raise ValueError(f"mean must be a flat vector, got shape {mean.shape}")
    zeros = jnp.zeros_like(mean)
    return ESState(mean, zeros, zeros, jnp.float32(config.lr), jnp.float32(config.sigma), jnp.int32(0))


def ask(key: jax.Array, state: ESState, n_pairs: int) -> tuple[jax.Array, jax.Array]:
    """Antithetic candidates. Returns (eps [P, D], candidates [2P, D]) with candidate 2i = mean + sigma eps_i
    and 2i+1 = mean - sigma eps_i (the official code reorders evosax's population so that pairs are adjacent)."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    dim = state.mean.shape[0]
    eps = jax.random.normal(key, (n_pairs * dim,)).reshape(n_pairs, dim)  # flat draw: cheaper XLA:CPU compile
    pairs = jnp.stack([state.mean + state.sigma * eps, state.mean - state.sigma * eps], axis=1)
    return eps, pairs.reshape(2 * n_pairs, dim)


def pairwise_rank(fitness: jax.Array) -> jax.Array:
    """Official rank transform: within each adjacent pair (2i, 2i+1), the strictly greater gets 1, the other 0
    (a tie goes to the second, minus, member)."""
    if fitness.ndim != 1 or fitness.shape[0] % 2:
        raise ValueError(f"fitness must be a flat vector of even length, got shape {fitness.shape}")
    first_greater = (fitness[::2] > fitness[1::2]).astype(jnp.float32)
    return jnp.stack([first_greater, 1.0 - first_greater], axis=1).reshape(-1)


def es_gradient(eps: jax.Array, rank: jax.Array, sigma: jax.Array) -> jax.Array:
    """g = 1 / (2P sigma) sum_i (w_i^+ - w_i^-) eps_i, the ascent direction of the smoothed fitness."""
    n_pairs = eps.shape[0]
    diff = rank[::2] - rank[1::2]
    return diff @ eps / (2 * n_pairs * sigma)


def tell(state: ESState, eps: jax.Array, fitness: jax.Array, config: ESConfig) -> tuple[ESState, jax.Array]:
    """One OpenES update from the fitness of the 2P candidates of :func:`ask`. Returns (state, ES gradient)."""
    grad = es_gradient(eps, pairwise_rank(fitness), state.sigma)
    t = state.generation + 1
    # Adam (evosax): m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; bias-corrected step of size lr.
    m = config.beta1 * state.m + (1.0 - config.beta1) * grad
    v = config.beta2 * state.v + (1.0 - config.beta2) * grad**2
    m_hat = m / (1.0 - config.beta1**t)
    v_hat = v / (1.0 - config.beta2**t)
    mean = (1.0 - config.mean_decay) * (state.mean + state.lr * m_hat / (jnp.sqrt(v_hat) + config.eps))
    new = ESState(
        mean=mean,
        m=m,
        v=v,
        lr=jnp.maximum(state.lr * config.lr_decay, config.lr_limit),
        sigma=jnp.maximum(state.sigma * config.sigma_decay, config.sigma_limit),
        generation=t,
    )
    return new, grad
