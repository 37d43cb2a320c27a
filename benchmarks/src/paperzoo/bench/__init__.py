"""paperzoo.bench: the harness that runs every paper the same way and holds it to its recorded results.

``paperzoo list | run | bench | compare | baseline | report | new-paper`` (see :mod:`paperzoo.bench.cli`).
"""
