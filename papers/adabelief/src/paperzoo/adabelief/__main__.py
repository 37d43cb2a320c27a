"""``python -m paperzoo.adabelief``: the uniform paperzoo CLI for AdaBelief."""

import sys

from paperzoo.adabelief.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
