"""``python -m paperzoo.fedau``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.fedau.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
