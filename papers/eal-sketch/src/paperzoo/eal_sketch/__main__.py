"""``python -m paperzoo.eal_sketch``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.eal_sketch.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
