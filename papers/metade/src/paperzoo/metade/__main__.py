"""``python -m paperzoo.metade``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.metade.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
