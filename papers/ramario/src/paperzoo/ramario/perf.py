"""The speed figures of the RAMario benchmark (``python -m paperzoo.ramario --perf``; never run in CI)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from paperzoo.ramario.envs import HELD_OUT_LEVEL, make_env


def perf(device: str) -> dict[str, float]:
    """Environment frames per second (raw emulator, wrapped), and agent steps per second with the policy in the
    loop: compiled ``tf.function`` forward vs eager ``model(obs)`` per step (ratio = speed-up of tf.function)."""
    from paperzoo.ramario.model import compiled_forward, conv_policy

    n_frames, n_steps = 3000, 600
    env = make_env(HELD_OUT_LEVEL)
    nes = env.nes.unwrapped
    rng = np.random.default_rng(0)
    nes.reset()
    start = time.perf_counter()
    for _ in range(n_frames):
        if nes.step(int(rng.integers(256)))[2]:
            nes.reset()
    raw = n_frames / (time.perf_counter() - start)

    def steps_per_s(policy: Any) -> float:
        obs, _ = env.reset()
        start = time.perf_counter()
        for _ in range(n_steps):
            action = int(rng.integers(7)) if policy is None else int(np.argmax(np.asarray(policy(obs[None]))[0]))
            obs, _, term, trunc, _ = env.step(action)
            if term or trunc:
                obs, _ = env.reset()
        return n_steps / (time.perf_counter() - start)

    model = conv_policy()
    forward = compiled_forward(model)
    forward(np.zeros((1, *model.input_shape[1:]), np.uint8))  # trace once
    wrapped = steps_per_s(None)
    compiled = steps_per_s(forward)
    eager = steps_per_s(lambda obs: model(obs, training=False))
    obs = np.zeros((1, *model.input_shape[1:]), np.uint8)
    timings = {}
    for name, fn in (("tf_function", forward), ("eager", lambda o: model(o, training=False))):
        start = time.perf_counter()
        for _ in range(500):
            np.asarray(fn(obs))
        timings[name] = (time.perf_counter() - start) / 500 * 1e3
    return {
        "env/raw_frames_per_s": raw,
        "env/wrapped_agent_steps_per_s": wrapped,
        "env/wrapped_frames_per_s": wrapped * env.frame_skip,
        "policy_loop/tf_function_steps_per_s": compiled,
        "policy_loop/eager_steps_per_s": eager,
        "policy_loop/tf_function_over_eager": compiled / eager,
        "policy/tf_function_forward_ms": timings["tf_function"],
        "policy/eager_forward_ms": timings["eager"],
        "policy/eager_over_tf_function_time": timings["eager"] / timings["tf_function"],
    }
