"""``python -m paperzoo.ggd_td``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.ggd_td.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
