"""``python -m paperzoo.dynaicl``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.dynaicl.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
