"""``python -m paperzoo.guiding_giants``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.guiding_giants.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
