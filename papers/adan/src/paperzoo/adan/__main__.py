"""``python -m paperzoo.adan``: the uniform paperzoo CLI for Adan."""

import sys

from paperzoo.adan.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
