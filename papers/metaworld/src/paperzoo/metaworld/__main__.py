"""``python -m paperzoo.metaworld``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.metaworld.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
