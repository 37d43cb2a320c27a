"""One thread per xdist worker and deterministic algorithms for every AdAdaGrad test."""

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)
