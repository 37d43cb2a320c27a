"""Two runs of a real paper in the same process environment give identical records (torch and JAX).

What ``paperzoo verify`` relies on: on one machine, at one commit, a paper's numbers are a function of its
seed alone. Run through the harness, as ``make bench-smoke`` and ``make verify-<slug>`` do.
"""

from __future__ import annotations

import pytest

from paperzoo.bench import runner
from paperzoo.bench.discovery import discover
from paperzoo.shared.records import is_timing


@pytest.mark.parametrize("slug", ["adabelief", "ta-lpg"])  # a torch and a JAX paper, both with seconds-long smokes
def test_two_runs_give_identical_records(slug, tmp_path):
    paper = discover()[slug]
    first, second = (runner.run_paper(paper, "smoke", tmp_path / name, 300, seeds=[0]) for name in ("a", "b"))
    assert first.status == second.status == runner.OK, (first.detail, second.detail)
    (a,), (b,) = first.seeds, second.seeds
    timings = {name for name in a["metrics"] if is_timing(name)}
    assert {k: v for k, v in a["metrics"].items() if k not in timings} == {
        k: v for k, v in b["metrics"].items() if k not in timings
    }
    assert {k: v for k, v in a["series"].items() if not is_timing(k)} == {
        k: v for k, v in b["series"].items() if not is_timing(k)
    }
    assert a["machine"] == b["machine"] and a["machine"]["threads"]["OMP_NUM_THREADS"] == "1"
