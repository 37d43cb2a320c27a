"""``python -m paperzoo.adadagrad``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.adadagrad.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
