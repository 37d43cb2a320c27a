"""``python -m paperzoo.sgd_sai``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.sgd_sai.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
