"""One thread and deterministic algorithms for every APG test."""

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)
