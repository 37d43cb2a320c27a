"""The noisy classic-control tasks: gymnasium dynamics with the force scaled by the configured factor."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv

from paperzoo.ggd_td.envs import NoisyCartPole, NoisyMountainCar


def _rollout(env, actions):
    obs, _ = env.reset(seed=3)
    out = [obs]
    for a in actions:
        out.append(env.step(a)[0])
    return np.array(out)


@pytest.mark.parametrize(("noise", "scale"), [("official", 2.0), ("centred", 1.0)])
def test_zero_noise_is_a_fixed_force_scale(noise, scale):
    actions = [0, 1, 1, 0, 1, 0, 0, 1]
    ref = CartPoleEnv()
    ref.force_mag *= scale
    np.testing.assert_array_equal(_rollout(NoisyCartPole(0.0, noise), actions), _rollout(ref, actions))
    car = MountainCarEnv()
    car.force *= scale
    np.testing.assert_array_equal(_rollout(NoisyMountainCar(0.0, noise), [2, 2, 0, 1]), _rollout(car, [2, 2, 0, 1]))


@pytest.mark.parametrize(("noise", "low", "high"), [("official", 1.7, 2.3), ("centred", 0.7, 1.3)])
def test_force_factor_range(noise, low, high):
    # MountainCar at rest at the valley floor: the velocity change of "push right" is force x factor - gravity term
    env = NoisyMountainCar(0.3, noise)
    env.reset(seed=0)
    factors = []
    for _ in range(300):
        env.unwrapped.state = np.array([-np.pi / 6, 0.0])
        gravity = np.cos(3 * -np.pi / 6) * -env.gravity
        factors.append((env.step(2)[0][1] - gravity) / env.force)
    assert low - 1e-4 <= min(factors) < low + 0.05 and high - 0.05 < max(factors) <= high + 1e-4
    assert env.force == 0.001  # restored after each step


def test_registered_and_seeded():
    runs = [_rollout(gym.make("paperzoo/NoisyCartPole-v0"), [1, 0] * 10) for _ in range(2)]
    np.testing.assert_array_equal(*runs)
    assert gym.make("paperzoo/NoisyMountainCar-v0").spec.max_episode_steps == 200


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_bad_noise(bad):
    with pytest.raises(ValueError, match="max_noise"):
        NoisyCartPole(bad)
    with pytest.raises(ValueError, match="noise"):
        NoisyMountainCar(0.3, "multiplicative")
