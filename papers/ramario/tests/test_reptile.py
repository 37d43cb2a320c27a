"""Reptile's outer loop, the REINFORCE inner loop, and the sine sanity check (tf.keras)."""

import numpy as np
import pytest

from paperzoo.ramario.model import conv_policy, get_weights, set_weights
from paperzoo.ramario.policy_gradient import (
    FreshOptimizer,
    InnerConfig,
    PolicyGradientInner,
    discounted_returns,
    make_optimizer,
    normalised_returns,
    reinforce_loss,
)
from paperzoo.ramario.reptile import Reptile, linear_epsilon, reptile_step
from paperzoo.ramario.rollout import Episode
from paperzoo.ramario.sine import sine_experiment
from paperzoo.ramario.tf_runtime import tensorflow

tf = tensorflow()
SHAPE = (12, 12, 4)  # a small frame keeps these tests fast; the network is the same conv policy


def fixed_episode(seed: int, n: int = 9) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        rng.integers(0, 256, size=(n, *SHAPE), dtype=np.uint8),
        rng.integers(0, 7, size=n).astype(np.int32),
        rng.normal(size=n).astype(np.float32),
        max_x=0,
        terminated=True,
    )


@pytest.fixture(scope="module")
def sgd_setup():
    """A model and an SGD inner loop whose 'task' is a fixed episode id (deterministic inner loop)."""
    model = conv_policy(obs_shape=SHAPE, filters=4, kernel=4, stride=4, seed=3)
    inner = PolicyGradientInner(
        model, InnerConfig(k=1, optimizer="sgd", learning_rate=0.5), collect=lambda task, rng: [fixed_episode(task)]
    )
    return model, inner


def test_k1_sgd_epsilon1_is_one_sgd_step(sgd_setup):
    model, inner = sgd_setup
    theta = get_weights(model)
    ep = fixed_episode(7)
    weights = normalised_returns(ep.rewards, 0.99)
    with tf.GradientTape() as tape:
        loss = reinforce_loss(model(ep.obs), ep.actions, weights, 0.01)
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    Reptile(model, inner, outer_steps=1, epsilon0=1.0).outer_step(0, [7], np.random.default_rng(0))
    for new, t, g in zip(get_weights(model), theta, grads, strict=True):
        np.testing.assert_allclose(new, t - 0.5 * g, atol=1e-6)  # theta' = theta - alpha g
    assert max(np.abs(g).max() for g in grads) > 1e-3
    set_weights(model, theta)


def test_epsilon0_never_moves_theta(sgd_setup):
    model, inner = sgd_setup
    theta = get_weights(model)
    reptile = Reptile(model, inner, outer_steps=3, epsilon0=0.0)
    for j in range(3):
        out = reptile.outer_step(j, [j], np.random.default_rng(j))
        assert max(np.abs(p - t).max() for p, t in zip(out.phis[0], out.theta, strict=True)) > 0  # phi moved
    for new, t in zip(get_weights(model), theta, strict=True):
        np.testing.assert_array_equal(new, t)


def test_batched_identical_tasks_equals_serial():
    model = conv_policy(obs_shape=SHAPE, filters=4, kernel=4, stride=4, seed=5)
    # Adam with k = 2: equal phis need the optimiser state reset at every inner loop.
    inner = PolicyGradientInner(
        model, InnerConfig(k=2, learning_rate=1e-2), collect=lambda task, rng: [fixed_episode(task)]
    )
    theta = get_weights(model)
    Reptile(model, inner, outer_steps=4, epsilon0=0.5).outer_step(1, [11], np.random.default_rng(0))
    serial = get_weights(model)
    set_weights(model, theta)
    out = Reptile(model, inner, outer_steps=4, epsilon0=0.5, meta_batch=3).outer_step(
        1, [11, 11, 11], np.random.default_rng(0)
    )
    for a, b in zip(out.phis[0], out.phis[2], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(get_weights(model), serial, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-7)
    assert out.epsilon == pytest.approx(0.5 * (1 - 1 / 4))


def test_reptile_step_and_schedule_by_hand():
    theta = [np.array([1.0, 2.0], np.float32)]
    phis = [[np.array([3.0, 2.0], np.float32)], [np.array([1.0, 6.0], np.float32)]]
    # mean(phi) - theta = [1, 2]; epsilon 0.25 -> [1.25, 2.5]
    np.testing.assert_allclose(reptile_step(theta, phis, 0.25)[0], [1.25, 2.5])
    assert [linear_epsilon(j, 4, 1.0) for j in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert linear_epsilon(2, 4, 0.1, 0.05) == pytest.approx(0.075)


def test_fresh_optimizer_reset_equals_new_instance():
    v = tf.Variable([1.0, -2.0])
    fresh = FreshOptimizer(make_optimizer("adam", 0.1), [v])

    def two_steps(opt):
        for _ in range(2):
            opt.apply_gradients([(tf.constant([0.3, -0.7]) * v, v)])
        return v.numpy().copy()

    v.assign([1.0, -2.0])
    two_steps(fresh.optimizer)
    v.assign([1.0, -2.0])
    fresh.reset()
    after_reset = two_steps(fresh.optimizer)
    v.assign([1.0, -2.0])
    new = two_steps(make_optimizer("adam", 0.1))
    np.testing.assert_allclose(after_reset, new, rtol=1e-6)


def test_a_batch_of_episodes_is_one_update_on_their_concatenation():
    """Two episodes in one inner update: returns per episode (no return crosses an episode's end), normalised
    together, and one SGD step on the loss over all their steps."""
    a, b = fixed_episode(1, n=5), fixed_episode(2, n=7)
    g = np.concatenate([discounted_returns(a.rewards, 0.9), discounted_returns(b.rewards, 0.9)])
    np.testing.assert_allclose(normalised_returns([a.rewards, b.rewards], 0.9), (g - g.mean()) / g.std(), rtol=1e-5)
    assert not np.allclose(g, discounted_returns(np.concatenate([a.rewards, b.rewards]), 0.9))
    model = conv_policy(obs_shape=SHAPE, filters=4, kernel=4, stride=4, seed=8)
    inner = PolicyGradientInner(model, InnerConfig(k=1, optimizer="sgd", learning_rate=0.5, gamma=0.9))
    theta = get_weights(model)
    obs, actions = np.concatenate([a.obs, b.obs]), np.concatenate([a.actions, b.actions])
    with tf.GradientTape() as tape:
        loss = reinforce_loss(model(obs), actions, normalised_returns([a.rewards, b.rewards], 0.9), 0.01)
    grads = [gr.numpy() for gr in tape.gradient(loss, model.trainable_variables)]
    inner.update([a, b])
    for new, t, gr in zip(get_weights(model), theta, grads, strict=True):
        np.testing.assert_allclose(new, t - 0.5 * gr, atol=1e-6)


def test_reinforce_loss_and_returns_by_hand():
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5), [1.5, 1.0, 2.0])
    w = normalised_returns(np.array([1.0, 0.0, 2.0]), 0.5)
    assert abs(w.mean()) < 1e-6 and abs(w.std() - 1) < 1e-5
    logits = np.array([[0.0, np.log(3.0)], [0.0, 0.0]], np.float32)  # pi = [1/4, 3/4], [1/2, 1/2]
    loss = reinforce_loss(tf.constant(logits), tf.constant([1, 0]), tf.constant([2.0, -1.0]), 0.1)
    h1 = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    expected = -(2.0 * np.log(0.75) - 1.0 * np.log(0.5)) / 2 - 0.1 * (h1 + np.log(2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_sine_regression_sanity():
    """Meta-learned init adapts to a clearly lower MSE than the random init (small version; the full benchmark
    runs 1000 outer steps and reports the ratio)."""
    out = sine_experiment(outer_steps=300, seed=0, n_test=5, hidden=32)
    assert out["reptile_mse"] < 0.8 * out["random_init_mse"]


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: InnerConfig(k=-1), "k"),
        (lambda: InnerConfig(episodes=0), "episodes"),
        (lambda: InnerConfig(optimizer="rmsprop"), "optimizer"),
        (lambda: InnerConfig(gamma=1.5), "gamma"),
        (lambda: linear_epsilon(4, 4, 1.0), "j"),
        (lambda: reptile_step([np.zeros(2)], [[np.zeros(2)]], 1.5), "epsilon"),
        (lambda: reptile_step([np.zeros(2)], [], 0.5), "phis"),
        (lambda: conv_policy(head="value"), "head"),
        (lambda: Reptile(None, None, outer_steps=0), "outer_steps"),
        (lambda: Reptile(None, None, outer_steps=2, meta_batch=0), "meta_batch"),
    ],
)
def test_bad_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()
