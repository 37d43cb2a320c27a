"""``python -m paperzoo.eva``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.eva.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
