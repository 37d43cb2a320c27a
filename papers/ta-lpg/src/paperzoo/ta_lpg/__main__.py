"""``python -m paperzoo.ta_lpg``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.shared.cli import main
from paperzoo.ta_lpg.bench import BENCHMARK

sys.exit(main(BENCHMARK))
