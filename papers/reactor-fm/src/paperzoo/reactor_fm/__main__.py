"""``python -m paperzoo.reactor_fm``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.reactor_fm.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
