"""``python -m paperzoo.reward_design``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.reward_design.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
