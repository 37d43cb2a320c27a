"""``python -m paperzoo.lstmc``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.lstmc.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
