"""``python -m paperzoo.constrained_rlhf``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.constrained_rlhf.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
