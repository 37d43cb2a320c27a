"""``paperzoo new-paper SLUG``: a paper folder that already meets DESIGN.md and passes the conformance tests.

The generated method, benchmark and test are placeholders marked TODO: replace them with the paper.
"""

from __future__ import annotations

import re
from pathlib import Path

FRAMEWORK_DEPS = {
    "torch": '"torch>=2.5"',
    "jax": '"jax>=0.6", "flax>=0.10", "optax>=0.2.4"',
    "tensorflow": '"tensorflow>=2.18"',
}

PYPROJECT = """[project]
name = "paperzoo-{slug}"
version = "0.1.0"
description = "TODO: the paper's title and one line on its method."
readme = "README.md"
requires-python = ">=3.11,<3.12"
dependencies = ["paperzoo-shared", {deps}]

[project.entry-points."paperzoo.papers"]
{slug} = "paperzoo.{module}.bench"

[tool.paperzoo]
framework = "{framework}"

[tool.uv.sources]
paperzoo-shared = {{ workspace = true }}

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/paperzoo"]
"""

README = """# {slug}: TODO the paper's title

## Claim
TODO: the paper's headline claim, and the CPU-scale version of it tested here.

## Method
TODO: the method's equations, each default and where it comes from (paper or official code).

## Usage
```bash
make paper-{slug}        # the full CPU-scale reproduction
make smoke-{slug}        # seconds
```
```python
import paperzoo.{module}
```

## Results
TODO: the full-scale table and plot from `benchmarks/results/{slug}/full/`.

## Deviations from the paper
TODO: every place this code differs from the paper or its official code, and why.
"""

INIT = '''"""TODO: the paper's title, authors, venue; the method's public API."""
'''

MAIN = '''"""``python -m paperzoo.{module}``: the uniform paperzoo CLI for this paper."""

import sys

from paperzoo.{module}.bench import BENCHMARK
from paperzoo.shared.cli import main

sys.exit(main(BENCHMARK))
'''

BENCH = '''"""The paperzoo benchmark of {slug} (TODO: the experiment each scale runs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paperzoo.shared import Benchmark, Claim, Compare, MetricSpec, Result
from paperzoo.shared.validate import check_positive_int


@dataclass(frozen=True)
class Config:
    """One scale's settings."""

    samples: int
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("samples", self.samples)


def run(config: Config, seed: int) -> Result:
    """TODO: train and evaluate the method and its baselines."""
    x = np.random.default_rng(seed).normal(size=config.samples)
    return Result(metrics={{"method/score": float(np.abs(x).mean()), "baseline/score": 0.0}})


BENCHMARK = Benchmark(
    slug="{slug}",
    title="TODO: the paper's title",
    framework="{framework}",
    scales={{"smoke": Config(samples=100), "full": Config(samples=10_000), "paper": Config(samples=1_000_000)}},
    seeds={{"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)}},
    run=run,
    claims={{
        scale: (Claim("TODO: the headline claim", Compare("method/score", ">", "baseline/score")),)
        for scale in ("smoke", "full")
    }},
    metrics=(MetricSpec("*/score", better="higher", tolerance=0.05),),
)
'''

TEST = '''"""TODO: tests of the method: limiting cases, a hand-computed step, determinism, bad arguments."""

import pytest

from paperzoo.{module}.bench import BENCHMARK, Config


def test_same_seed_same_numbers():
    config = BENCHMARK.scales["smoke"]
    assert BENCHMARK.run(config, 0).metrics == BENCHMARK.run(config, 0).metrics
    assert BENCHMARK.run(config, 0).metrics != BENCHMARK.run(config, 1).metrics


def test_bad_config_raises():
    with pytest.raises(ValueError, match="samples"):
        Config(samples=0)
'''


def create(root: Path, slug: str, framework: str = "torch") -> Path:
    """Write ``papers/<slug>/`` under ``root``; ``FileExistsError`` if it exists, ``ValueError`` for a bad slug."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", slug):
        raise ValueError(f"slug must be lowercase letters, digits and single hyphens, got {slug!r}")
    if framework not in FRAMEWORK_DEPS:
        raise ValueError(f"framework must be one of {sorted(FRAMEWORK_DEPS)}, got {framework!r}")
    folder = root / "papers" / slug
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    module = slug.replace("-", "_")
    fields = {"slug": slug, "module": module, "framework": framework, "deps": FRAMEWORK_DEPS[framework]}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/paperzoo/{module}/__init__.py": INIT,
        f"src/paperzoo/{module}/__main__.py": MAIN,
        f"src/paperzoo/{module}/bench.py": BENCH,
        f"tests/test_{module}.py": TEST,
    }
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields), encoding="utf-8")
    return folder
