"""``python -m paperzoo.hydra``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.hydra.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
