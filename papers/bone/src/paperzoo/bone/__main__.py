"""``python -m paperzoo.bone``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.bone.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
