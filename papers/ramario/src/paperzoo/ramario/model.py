"""The paper's conv policy in tf.keras, and its compiled forward pass.

Paper text: "Conv2D -> Flatten -> Dense(n_actions)" on stacked, downsampled grey frames, no sizes given. Here
(the brief's choice): ``Rescaling(1/255) -> Conv2D(16, 8x8, stride 4, ReLU) -> Flatten -> Dense(n_actions)`` on
``(84, 84, 4)`` uint8 frames, a softmax policy over the 7 ``SIMPLE_MOVEMENT`` actions. The logits layer starts
small (orthogonal, gain 0.01: a near-uniform first policy, as in PPO implementations); PPO adds a value head
(orthogonal, gain 1) on the same torso; DQN uses the same network with a linear Q head.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive_int

tf = tensorflow()
keras = tf.keras

OBS_SHAPE = (84, 84, 4)


def conv_policy(
    n_actions: int = 7,
    obs_shape: tuple[int, int, int] = OBS_SHAPE,
    *,
    filters: int = 16,
    kernel: int = 8,
    stride: int = 4,
    value_head: bool = False,
    head: str = "policy",
    seed: int = 0,
) -> keras.Model:
    """The conv network: uint8 frames -> logits (``head='policy'``) or Q-values (``head='q'``) [, value].

    ``logits = W_pi Flatten(ReLU(Conv(x / 255))) + b``; with ``value_head``, the model returns ``[logits, v]``
    with ``v = w_v^T Flatten(...) + b_v`` of shape ``(batch,)``. ``seed`` initialises the conv kernel; each head's
    initializer is seeded with ``derive(seed, "conv_policy head")`` / ``derive(seed, "conv_policy value head")``.
    """
    check_positive_int("n_actions", n_actions)
    for name, value in (("filters", filters), ("kernel", kernel), ("stride", stride)):
        check_positive_int(name, value)
    if head not in ("policy", "q"):
        raise ValueError(f"head must be 'policy' or 'q', got {head!r}")
    if len(obs_shape) != 3 or obs_shape[0] < kernel or obs_shape[1] < kernel:
        raise ValueError(f"obs_shape must be (H, W, C) with H, W >= kernel, got {obs_shape!r}")
    inputs = keras.Input(obs_shape, dtype="uint8")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)  # casts uint8 to float32
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
    )(x)
    x = keras.layers.Flatten()(x)
    init = (
        keras.initializers.Orthogonal(gain=0.01, seed=derive(seed, "conv_policy head"))
        if head == "policy"
        else keras.initializers.GlorotUniform(seed=derive(seed, "conv_policy head"))
    )
    logits = keras.layers.Dense(n_actions, kernel_initializer=init, name=head)(x)
    outputs: list = [logits]
    if value_head:
        value = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.Orthogonal(1.0, seed=derive(seed, "conv_policy value head"))
        )(x)
        outputs.append(keras.layers.Reshape(())(value))
    return keras.Model(inputs, outputs if value_head else logits)


def compiled_forward(model: keras.Model) -> Callable[[np.ndarray], tf.Tensor]:
    """``model(obs)`` as one traced ``tf.function`` over any batch of uint8 observations (no retracing)."""
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8)

    @tf.function(input_signature=[spec])
    def forward(obs: tf.Tensor) -> tf.Tensor:
        return model(obs, training=False)

    return forward


def get_weights(model: keras.Model) -> list[np.ndarray]:
    """A copy of ``model.trainable_variables`` as arrays (Reptile's theta or phi)."""
    return [v.numpy().copy() for v in model.trainable_variables]


def set_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Assign ``weights`` to ``model.trainable_variables`` (same order and shapes)."""
    variables = model.trainable_variables
    if len(weights) != len(variables):
        raise ValueError(f"weights must have {len(variables)} arrays, got {len(weights)}")
    for v, w in zip(variables, weights, strict=True):
        if tuple(v.shape) != tuple(np.shape(w)):
            raise ValueError(f"weights shape {np.shape(w)} does not match variable {v.name} of shape {v.shape}")
        v.assign(w)
