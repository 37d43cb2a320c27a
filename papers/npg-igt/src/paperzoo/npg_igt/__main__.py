"""``python -m paperzoo.npg_igt``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.npg_igt.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
