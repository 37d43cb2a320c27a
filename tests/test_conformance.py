"""Every paper folder meets DESIGN.md: files, packaging, entry point, benchmark declaration, README, imports."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import pytest

from paperzoo.shared import Benchmark

ROOT = Path(__file__).resolve().parents[1]
PAPERS = sorted(p for p in (ROOT / "papers").iterdir() if (p / "pyproject.toml").is_file())
README_SECTIONS = ("## Claim", "## Method", "## Usage", "## Results", "## Deviations")
# The top-level modules that belong to each framework; a paper may import only its own family's.
FRAMEWORK_MODULES = {
    "torch": {"torch", "torchvision"},
    "jax": {"jax", "jaxlib", "flax", "optax", "gymnax", "chex"},
    "tensorflow": {"tensorflow", "keras", "tf_keras"},
}


def module_of(folder: Path) -> str:
    return folder.name.replace("-", "_")


def pyproject(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(params=PAPERS, ids=[p.name for p in PAPERS])
def paper(request) -> Path:
    return request.param


def test_there_are_papers():
    assert PAPERS, "no paper folder under papers/"


def test_layout(paper: Path):
    mod = module_of(paper)
    for relative in (
        "pyproject.toml",
        "README.md",
        f"src/paperzoo/{mod}/__init__.py",
        f"src/paperzoo/{mod}/bench.py",
        f"src/paperzoo/{mod}/__main__.py",
    ):
        assert (paper / relative).is_file(), f"{paper.name} lacks {relative}"
    assert not (paper / "src/paperzoo/__init__.py").exists(), "paperzoo must stay a namespace package"
    assert list((paper / "tests").glob("test_*.py")), f"{paper.name} has no tests/test_*.py"


def test_packaging(paper: Path):
    meta = pyproject(paper)
    project = meta["project"]
    assert project["name"] == f"paperzoo-{paper.name}"
    assert project["requires-python"] == ">=3.11,<3.12"
    assert any(d.startswith("paperzoo-shared") for d in project["dependencies"])
    entry = project["entry-points"]["paperzoo.papers"]
    assert entry == {paper.name: f"paperzoo.{module_of(paper)}.bench"}
    assert meta["tool"]["paperzoo"]["framework"] in FRAMEWORK_MODULES


def test_entry_point_resolves_to_a_benchmark(paper: Path):
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="paperzoo.papers")}
    assert paper.name in eps, f"{paper.name} is not installed: run `uv sync --all-packages`"
    bench = eps[paper.name].load()
    benchmark = bench.BENCHMARK
    assert isinstance(benchmark, Benchmark)
    assert benchmark.slug == paper.name
    assert benchmark.framework == pyproject(paper)["tool"]["paperzoo"]["framework"]
    assert set(benchmark.scales) >= {"smoke", "full", "paper"}
    assert len(benchmark.seeds["full"]) >= 3
    assert benchmark.claims["smoke"] and benchmark.claims["full"]
    assert benchmark.metrics, "declare at least one MetricSpec so smoke regressions are caught"
    importlib.import_module(f"paperzoo.{module_of(paper)}")  # the public API imports


def test_readme_sections(paper: Path):
    text = (paper / "README.md").read_text(encoding="utf-8")
    for section in README_SECTIONS:
        assert any(line.startswith(section) for line in text.splitlines()), f"README lacks '{section}'"


def imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.partition(".")[0])
    return names


def test_imports_only_its_framework(paper: Path):
    framework = pyproject(paper)["tool"]["paperzoo"]["framework"]
    foreign = set().union(*(mods for fw, mods in FRAMEWORK_MODULES.items() if fw != framework))
    for path in sorted((paper / "src").rglob("*.py")):
        bad = imported_top_modules(path) & foreign
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} but declares framework {framework!r}"


def test_shared_imports_no_framework():
    everything = set().union(*FRAMEWORK_MODULES.values())
    for path in sorted((ROOT / "shared" / "src").rglob("*.py")):
        # paperzoo.shared.torch (and kin, module or package): imported only by that framework's papers
        if FRAMEWORK_MODULES.keys() & {path.stem, *path.parts}:
            continue
        bad = imported_top_modules(path) & everything
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: shared/ stays framework-free"


def test_import_check_catches_a_foreign_import(tmp_path: Path):
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom jax import numpy as jnp\nimport torch.nn as nn\nfrom . import x\n")
    assert imported_top_modules(source) == {"os", "jax", "torch"}
