"""``python -m paperzoo.adamp``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.adamp.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
