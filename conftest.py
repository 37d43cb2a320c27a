"""Root pytest configuration: one thread per xdist worker for every framework (2 workers on 2 cores).

Set before any test module imports a framework (the same limits the harness gives its child runs:
:mod:`paperzoo.shared.runtime`); each paper's own conftest sets deterministic algorithms.
"""

from paperzoo.shared.runtime import apply_run_environment

apply_run_environment()
