"""Throwaway papers for the harness tests: good, crashing, hanging, garbage-writing, silent, escaping, mistyped."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from paperzoo.bench import readme
from paperzoo.bench.discovery import Paper

GOOD_BENCH = """
import os
from dataclasses import dataclass
from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result

@dataclass(frozen=True)
class Config:
    n: int
    device: str = "cpu"

def run(config, seed):
    score = float(os.environ.get("FAKE_SCORE", "0.9"))
    threads = float(os.environ.get("OMP_NUM_THREADS", "0"))
    xla = os.environ.get("XLA_FLAGS", "")
    capped = float("--xla_cpu_max_isa=AVX2" in xla and "intra_op_parallelism_threads=1" in xla)
    return Result(metrics={"method/score": score, "baseline/score": 0.5, "method/loss": 1.0 - score,
                           "env/omp_threads": threads, "env/isa_capped": capped},
                  series={"method/curve": [0.1, 0.5, score]})

BENCHMARK = Benchmark(
    slug="good", title="A good paper", framework="jax",
    scales={s: Config(n=1) for s in ("smoke", "full", "paper")},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)}, run={s: run for s in ("smoke", "full", "paper")},
    claims={s: lambda config: (Claim("method beats baseline", Compare("method/score", ">", "baseline/score"),
                                     guards=(Compare("baseline/score", ">", 0.1),)),) for s in ("smoke", "full")},
    metrics=(MetricSpec("*/score", "higher", 0.05, variation=0.01), MetricSpec("*/loss", "lower", 0.1, relative=True)),
)
"""
FAKES = {
    "good/__init__.py": "",
    "good/bench.py": GOOD_BENCH,
    "good/__main__.py": "import sys\nfrom fakezoo.good.bench import BENCHMARK\n"
    "from paperzoo.shared.cli import main\nsys.exit(main(BENCHMARK))\n",
    "crash/__init__.py": "",
    "crash/__main__.py": "raise RuntimeError('this paper is broken')\n",
    "hang/__init__.py": "",
    "hang/__main__.py": textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["FAKE_PIDFILE"], "w") as f:
            f.write(str(child.pid))
        time.sleep(600)
    """),
    "garbage/__init__.py": "",
    "garbage/__main__.py": textwrap.dedent("""
        import sys
        from pathlib import Path
        args = sys.argv
        out = Path(args[args.index("--out") + 1]) / "garbage" / args[args.index("--scale") + 1]
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text("{not json")
        print("arm metric\\nmethod/score 1.0")
    """),
    "silent/__init__.py": "",
    "silent/__main__.py": "print('done')\n",
    # A grandchild that leaves the process group (a new session) and keeps stdout/stderr open; the child
    # then hangs (FAKE_MODE=hang) or exits at once (FAKE_MODE=exit).
    "escape/__init__.py": "",
    "escape/__main__.py": textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        with open(os.environ["FAKE_PIDFILE"], "w") as f:
            f.write(str(child.pid))
        if os.environ.get("FAKE_MODE") == "hang":
            time.sleep(600)
    """),
    # Parses as JSON, with wrong types inside.
    "mistyped/__init__.py": "",
    "mistyped/__main__.py": textwrap.dedent("""
        import json, sys
        from pathlib import Path
        args = sys.argv
        out = Path(args[args.index("--out") + 1]) / "mistyped" / args[args.index("--scale") + 1]
        out.mkdir(parents=True, exist_ok=True)
        summary = {"means": {"m/score": "high"}, "stds": {}, "claims": ["oops"], "seeds": [0]}
        (out / "summary.json").write_text(json.dumps(summary))
    """),
}


@pytest.fixture
def zoo(tmp_path: Path) -> tuple[dict[str, Paper], Path]:
    """Fake papers importable from tmp_path/fakezoo, and a fake checkout root with a README."""
    for relative, text in {
        "fakezoo/__init__.py": "",
        **{f"fakezoo/{k}": v for k, v in FAKES.items()},
    }.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    root = tmp_path / "repo"
    (root / "benchmarks" / "baselines").mkdir(parents=True)
    (root / "benchmarks" / "results").mkdir(parents=True)
    (root / "README.md").write_text(f"# zoo\n\n{readme.BEGIN}\n{readme.END}\n\nafter\n")
    (root / "papers" / "good").mkdir(parents=True)
    (root / "papers" / "good" / "README.md").write_text(
        f"# good\n\n## Results\n{readme.RESULTS_BEGIN}\n{readme.RESULTS_END}\n\nReading: hand-written.\n"
    )
    registry = {
        name: Paper(name, f"fakezoo.{name}", (str(tmp_path),))
        for name in ("good", "crash", "hang", "garbage", "silent", "escape", "mistyped")
    }
    return registry, root
