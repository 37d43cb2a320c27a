"""Finding the papers: installed distributions that declare an entry point in ``paperzoo.papers``."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

GROUP = "paperzoo.papers"


@dataclass(frozen=True)
class Paper:
    """A paper the harness can run: ``python -m <module>`` with its records under ``<out>/<slug>/``.

    ``pythonpath`` is prepended to the child's ``PYTHONPATH`` (used for papers that are not installed,
    such as the throwaway papers of the harness's own tests).
    """

    slug: str
    module: str
    pythonpath: tuple[str, ...] = ()


def discover() -> dict[str, Paper]:
    """Every installed paper, by slug, read from entry-point metadata without importing any paper."""
    papers = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        module = ep.module.removesuffix(".bench")
        papers[ep.name] = Paper(slug=ep.name, module=module)
    return dict(sorted(papers.items()))


def repo_root(start: Path | None = None) -> Path:
    """The checkout's root: the nearest folder above ``start`` (default: cwd) holding ``benchmarks/baselines``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "benchmarks" / "baselines").is_dir():
            return folder
    raise FileNotFoundError(f"no paperzoo checkout (a folder with benchmarks/baselines) above {here}")
