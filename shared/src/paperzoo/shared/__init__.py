"""paperzoo.shared: the thin, framework-free layer every paperzoo paper plugs into.

- :mod:`~paperzoo.shared.benchmark`: the :class:`Benchmark` declaration (scales, seeds, claims, metrics).
- :mod:`~paperzoo.shared.claims`: claims over seed means and their verdicts.
- :mod:`~paperzoo.shared.cli`: the uniform command line (``python -m paperzoo.<module>``).
- :mod:`~paperzoo.shared.records`: run records and their atomic writer.
- :mod:`~paperzoo.shared.validate`: argument validators raising ``ValueError``.
- :mod:`~paperzoo.shared.lr_grid`: learning-rate grids: run names and the choice by mean validation accuracy.
- :mod:`~paperzoo.shared.seeding`, :mod:`~paperzoo.shared.progress`, :mod:`~paperzoo.shared.measure`,
  :mod:`~paperzoo.shared.plotting`, :mod:`~paperzoo.shared.data`: small helpers.

Framework helpers live in submodules (``paperzoo.shared.torch``) imported only by papers of that framework.
"""

from paperzoo.shared.benchmark import Benchmark, MetricSpec, Result
from paperzoo.shared.claims import Claim, Compare, Max, Min, Within

__all__ = ["Benchmark", "Claim", "Compare", "Max", "MetricSpec", "Min", "Result", "Within"]
