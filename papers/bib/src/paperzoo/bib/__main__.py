"""``python -m paperzoo.bib``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.bib.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
