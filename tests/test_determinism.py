"""A paper's records do not depend on Python's per-process hash salt (seeds come from derive, never hash())."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def smoke_record(out: Path, hash_seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    cmd = [
        sys.executable,
        "-m",
        "paperzoo.metaworld",
        "--scale",
        "smoke",
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
    ]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    return json.loads((out / "metaworld" / "smoke" / "seed-0.json").read_text())


def test_smoke_records_are_identical_under_different_hash_seeds(tmp_path: Path):
    # metaworld's smoke: environments, SAC and the protocol's bookkeeping over task names (dicts, sets).
    a, b = smoke_record(tmp_path / "a", "1"), smoke_record(tmp_path / "b", "2")
    assert a["metrics"] == b["metrics"] and a["series"] == b["series"]
