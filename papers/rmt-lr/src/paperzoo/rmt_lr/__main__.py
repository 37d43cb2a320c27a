"""``python -m paperzoo.rmt_lr``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.rmt_lr.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
