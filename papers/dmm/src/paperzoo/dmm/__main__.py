"""``python -m paperzoo.dmm``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.dmm.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
