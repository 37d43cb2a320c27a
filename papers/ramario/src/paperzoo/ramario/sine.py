"""Reptile's supervised sanity check (Nichol et al. 2018, section 6.1 / the OpenAI sine demo), in tf.keras.

Task: regress ``y = a sin(x + b)``, ``a ~ U[0.1, 5]``, ``b ~ U[0, pi]``, ``x ~ U[-5, 5]``. Model: MLP
1-64-64-1, tanh. Inner loop: ``k`` SGD steps on minibatches of the task's ``n_train`` points. The meta-learned
initialisation, adapted with 32 SGD steps on 10 points of a new task, should reach a far lower MSE than the same
adaptation from the random initialisation Reptile started from. Defaults follow the demo (inner SGD 0.02, 5
inner steps of batch 10, outer step 0.1 annealed to 0); the number of outer steps is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperzoo.ramario.policy_gradient import FreshOptimizer, make_optimizer
from paperzoo.ramario.reptile import Reptile
from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive, check_positive_int

tf = tensorflow()
keras = tf.keras


@dataclass(frozen=True)
class SineTask:
    """``y = amplitude * sin(x + phase)``."""

    amplitude: float
    phase: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SineTask:
        return cls(float(rng.uniform(0.1, 5.0)), float(rng.uniform(0.0, np.pi)))

    def data(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-5.0, 5.0, size=(n, 1)).astype(np.float32)
        return x, (self.amplitude * np.sin(x + self.phase)).astype(np.float32)


def sine_mlp(hidden: int = 64, seed: int = 0) -> keras.Model:
    """The MLP 1-hidden-hidden-1 with tanh of the sine experiment (layer ``i >= 2`` seeded by ``derive(seed, ...)``)."""
    check_positive_int("hidden", hidden)
    init = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(hidden, activation="tanh", kernel_initializer=init(seed)),
            keras.layers.Dense(hidden, activation="tanh", kernel_initializer=init(derive(seed, "sine_mlp layer", 2))),
            keras.layers.Dense(1, kernel_initializer=init(derive(seed, "sine_mlp layer", 3))),
        ]
    )


class SupervisedInner:
    """``k`` optimiser steps of MSE on minibatches of ``n_train`` points of a task (fresh optimiser state)."""

    def __init__(
        self, model: keras.Model, k: int = 5, learning_rate: float = 0.02, batch: int = 10, n_train: int = 50
    ) -> None:
        for name, value in (("k", k), ("batch", batch), ("n_train", n_train)):
            check_positive_int(name, value)
        check_positive("learning_rate", learning_rate)
        self.model, self.k, self.batch, self.n_train = model, k, batch, n_train
        self.opt = FreshOptimizer(make_optimizer("sgd", learning_rate), model.trainable_variables)
        variables, optimizer = model.trainable_variables, self.opt.optimizer
        spec = tf.TensorSpec((None, 1), tf.float32)

        @tf.function(input_signature=[spec, spec])
        def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        @tf.function(input_signature=[spec, spec])
        def mse(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            return tf.reduce_mean(tf.square(model(x, training=False) - y))

        self.step, self.mse = step, mse

    def __call__(self, task: SineTask, rng: np.random.Generator) -> None:
        self.opt.reset()
        x, y = task.data(self.n_train, rng)
        order = np.concatenate([rng.permutation(self.n_train) for _ in range(-(-self.k * self.batch // self.n_train))])
        for i in range(self.k):
            idx = order[i * self.batch : (i + 1) * self.batch]
            self.step(x[idx], y[idx])

    def adapted_mse(self, task: SineTask, rng: np.random.Generator, steps: int = 32, n_shots: int = 10) -> float:
        """MSE on 200 fresh points after ``steps`` full-batch SGD steps on ``n_shots`` points (weights restored)."""
        saved = [v.numpy() for v in self.model.trainable_variables]
        self.opt.reset()
        x, y = task.data(n_shots, rng)
        for _ in range(steps):
            self.step(x, y)
        xt, yt = task.data(200, rng)
        out = float(self.mse(xt, yt))
        for v, w in zip(self.model.trainable_variables, saved, strict=True):
            v.assign(w)
        return out


def sine_experiment(outer_steps: int = 2000, seed: int = 0, n_test: int = 10, hidden: int = 64) -> dict[str, float]:
    """Meta-train on sine tasks with Reptile; MSE after 32 adaptation steps, meta-learned vs random init."""
    rng = np.random.default_rng(seed)
    model = sine_mlp(hidden, seed)
    inner = SupervisedInner(model)
    tests = [SineTask.sample(np.random.default_rng(derive(seed, "sine test task", i))) for i in range(n_test)]
    shots = [derive(seed, "sine test shots", i) for i in range(n_test)]  # the same points before and after
    before = float(np.mean([inner.adapted_mse(t, np.random.default_rng(s)) for s, t in zip(shots, tests, strict=True)]))
    reptile = Reptile(model, inner, outer_steps=outer_steps, epsilon0=0.1)
    for j in range(outer_steps):
        reptile.outer_step(j, [SineTask.sample(rng)], rng)
    after = float(np.mean([inner.adapted_mse(t, np.random.default_rng(s)) for s, t in zip(shots, tests, strict=True)]))
    return {"random_init_mse": before, "reptile_mse": after}
