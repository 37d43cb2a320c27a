"""JAX's persistent compilation cache for this package's runs and tests (issue 20: the groove smoke is nearly all
XLA compilation).

``enable_compilation_cache()`` points JAX at ``~/.cache/paperzoo/jax`` (outside any repository), or at
``$PAPERZOO_JAX_CACHE`` when set; ``PAPERZOO_JAX_CACHE=off`` leaves JAX's configuration alone. A program compiled
once is then read back from disk in later processes (the cache is keyed by the program, the compile options, the
JAX/XLA version and the device, so a cached program is the same executable). It never changes results, only the
compile time of the second and later runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT_DIR = "~/.cache/paperzoo/jax"
ENV_VAR = "PAPERZOO_JAX_CACHE"


def enable_compilation_cache(path: str | None = None) -> Path | None:
    """Enable the persistent compilation cache at ``path`` (default: ``$PAPERZOO_JAX_CACHE`` or ``~/.cache/paperzoo/
    jax``); returns the directory, or ``None`` when disabled by ``PAPERZOO_JAX_CACHE=off``. Programs that compile in
    under 0.5 s are not written (they cost more to read back than to compile)."""
    setting = path if path is not None else os.environ.get(ENV_VAR, DEFAULT_DIR)
    if setting.lower() == "off":
        return None
    folder = Path(setting).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
