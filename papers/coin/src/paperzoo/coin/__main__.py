"""``python -m paperzoo.coin``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.coin.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
