"""``python -m paperzoo.amft``: the uniform paperzoo CLI for AMFT."""

import sys

from paperzoo.amft.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
