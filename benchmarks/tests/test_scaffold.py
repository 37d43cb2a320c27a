"""``paperzoo new-paper``: the scaffold is a working paper (its own tests pass, its smoke run writes records)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from paperzoo.bench import scaffold
from paperzoo.shared.records import read_json


def test_scaffold_is_a_working_paper(tmp_path: Path):
    folder = scaffold.create(tmp_path, "demo-paper", "jax")
    meta = tomllib.loads((folder / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["paperzoo.papers"] == {"demo-paper": "paperzoo.demo_paper.bench"}
    assert meta["tool"]["paperzoo"]["framework"] == "jax" and '"jax>=0.6"' in (folder / "pyproject.toml").read_text()
    assert not (folder / "src/paperzoo/__init__.py").exists()
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            str(folder / "tests"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "paperzoo.demo_paper",
            "--scale",
            "smoke",
            "--out",
            str(tmp_path / "runs"),
            "--quiet",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    summary = read_json(tmp_path / "runs/demo-paper/smoke/summary.json")
    assert summary["claims"][0]["verdict"] == "reproduced"


@pytest.mark.parametrize("slug", ["Demo", "demo_paper", "-demo", "demo--x", ""])
def test_bad_slug(tmp_path: Path, slug: str):
    with pytest.raises(ValueError, match="slug"):
        scaffold.create(tmp_path, slug)


def test_existing_folder_is_refused(tmp_path: Path):
    scaffold.create(tmp_path, "demo")
    with pytest.raises(FileExistsError):
        scaffold.create(tmp_path, "demo")
