"""``python -m paperzoo.meta_accel``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.meta_accel.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
