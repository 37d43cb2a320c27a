"""The real game wrapped to Gymnasium, and the numpy-2 compatibility layer (no TensorFlow imported here)."""

import numpy as np
import pytest

from paperzoo.ramario.envs import SuperMarioBros, compat, make_env
from paperzoo.ramario.envs.smb import GreyResize, area_matrix

RIGHT_JUMP = [1, 1, 2, 2, 1, 1, 1, 2, 2, 2] * 12  # SIMPLE_MOVEMENT: 1 = right, 2 = right + A


@pytest.fixture(scope="module")
def env():
    return make_env((1, 1), max_episode_steps=400)


def test_compat_x_pos_equals_ram_in_int_arithmetic(env):
    env.reset()
    raw = np.frombuffer(env.nes.unwrapped.ram, dtype=np.uint8)  # the emulator's bytes, plain uint8
    xs = []
    for a in RIGHT_JUMP:
        _, _, term, trunc, info = env.step(a)
        page, x = int(raw[0x6D]), int(raw[0x86])
        assert info["x_pos"] == page * 256 + x
        xs.append(info["x_pos"])
        if term or trunc:
            break
    assert max(xs) > 255  # past the first page: the uint8 product would have overflowed


def test_compat_ram_writes_reach_the_emulator_and_reads_are_int(env):
    ram = env.nes.unwrapped.ram
    assert isinstance(ram, compat.IntReadRAM)
    raw = np.frombuffer(ram, dtype=np.uint8)
    old = raw[0x07ED]
    ram[0x07ED] = 7
    assert raw[0x07ED] == 7 and type(ram[0x07ED]) is int
    ram[0x07ED] = old


@pytest.mark.filterwarnings("ignore:.*out of date")
def test_compat_rom_sizes_gym_checker_joypad_reset_and_idempotence():
    import gym_super_mario_bros
    from nes_py._rom import ROM
    from nes_py.nes_env import NESEnv

    compat.apply()
    ram_buffer = NESEnv._ram_buffer
    compat.apply()  # applied once: a second call changes nothing
    assert NESEnv._ram_buffer is ram_buffer
    rom = ROM(_rom_path())
    assert type(rom.prg_rom_size) is int and rom.prg_rom_size == 32 and rom.chr_rom_size == 8
    assert rom.prg_rom_stop == 16 + 32 * 1024  # raised OverflowError with numpy 2 before the patch
    checked = gym_super_mario_bros.make("SuperMarioBros-1-1-v0", apply_api_compatibility=True)
    checked.reset(seed=0)  # JoypadSpace-free path; the checker's np.bool8 test runs on step
    assert checked.step(0)[1:3] == (0.0, False)
    env = SuperMarioBros(1, 1)
    env.nes.reset(seed=3)  # nes-py's JoypadSpace.reset took no seed
    checked.close()


def _rom_path():
    import os

    import gym_super_mario_bros

    return os.path.join(os.path.dirname(gym_super_mario_bros.__file__), "_roms", "super-mario-bros.nes")


def test_same_actions_same_frames_and_positions():
    a, b = make_env((1, 2)), make_env((1, 2))
    rng = np.random.default_rng(0)
    actions = rng.integers(7, size=60)
    for e in (a, b):
        e.reset(seed=1)
    for act in actions:
        oa, ra, ta, _, ia = a.step(int(act))
        ob, rb, tb, _, ib = b.step(int(act))
        np.testing.assert_array_equal(oa, ob)
        assert (ra, ta, ia["x_pos"]) == (rb, tb, ib["x_pos"])
        if ta:
            break


def test_observation_space_frame_skip_and_stack(env):
    obs, info = env.reset()
    assert obs.shape == (84, 84, 4) and obs.dtype == np.uint8 and env.observation_space.contains(obs)
    assert env.action_space.n == 7 and info["x_pos"] == 40
    # One wrapped step == 4 emulator frames of the same action; the newest channel is the last screen, greyed.
    twin = SuperMarioBros(1, 1)
    twin.reset()
    screen = None
    for _ in range(4):
        screen, _, _, twin_info = twin.nes.step(1)
    obs1, _, _, _, info1 = env.step(1)
    assert info1["x_pos"] == twin_info["x_pos"]
    np.testing.assert_array_equal(obs1[..., -1], GreyResize()(screen))
    np.testing.assert_array_equal(obs1[..., :3], obs[..., 1:])  # the stack shifted by one frame


def test_truncation_at_max_episode_steps():
    env = make_env((1, 1), max_episode_steps=3)
    env.reset()
    flags = [env.step(0)[3] for _ in range(3)]
    assert flags == [False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_area_matrix_and_grey():
    m = area_matrix(4, 2)
    np.testing.assert_allclose(m, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(area_matrix(240, 84).sum(axis=1), 1.0, rtol=1e-12)
    frame = np.zeros((240, 256, 3), np.uint8)
    frame[..., 0] = 100  # pure red: luma 0.299 * 100 = 29.9 -> 30
    assert (GreyResize()(frame) == 30).all()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(240, 256, 3), dtype=np.uint8)
    grey = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    dense = area_matrix(240, 84).astype(np.float64) @ grey @ area_matrix(256, 84).T.astype(np.float64)
    assert np.abs(GreyResize()(frame).astype(float) - dense).max() <= 0.51


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"world": 9}, "world"),
        ({"stage": 0}, "stage"),
        ({"frame_skip": 0}, "frame_skip"),
        ({"max_episode_steps": 0}, "max_episode_steps"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SuperMarioBros(**kwargs)


def test_invalid_action(env):
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(7)


def test_levels_parse_from_the_game_notation_and_bad_levels_raise():
    from paperzoo.ramario.envs.smb import parse_level

    assert parse_level("1-2") == (1, 2) and parse_level((8, 4)) == (8, 4)
    for bad in ("1", "a-b", "1_2", (1,), 12):
        with pytest.raises(ValueError, match="level must be"):
            parse_level(bad)
    with pytest.raises(ValueError, match=r"world must be in 1\.\.8"):
        make_env("9-1")
    with pytest.raises(ValueError, match=r"stage must be in 1\.\.4"):
        make_env((1, 5))
