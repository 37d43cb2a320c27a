"""``python -m paperzoo.policy_smoothing``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.policy_smoothing.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
