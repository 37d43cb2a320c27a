"""``python -m paperzoo.smart_composites``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.shared.cli import main
from paperzoo.smart_composites.bench import BENCHMARK

sys.exit(main(BENCHMARK))
