"""TA-LPG on groove's grid-worlds: without conditioning it is groove's LPG training bit for bit; the lifetime
inputs reach LPG; antithetic pairs share level, lifetime and every random number (sigma -> 0 gives identical
fitness); determinism; bad arguments. One small compiled generation is shared by the module, and parameter
initialisations and network applications run jitted (eagerly, every flax primitive compiles on its own)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from paperzoo.groove import AgentConfig, MetaConfig, sample_level, train_agent
from paperzoo.ta_lpg import (
    ESConfig,
    ESTrainConfig,
    compile_jit,
    evaluate_candidates,
    generation_step,
    init_es,
    initial_mean,
    pair_tasks,
    train_lifetime,
    unravel_fn,
)
from paperzoo.ta_lpg.es import pairwise_rank, tell

TINY = ESTrainConfig(
    conditioning="relative",
    distribution="smoke",
    generations=1,
    n_pairs=3,
    num_workers=8,
    rollout_len=5,
    gru_width=8,
    embedding_width=4,
    init="flax",
)
init_lpg_params = jax.jit(ESTrainConfig.init_lpg_params, static_argnums=0)
tell_jit = jax.jit(tell, static_argnums=3)


def test_no_conditioning_is_groove_lpg_training_bit_for_bit():
    """conditioning=None: the agent after its lifetime equals groove's ``train_agent`` with the same keys."""
    config = dataclasses.replace(TINY, conditioning=None)
    dist = config.dist
    env = dist.env
    level, _ = jax.jit(lambda k: sample_level(k, dist))(jax.random.key(5))
    params = jax.jit(config.lpg.init_params)(jax.random.key(6))
    key, lifetime, max_updates = jax.random.key(7), jnp.int32(4), 6
    ours, _ = compile_jit(
        lambda k, p: train_lifetime(k, p, config.lpg, env, level, lifetime, max_updates, config.agent, 5, 4),
        key,
        params,
        fast_compile=True,
    )(key, params)
    meta = MetaConfig(rollout_len=5)
    theirs = compile_jit(
        lambda k, p: train_agent(k, env, level, lifetime, max_updates, config.agent, meta, 4, config.lpg, p),
        key,
        params,
        fast_compile=True,
    )(key, params)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(ours.step) == 4  # updates beyond the lifetime masked


def test_lifetime_features_reach_lpg():
    """TA-LPG's pi_hat depends on n/N (the extra inputs are wired into the GRU)."""
    lpg = TINY.lpg
    params = jax.jit(lpg.init_params, static_argnums=1)(jax.random.key(0), 2)
    apply = jax.jit(lpg.apply)
    r = np.ones((2, 3), np.float32)
    y = np.full((2, 3, 8), 1 / 8, np.float32)
    out0, _ = apply({"params": params}, r, r * 0, r * 0.5, y, y, np.array([0.0, 3.0], np.float32))
    out1, _ = apply({"params": params}, r, r * 0, r * 0.5, y, y, np.array([0.9, 3.0], np.float32))
    assert not np.allclose(out0, out1)


def test_lpg_sees_n_over_n_change_across_the_updates_of_a_lifetime():
    """What TA-LPG's network is fed during one lifetime: [n/N, log N] with n = 0..N-1 (one value per update),
    log N constant. A rule fed a constant n/N could not express a schedule."""
    seen = []

    class Spy:
        """LPG that records the extra input of every call (a host callback) and then runs the real network."""

        def apply(self, variables, r, d, pi, y_t, y_tp1, extra=None):
            jax.debug.callback(lambda e: seen.append(np.asarray(e)), extra)
            return TINY.lpg.apply(variables, r, d, pi, y_t, y_tp1, extra)

    level, _ = jax.jit(lambda k: sample_level(k, TINY.dist))(jax.random.key(2))
    params = init_lpg_params(TINY, jax.random.key(0))
    lifetime = 6

    def run(key):
        return train_lifetime(
            key, params, Spy(), TINY.dist.env, level, jnp.int32(lifetime), 10, TINY.agent, 5, 4, "relative"
        )[1]

    key = jax.random.key(3)
    jax.block_until_ready(compile_jit(run, key, fast_compile=True)(key))
    jax.effects_barrier()
    features = np.unique(np.stack(seen), axis=0)  # one row per update (however often autodiff calls LPG)
    np.testing.assert_allclose(features[:, 0], np.arange(lifetime) / lifetime, rtol=1e-6)
    np.testing.assert_allclose(features[:, 1], np.log(lifetime), rtol=1e-6)


def test_pairs_share_level_lifetime_and_keys():
    keys, levels, lifetimes = jax.jit(lambda k: pair_tasks(k, TINY.dist, 4))(jax.random.key(1))
    data, lifetimes = np.asarray(jax.random.key_data(keys)), np.asarray(lifetimes)
    for x in (data, lifetimes, *map(np.asarray, jax.tree.leaves(levels))):
        np.testing.assert_array_equal(x[::2], x[1::2])
    assert len({tuple(np.asarray(d).ravel()) for d in data[::2]}) == 4  # pairs differ from each other
    assert np.all((lifetimes >= 5) & (lifetimes <= 10))


@pytest.fixture(scope="module")
def candidates_fn():
    unravel = unravel_fn(TINY)
    fn = lambda state, key: evaluate_candidates(state, key, TINY, unravel)  # noqa: E731
    return compile_jit(fn, _state(0.1), jax.random.key(0), fast_compile=True)


@functools.cache
def _mean() -> jax.Array:
    return initial_mean(TINY, jax.random.key(0))


def _state(sigma: float):
    return init_es(_mean(), ESConfig()).replace(sigma=jnp.float32(sigma))


def test_sigma_to_zero_gives_identical_pair_fitness(candidates_fn):
    _, fitness, entropies, _ = map(np.asarray, candidates_fn(_state(1e-9), jax.random.key(3)))
    np.testing.assert_array_equal(fitness[::2], fitness[1::2])
    np.testing.assert_allclose(entropies[::2], entropies[1::2], rtol=1e-4)
    assert np.isfinite(fitness).all() and np.any(fitness != 0)


def test_generation_is_deterministic_and_gradient_matches_hand_estimate(candidates_fn):
    state = _state(0.5)
    eps, fitness, entropies, lifetimes = candidates_fn(state, jax.random.key(4))
    eps2, fitness2, _, _ = candidates_fn(state, jax.random.key(4))
    np.testing.assert_array_equal(fitness, fitness2)
    np.testing.assert_array_equal(eps, eps2)
    assert not np.allclose(entropies[::2], entropies[1::2], rtol=1e-3)  # a real perturbation changes the agents
    # entropies recorded for exactly N updates
    n_recorded = (np.asarray(entropies) > 0).sum(axis=1)
    np.testing.assert_array_equal(n_recorded, lifetimes)
    _, grad = tell_jit(state, eps, fitness, ESConfig())
    f = np.asarray(fitness)
    w_plus = (f[::2] > f[1::2]).astype(np.float64)
    hand = ((w_plus - (1 - w_plus))[:, None] * np.asarray(eps)).sum(0) / (2 * TINY.n_pairs * 0.5)
    np.testing.assert_allclose(grad, hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pairwise_rank(fitness)[::2], w_plus)


def test_generation_step_climbs_the_fitness_of_its_own_candidates(candidates_fn):
    """generation_step moves the mean along the ES gradient of its candidates' fitness (the direction the
    quadratic test shows climbs): its step equals tell() on evaluate_candidates' output for the same key, and a
    candidate pair's winner lies on the side the mean moved to (w+ - w- times eps has a positive inner product with
    the step). A sign flip on the fitness inside generation_step fails here."""
    unravel = unravel_fn(TINY)
    config = dataclasses.replace(TINY, es=ESConfig(lr=0.05))
    state, key = _state(0.5), jax.random.key(4)
    step = compile_jit(lambda s, k: generation_step(s, k, config, unravel), state, key, fast_compile=True)
    new_state, _ = step(state, key)
    eps, fitness, _, _ = candidates_fn(state, key)
    expected, grad = tell_jit(state, eps, fitness, config.es)
    np.testing.assert_allclose(new_state.mean, expected.mean, rtol=1e-5, atol=1e-7)
    assert float(np.vdot(np.asarray(new_state.mean) - np.asarray(state.mean), grad)) > 0


def test_lifetime_buckets_give_the_same_fitness(candidates_fn):
    """Evaluating the population in chunks of pairs sorted by lifetime (each chunk running to its own longest N) is a
    speed knob: every candidate's fitness and entropy schedule is the one of the single-vmap evaluation."""
    bucketed = dataclasses.replace(TINY, lifetime_buckets=3)
    unravel = unravel_fn(bucketed)
    state, key = _state(0.5), jax.random.key(4)
    fn = compile_jit(lambda s, k: evaluate_candidates(s, k, bucketed, unravel), state, key, fast_compile=True)
    _, fitness, entropies, lifetimes = fn(state, key)
    _, fitness1, entropies1, lifetimes1 = candidates_fn(state, key)
    np.testing.assert_array_equal(lifetimes, lifetimes1)
    assert len(set(np.asarray(lifetimes).tolist())) > 1  # the sort does reorder
    np.testing.assert_allclose(fitness, fitness1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(entropies, entropies1, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"conditioning": "log"}, "conditioning"),
        ({"distribution": "huge"}, "distribution"),
        ({"init": "ones"}, "init"),
        ({"n_pairs": 0}, "n_pairs"),
        ({"generations": 10, "checkpoints": 3}, "generations"),
        ({"lifetime_buckets": 2}, "lifetime_buckets"),
    ],
)
def test_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(TINY, **kwargs)


def test_zero_init_is_the_evosax_start():
    params = init_lpg_params(TINY, jax.random.key(0))
    assert float(np.abs(params["pi_head"]["kernel"]).max()) > 0
    zeros = init_lpg_params(dataclasses.replace(TINY, init="zeros"), jax.random.key(0))
    assert all(float(np.abs(x).max()) == 0 for x in jax.tree.leaves(zeros))
    assert isinstance(TINY.agent, AgentConfig)


def test_unravel_inverts_ravel_pytree():
    params = init_lpg_params(TINY, jax.random.key(9))
    flat = jax.jit(lambda p: ravel_pytree(p)[0])(params)
    np.testing.assert_array_equal(initial_mean(TINY, jax.random.key(9)), flat)
    back = jax.jit(unravel_fn(TINY))(flat)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
