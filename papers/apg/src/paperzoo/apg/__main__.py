"""``python -m paperzoo.apg``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.apg.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
