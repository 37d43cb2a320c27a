"""The inner-loop RL of RAMario: REINFORCE with normalised returns and an entropy bonus (tf.keras).

The paper does not name its inner RL loss; the brief's choice (documented in the README):

    G_t = sum_{l >= 0} gamma^l r_{t+l}                       (discounted return within the episode)
    A_t = (G_t - mean_t G) / (std_t G + 1e-8)                 (return normalisation)
    L(phi) = -(1/T) sum_t A_t log pi_phi(a_t | s_t) - beta (1/T) sum_t H(pi_phi(. | s_t)),  beta = 0.01

One inner update is one gradient step of ``L`` on ``episodes`` freshly collected episodes (one per environment of
the task drawn without replacement, played in lockstep; returns normalised over all their steps, ``T`` their
total length; ``episodes = 1`` is plain single-episode REINFORCE). The optimiser (Adam by default, SGD available)
starts from a fresh state at every inner loop: Reptile's "phi <- theta" is a new learner (Nichol et al. 2018
reset Adam's moments per task in their few-shot code).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from paperzoo.ramario.config import InnerConfig
from paperzoo.ramario.model import compiled_forward
from paperzoo.ramario.rollout import Episode, run_episodes
from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.validate import check_positive, check_range

tf = tensorflow()
keras = tf.keras


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t = r_t + gamma G_{t+1}``, ``G_T = 0`` (float32)."""
    check_range("gamma", gamma, 0.0, 1.0)
    out = np.zeros(len(rewards), np.float32)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out


def normalised_returns(rewards: np.ndarray | Sequence[np.ndarray], gamma: float) -> np.ndarray:
    """``(G - mean G) / (std G + 1e-8)``: the REINFORCE weights A_t, with ``G`` the discounted returns of each
    episode (one reward array, or a list of them) concatenated and normalised together."""
    episodes = [rewards] if isinstance(rewards, np.ndarray) else list(rewards)
    g = np.concatenate([discounted_returns(r, gamma) for r in episodes])
    return ((g - g.mean()) / (g.std() + 1e-8)).astype(np.float32)


def reinforce_loss(logits: tf.Tensor, actions: tf.Tensor, weights: tf.Tensor, entropy_coef: float) -> tf.Tensor:
    """``-(1/T) sum_t A_t log pi(a_t|s_t) - beta (1/T) sum_t H(pi(.|s_t))``."""
    logp = tf.nn.log_softmax(logits)
    logp_a = tf.gather(logp, actions, batch_dims=1)
    entropy = -tf.reduce_sum(tf.exp(logp) * logp, axis=-1)
    return -tf.reduce_mean(weights * logp_a) - entropy_coef * tf.reduce_mean(entropy)


class FreshOptimizer:
    """A Keras optimiser bound to ``variables`` whose state can be reset to that of a new instance.

    ``reset()`` restores every optimiser variable (step counter, Adam moments, ...) to its value right after
    ``build``: the same as a freshly constructed optimiser, without retracing the compiled train step.
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer, variables: list) -> None:
        self.optimizer = optimizer
        optimizer.build(variables)
        self._initial = [v.numpy().copy() for v in optimizer.variables]

    def reset(self) -> None:
        for v, value in zip(self.optimizer.variables, self._initial, strict=True):
            v.assign(value)


def make_optimizer(name: str, learning_rate: float, **kwargs: Any) -> keras.optimizers.Optimizer:
    """``adam`` (Keras defaults unless given) or ``sgd`` (plain: ``phi <- phi - alpha g``)."""
    check_positive("learning_rate", learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, **kwargs)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, **kwargs)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


Collect = Callable[[Any, np.random.Generator], list[Episode]]  # (task, rng) -> episodes of the current model


class PolicyGradientInner:
    """The inner loop of Reptile: ``k`` times, collect episodes on the task with ``pi_phi`` and take one
    optimiser step on ``L(phi)``. Compiled train step and forward (``tf.function``), optimiser reset per loop.

    ``self.k`` (from the config) may be changed between calls. ``collect(task, rng)`` plays episodes with the
    model's current weights; by default ``task`` is a sequence of Gymnasium environments (a level: its mini-levels,
    or the whole level as one environment), of which ``config.episodes`` drawn without replacement are played in
    lockstep with :func:`run_episodes`. Tests inject fixed episodes.
    """

    def __init__(self, model: keras.Model, config: InnerConfig, collect: Collect | None = None) -> None:
        self.model, self.config, self.k = model, config, config.k
        self.forward = compiled_forward(model)
        self.collect = collect or self._play
        self.opt = FreshOptimizer(make_optimizer(config.optimizer, config.learning_rate), model.trainable_variables)
        obs_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8)
        entropy_coef = config.entropy_coef
        variables = model.trainable_variables
        optimizer = self.opt.optimizer

        @tf.function(input_signature=[obs_spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.float32)])
        def train_step(obs: tf.Tensor, actions: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = reinforce_loss(model(obs, training=True), actions, weights, entropy_coef)
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables, strict=True))  # phi <- phi - alpha * grad L(phi)
            return loss

        self.train_step = train_step

    def _play(self, task: Sequence[Any], rng: np.random.Generator) -> list[Episode]:
        n = self.config.episodes
        if n > len(task):
            raise ValueError(f"config.episodes must be at most the task's {len(task)} environments, got {n}")
        return run_episodes([task[i] for i in rng.choice(len(task), n, replace=False)], self.forward, rng)

    def update(self, episodes: Sequence[Episode]) -> float:
        """One inner update on a batch of episodes: ``phi <- Opt(phi, grad L(phi))``; returns the loss."""
        weights = normalised_returns([e.rewards for e in episodes], self.config.gamma)
        obs = np.concatenate([e.obs for e in episodes])
        actions = np.concatenate([e.actions for e in episodes])
        return float(self.train_step(obs, actions, weights))

    def __call__(self, task: Any, rng: np.random.Generator) -> list[Episode]:
        """Run the inner loop from the model's current weights (fresh optimiser state); returns the episodes."""
        self.opt.reset()
        episodes = []
        for _ in range(self.k):
            batch = self.collect(task, rng)
            self.update(batch)
            episodes.extend(batch)
        return episodes
