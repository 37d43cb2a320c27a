"""``python -m paperzoo.again``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.again.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
