"""``python -m paperzoo.npg_igt``: the uniform paperzoo CLI for this paper; ``--tune`` runs the step-size sweep."""

import sys

if "--tune" in sys.argv[1:]:
    from paperzoo.npg_igt.tuning import main as tune

    sys.exit(tune(sys.argv[1:]))

from paperzoo.npg_igt.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
