"""Progress bars on stderr: silent when stderr is not a terminal or the run is ``--quiet``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_QUIET_ENV = "PAPERZOO_QUIET"


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress bar of this process and of its child processes."""
    os.environ[_QUIET_ENV] = "1" if quiet else "0"


def is_quiet() -> bool:
    """Whether progress bars are silenced (``--quiet`` or ``PAPERZOO_QUIET=1``)."""
    return os.environ.get(_QUIET_ENV, "0") == "1"


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, leave: bool = False) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr; a plain pass-through when quiet or not a TTY."""
    # disable=None lets tqdm switch itself off when stderr is not a terminal (CI, pipes, the harness).
    bar = tqdm(
        iterable,
        desc=desc,
        total=total,
        leave=leave,
        file=sys.stderr,
        disable=True if is_quiet() else None,
        dynamic_ncols=True,
    )
    yield from bar
