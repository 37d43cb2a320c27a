"""``python -m paperzoo.groove``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.groove.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
