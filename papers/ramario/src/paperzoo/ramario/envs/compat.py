"""numpy-2 compatibility of the locked Mario stack (gym-super-mario-bros 7.4.0, nes-py 8.2.1, gym 0.26.2).

Each patch below fixes a breakage observed on this install (numpy 2.4, Python 3.11) and nothing else:

1. ``nes_py._rom.ROM.prg_rom_size`` / ``chr_rom_size`` return ``16 * header[4]`` / ``8 * header[5]`` as
   ``np.uint8``; ``prg_rom_size * 2**10`` then raises ``OverflowError`` (numpy 2 keeps the uint8 type of a
   scalar against a Python int), so no ROM loads. Patched to return ``int``.
2. ``SuperMarioBrosEnv`` reads RAM as ``self.ram[0x6d] * 0x100 + self.ram[0x86]`` (x position) and the like;
   with ``np.uint8`` scalars that overflows (and ``x - x_last`` wraps). ``NESEnv._ram_buffer`` is patched to
   return a *view* of the same emulator memory whose scalar reads are Python ``int``: reads are promoted,
   writes (``self.ram[0x075f] = world``) still land in the emulator's RAM.
3. gym 0.26's passive environment checker (used by ``gym.make``/``gym_super_mario_bros.make``) tests
   ``isinstance(done, (bool, np.bool8))``; ``np.bool8`` is gone in numpy 2. ``np.bool8`` is aliased to
   ``np.bool_`` when missing.
4. ``nes_py.wrappers.JoypadSpace.reset()`` takes no arguments, so the gym 0.26 call ``reset(seed=...,
   options=...)`` raises ``TypeError``. Patched to forward ``seed``/``options`` to the wrapped NES env
   (whose ``reset`` accepts them).

:func:`apply` applies them once (idempotent) and also silences gym's import-time notice on stderr.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

_APPLIED = False


class IntReadRAM(np.ndarray):
    """A view of the emulator's RAM whose scalar reads are Python ``int`` (slices stay views, writes go through)."""

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        return int(value) if isinstance(value, np.integer) else value


def apply() -> None:
    """Apply the four patches (once; later calls do nothing)."""
    global _APPLIED
    if _APPLIED:
        return
    # gym prints an "unmaintained" notice on import (to stderr); import it silently once.
    with contextlib.redirect_stderr(io.StringIO()):
        import gym  # noqa: F401
    from nes_py._rom import ROM
    from nes_py.nes_env import NESEnv
    from nes_py.wrappers import JoypadSpace

    # 1. ROM header sizes as int (iNES header: byte 4 = PRG ROM in 16 KiB units, byte 5 = CHR ROM in 8 KiB units).
    ROM.prg_rom_size = property(lambda self: 16 * int(self.header[4]), doc="PRG ROM size in KiB (int).")
    ROM.chr_rom_size = property(lambda self: 8 * int(self.header[5]), doc="CHR ROM size in KiB (int).")

    # 2. RAM reads promoted to int; the view shares the emulator's memory, so writes still reach it.
    ram_buffer = NESEnv._ram_buffer
    NESEnv._ram_buffer = lambda self: ram_buffer(self).view(IntReadRAM)

    # 3. np.bool8 for gym 0.26's checker.
    if "bool8" not in np.__dict__:
        np.bool8 = np.bool_

    # 4. JoypadSpace.reset accepts the gym 0.26 keywords.
    def reset(self: Any, seed: int | None = None, options: dict | None = None) -> Any:
        return self.env.reset(seed=seed, options=options)

    JoypadSpace.reset = reset
    _APPLIED = True
