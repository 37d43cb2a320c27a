"""``python -m paperzoo.dextrack``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.dextrack.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
