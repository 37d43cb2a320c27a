"""``python -m paperzoo.vagram``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.shared.cli import main
from paperzoo.vagram.bench import BENCHMARK

sys.exit(main(BENCHMARK))
