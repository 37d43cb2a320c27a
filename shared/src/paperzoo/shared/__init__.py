"""paperzoo.shared: the thin, framework-free layer every paperzoo paper plugs into.

- :mod:`~paperzoo.shared.benchmark`: the :class:`Benchmark` declaration (scales, seeds, claims, metrics).
- :mod:`~paperzoo.shared.claims`: claims evaluated on per-seed values (interval verdicts) and their verdicts.
- :mod:`~paperzoo.shared.cli`: the uniform command line (``python -m paperzoo.<module>``).
- :mod:`~paperzoo.shared.records`: run records and their atomic writer.
- :mod:`~paperzoo.shared.validate`: argument validators raising ``ValueError``.
- :mod:`~paperzoo.shared.lr_grid`: learning-rate grids: run names and the choice by mean validation accuracy.
- :mod:`~paperzoo.shared.seeding`, :mod:`~paperzoo.shared.progress`, :mod:`~paperzoo.shared.measure`,
  :mod:`~paperzoo.shared.plotting`, :mod:`~paperzoo.shared.data`: small helpers.

Framework helpers live in submodules (``paperzoo.shared.torch``) imported only by papers of that framework.
"""

from paperzoo.shared.benchmark import Benchmark, MetricSpec, Result
from paperzoo.shared.claims import Better, Claim, Compare, Max, Min, NoWorse, Within

__all__ = ["Benchmark", "Better", "Claim", "Compare", "Max", "MetricSpec", "Min", "NoWorse", "Result", "Within"]
