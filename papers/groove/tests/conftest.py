"""groove's tests compile real JAX programs (XLA:CPU, seconds each): they go through JAX's persistent compilation
cache (``~/.cache/paperzoo/jax``, or ``$PAPERZOO_JAX_CACHE``; ``off`` disables it), so a second run of the suite
reads its programs back instead of compiling them. Results are unchanged (the cache holds the same executables)."""

from paperzoo.groove.compile_cache import enable_compilation_cache

enable_compilation_cache()
