"""``python -m paperzoo.iwocs``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.iwocs.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
