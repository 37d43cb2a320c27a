"""TensorFlow, imported quietly and configured once: one thread, deterministic ops.

``import tensorflow`` prints absl/oneDNN/CUDA banners on stderr (file descriptor 2, from C++), some of them
before ``TF_CPP_MIN_LOG_LEVEL`` is read; :func:`tensorflow` sets that level, holds fd 2 on ``/dev/null`` for
the import only, and then configures the runtime: one intra-op and one inter-op thread (the policy is tiny,
the emulator needs the other core) and ``enable_op_determinism`` (same seed, same numbers).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

_CONFIGURED = False


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported without banners and configured (once) as the module docstring says."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow as tf

            _configure(tf)
            tf.config.list_physical_devices()  # platform probing logs (cuInit on CPU-only hosts) go to /dev/null too
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    tf = sys.modules["tensorflow"]
    _configure(tf)
    return tf


def _configure(tf: ModuleType) -> None:
    global _CONFIGURED
    if _CONFIGURED:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime was initialised by someone else first: keep its settings
        pass
    tf.config.experimental.enable_op_determinism()
    _CONFIGURED = True
