"""Mario mini-levels: restored start states replay the play-through, the reward is the x-progress, the shipped
routes regenerate, and the held-out start states never reach the meta-training (no TensorFlow here)."""

import numpy as np
import pytest

from paperzoo.ramario.envs import EnvSet, MiniLevel, mini_levels
from paperzoo.ramario.envs.minilevels import (
    SEGMENTS,
    StartState,
    _emulator,
    load_routes,
    play,
    ram_digest,
    search_route,
)
from paperzoo.ramario.envs.smb import HELD_OUT_LEVEL, TRAIN_LEVELS

HORIZON = 16  # the smoke scale's: ``mini_levels`` is cached by (level, n, horizon), the smoke test shares them


@pytest.fixture(scope="module")
def route():
    return load_routes()[(1, 1)]


@pytest.fixture(scope="module")
def envs():
    """The first two mini-levels of 1-1 (cached per process: the smoke run trains on these very emulators)."""
    return mini_levels((1, 1), 2, HORIZON)


def test_a_restored_state_replays_the_original_play_through(route, envs):
    """The route played from the level's start, and the mini-level restored (twice, after playing on), give the
    same screens and RAM at every frame of the next 12 agent steps."""
    start = route.starts[1]
    actions = route.actions[start.step : start.step + 12]
    original = _emulator(start.level, route.actions[: start.step])
    assert ram_digest(original) == start.ram

    def frames(nes):
        out = []
        for a in actions:
            for _ in range(4):
                nes.step(int(a))
                out.append((nes.unwrapped.screen.copy(), ram_digest(nes)))
        return out

    expected = frames(original)
    env = envs[1]
    assert env.start == start
    for _ in range(2):
        env.reset()
        got = frames(env.nes)
        assert len(got) == len(expected)
        for (screen, ram), (screen_e, ram_e) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(screen, screen_e)
            assert ram == ram_e
    assert len({ram for _, ram in expected}) > 10  # the game moved on: the comparison is not of a frozen screen


def test_reset_restores_the_start_state_not_the_level_start(route):
    start = route.starts[2]
    env = MiniLevel(start, route.actions, HORIZON)
    for _ in range(2):
        _, info = env.reset()
        assert info["x_pos"] == start.x > 40  # Mario starts every level at x = 40
        assert ram_digest(env.nes) == start.ram
        for _ in range(5):
            env.step(3)


def test_the_reward_is_the_x_progress(envs):
    env = envs[0]
    rng = np.random.default_rng(0)
    _, info = env.reset()
    x0 = last = info["x_pos"]
    rewards, game_rewards = [], []
    done = False
    while not done:
        nes = env.nes.unwrapped
        time_before = nes._time
        _, reward, terminated, truncated, info = env.step(int(rng.integers(7)))
        assert reward == info["x_pos"] - last  # r_t = x_t - x_{t-1}
        rewards.append(reward)
        game_rewards.append(nes._time - time_before)  # the game's clock penalty, dropped here
        last, done = info["x_pos"], terminated or truncated
    assert sum(rewards) == info["x_pos"] - x0
    assert any(r != 0 for r in rewards) and any(g != 0 for g in game_rewards)


def test_the_shipped_routes_regenerate(route):
    """The search is deterministic: rerun up to the first start state of 1-1, it gives the shipped one."""
    again = search_route((1, 1), 10_000, max_starts=1)
    first = again.starts[0]
    assert first == route.starts[0]
    assert again.actions[: first.step] == route.actions[: first.step]
    assert set(route.actions) <= {a for seg in SEGMENTS for a in seg}


def test_start_states_are_just_before_an_obstacle(route):
    """Running right (right + B) from a start state dies or gains under 48 px within 3 segments (18 steps)."""
    for start in route.starts[:2]:
        nes = _emulator(start.level, route.actions[: start.step])
        alive, x = play(nes, SEGMENTS[0] * 3)
        assert not alive or x - start.x < 48


def test_held_out_start_states_are_disjoint_from_training_ones():
    routes = load_routes()
    assert set(routes) == {*TRAIN_LEVELS, HELD_OUT_LEVEL}
    held = {s.ram for s in routes[HELD_OUT_LEVEL].starts}
    train = {s.ram for lv in TRAIN_LEVELS for s in routes[lv].starts}
    assert held and train and not held & train
    assert all(s.level == HELD_OUT_LEVEL for s in routes[HELD_OUT_LEVEL].starts)


def test_a_wrong_route_is_refused(route):
    start = route.starts[0]
    with pytest.raises(RuntimeError, match="route records"):
        MiniLevel(StartState(start.level, start.step, start.x, "0" * 40), route.actions, HORIZON)
    with pytest.raises(ValueError, match=r"start\.step"):
        MiniLevel(StartState(start.level, len(route.actions) + 1, 0, ""), route.actions, HORIZON)
    with pytest.raises(ValueError, match="n must be at most"):
        mini_levels((1, 1), 10_000, HORIZON)


def test_env_set_resets_the_named_or_a_drawn_environment(route, envs):
    both = EnvSet(envs)
    assert both.reset(options={"index": 1})[1]["x_pos"] == route.starts[1].x
    drawn = {both.reset(seed=s)[1]["x_pos"] for s in range(8)}
    assert drawn == {route.starts[0].x, route.starts[1].x}
    with pytest.raises(ValueError, match="envs"):
        EnvSet([])
