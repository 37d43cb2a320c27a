"""Super Mario Bros (the real NES game on the nes-py emulator) wrapped to the Gymnasium API.

One task of the paper is one level ``(world, stage)``. The observation pipeline is the usual one for this game
(and the paper's "stacked, downsampled grey frames"):

- the reduced action set ``SIMPLE_MOVEMENT`` of gym-super-mario-bros (7 actions) through nes-py's
  ``JoypadSpace``;
- frame skip 4: the action is repeated on 4 emulator frames, rewards summed, stopping early at the end of a life;
- grey (ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``) and area-downsampled from 240x256 to 84x84;
- the last 4 such frames stacked on the channel axis: observations are ``uint8`` of shape ``(84, 84, 4)``
  (NHWC, TensorFlow's convolution layout).

``info`` is the game's (``x_pos``, ``score``, ``flag_get``, ...). ``terminated`` is the game's end of episode
(Mario dies or reaches the flag: one life per episode, ``SuperMarioBros-<w>-<s>`` single-stage semantics),
``truncated`` is ``max_episode_steps`` agent steps. The reward is the game env's: x progress, minus the clock
ticking, minus 25 for dying, clipped to [-15, 15] per emulator frame.

The game is deterministic: a seed only seeds ``self.np_random`` (Gymnasium's contract); the same actions from
``reset`` give the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np

from paperzoo.ramario.envs import compat
from paperzoo.shared.validate import check_positive_int

#: Training levels of the benchmark (the "tasks") and the held-out level the paper reports (1-2).
TRAIN_LEVELS: tuple[tuple[int, int], ...] = ((1, 1), (1, 3), (1, 4), (2, 1))
HELD_OUT_LEVEL: tuple[int, int] = (1, 2)
SCREEN_HEIGHT, SCREEN_WIDTH = 240, 256
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of area interpolation: row i averages input cells [i n_in/n_out, (i+1) n_in/n_out).

    Each row sums to 1; fractional overlaps are weighted by their length (as OpenCV's ``INTER_AREA``).
    """
    check_positive_int("n_in", n_in)
    check_positive_int("n_out", n_out)
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / m.sum(axis=1, keepdims=True)


def _sparse_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nonzeros of each row of ``m`` as (indices, weights), padded to the widest row with weight 0."""
    width = int((m > 0).sum(axis=1).max())
    idx = np.zeros((m.shape[0], width), dtype=np.intp)
    w = np.zeros((m.shape[0], width), dtype=np.float32)
    for i, row in enumerate(m):
        nz = np.flatnonzero(row)
        idx[i, : len(nz)], w[i, : len(nz)] = nz, row[nz]
    return idx, w


class GreyResize:
    """``frame (H, W, 3) uint8 -> (size, size) uint8``: luma, then area downsampling ``A @ grey @ B^T``.

    The products with the (banded) area matrices are computed as gathers of at most 4 rows/columns: no BLAS
    call, so no BLAS thread pool competing with the emulator for the cores.
    """

    def __init__(self, size: int = 84, height: int = SCREEN_HEIGHT, width: int = SCREEN_WIDTH) -> None:
        check_positive_int("size", size)
        self.row_idx, self.row_w = _sparse_rows(area_matrix(height, size))
        self.col_idx, self.col_w = _sparse_rows(area_matrix(width, size))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        f = frame.astype(np.float32)
        grey = _LUMA[0] * f[..., 0] + _LUMA[1] * f[..., 1] + _LUMA[2] * f[..., 2]
        rows = (grey[self.row_idx] * self.row_w[..., None]).sum(axis=1)  # (size, W) = A @ grey
        out = (rows[:, self.col_idx] * self.col_w).sum(axis=2)  # (size, size) = rows @ B^T
        return np.rint(out).astype(np.uint8)


class SuperMarioBros(gymnasium.Env):
    """One Super Mario Bros level as a Gymnasium environment (see the module docstring for the pipeline).

    Args:
        world, stage: the level, ``1 <= world <= 8``, ``1 <= stage <= 4``.
        frame_skip: emulator frames per agent step (default 4).
        frame_stack: frames stacked in an observation (default 4).
        size: side of the square grey frame (default 84).
        max_episode_steps: agent steps after which an episode is truncated (None: only the game ends it).
        actions: the button combinations of the discrete actions (default ``SIMPLE_MOVEMENT``).
    """

    metadata = {"render_modes": ["rgb_array"]}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(
        self,
        world: int = 1,
        stage: int = 2,
        *,
        frame_skip: int = 4,
        frame_stack: int = 4,
        size: int = 84,
        max_episode_steps: int | None = None,
        actions: Sequence[Sequence[str]] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if world not in range(1, 9):
            raise ValueError(f"world must be in 1..8, got {world!r}")
        if stage not in range(1, 5):
            raise ValueError(f"stage must be in 1..4, got {stage!r}")
        check_positive_int("frame_skip", frame_skip)
        check_positive_int("frame_stack", frame_stack)
        if max_episode_steps is not None:
            check_positive_int("max_episode_steps", max_episode_steps)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        compat.apply()
        from gym_super_mario_bros import SuperMarioBrosEnv
        from gym_super_mario_bros.actions import SIMPLE_MOVEMENT
        from nes_py.wrappers import JoypadSpace

        self.level = (world, stage)
        self.actions = [list(a) for a in (SIMPLE_MOVEMENT if actions is None else actions)]
        self.frame_skip, self.frame_stack, self.max_episode_steps = frame_skip, frame_stack, max_episode_steps
        self.render_mode = render_mode
        self.nes = JoypadSpace(SuperMarioBrosEnv(target=(world, stage)), self.actions)
        self._process = GreyResize(size)
        self.observation_space = gymnasium.spaces.Box(0, 255, (size, size, frame_stack), np.uint8)
        self.action_space = gymnasium.spaces.Discrete(len(self.actions))
        self._frames = np.zeros((size, size, frame_stack), np.uint8)
        self._steps = 0
        self._done = True

    def _push(self, screen: np.ndarray) -> np.ndarray:
        self._frames = np.roll(self._frames, -1, axis=-1)
        self._frames[..., -1] = self._process(screen)
        return self._frames.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Back to the start of the level; the first frame fills the whole stack."""
        super().reset(seed=seed)
        screen = self.nes.reset(seed=seed, options=options)
        self._frames[...] = self._process(screen)[..., None]
        self._steps, self._done = 0, False
        info = self.nes.unwrapped._get_info()
        return self._frames.copy(), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Repeat ``action`` for ``frame_skip`` emulator frames (summing rewards, stopping at the end of a life)."""
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in 0..{self.action_space.n - 1}, got {action!r}")
        total = 0.0
        for _ in range(self.frame_skip):
            screen, reward, done, info = self.nes.step(int(action))
            total += reward
            if done:
                break
        self._steps += 1
        truncated = not done and self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        self._done = done or truncated
        return self._push(screen), total, bool(done), bool(truncated), info

    def render(self) -> np.ndarray | None:
        """The current RGB screen (``render_mode='rgb_array'``)."""
        return self.nes.unwrapped.screen.copy() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.nes.close()


def parse_level(level: tuple[int, int] | str) -> tuple[int, int]:
    """``(world, stage)`` from a tuple or from the game's ``"W-S"`` notation (``"1-2"``); ``ValueError`` otherwise."""
    if isinstance(level, str):
        world, sep, stage = level.partition("-")
        if sep and world.isdigit() and stage.isdigit():
            return int(world), int(stage)
    elif isinstance(level, (tuple, list)) and len(level) == 2:
        return level[0], level[1]
    raise ValueError(f"level must be (world, stage) or 'W-S' such as '1-2', got {level!r}")


def make_env(level: tuple[int, int] | str = HELD_OUT_LEVEL, **kwargs: Any) -> SuperMarioBros:
    """``SuperMarioBros(world, stage, **kwargs)`` of ``level = (world, stage)`` or ``"W-S"``."""
    return SuperMarioBros(*parse_level(level), **kwargs)
