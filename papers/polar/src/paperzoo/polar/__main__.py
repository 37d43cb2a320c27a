"""``python -m paperzoo.polar``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.polar.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
