"""Environments: the real Super Mario Bros on nes-py (Gymnasium API), its mini-levels (start states saved from the
emulator before obstacles), and the numpy-2 compatibility layer."""

from paperzoo.ramario.envs.minilevels import EnvSet, MiniLevel, mini_levels
from paperzoo.ramario.envs.smb import HELD_OUT_LEVEL, TRAIN_LEVELS, SuperMarioBros, make_env

__all__ = ["HELD_OUT_LEVEL", "TRAIN_LEVELS", "EnvSet", "MiniLevel", "SuperMarioBros", "make_env", "mini_levels"]
