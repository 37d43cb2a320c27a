"""Environments: the real Super Mario Bros on nes-py, Gymnasium API, and its numpy-2 compatibility layer."""

from paperzoo.ramario.envs.smb import HELD_OUT_LEVEL, TRAIN_LEVELS, SuperMarioBros, make_env

__all__ = ["HELD_OUT_LEVEL", "TRAIN_LEVELS", "SuperMarioBros", "make_env"]
