"""Injecting adapter layers into a model the way peft does: target matching and in-place module swaps (torch)."""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn


def target_matches(targets: tuple[str, ...] | list[str] | str, name: str) -> bool:
    """peft's rule: for a list of names, ``name`` equals an entry or ends with ``"." + entry``; a string is a regex
    that must match the whole name."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def swap_modules(
    model: nn.Module, targets: list[tuple[str, nn.Module]], build: Callable[[str, nn.Module], nn.Module]
) -> None:
    """Freeze ``model``, then replace each ``(qualified name, module)`` of ``targets`` by ``build(name, module)``.

    A ``ValueError`` raised by ``build`` is re-raised prefixed by the layer's name.
    """
    model.requires_grad_(False)
    for name, module in targets:
        try:
            layer = build(name, module)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from err
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer)
