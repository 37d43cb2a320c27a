import dataclasses
import json
import math

import numpy as np
import pytest

from paperzoo.shared.records import (
    git_info,
    package_versions,
    to_jsonable,
    validate_seed_record,
    write_json_atomic,
)


@dataclasses.dataclass(frozen=True)
class Config:
    lrs: tuple[float, ...] = (1e-3, 1e-2)
    device: str = "cpu"


def test_to_jsonable_handles_dataclasses_numpy_and_non_finite():
    obj = {"config": Config(), "x": np.float32(0.5), "arr": np.arange(3), "bad": math.inf, 1: math.nan}
    assert to_jsonable(obj) == {
        "config": {"lrs": [1e-3, 1e-2], "device": "cpu"},
        "x": 0.5,
        "arr": [0, 1, 2],
        "bad": None,
        "1": None,
    }


def test_write_json_atomic_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "b.json"
    write_json_atomic(path, {"v": 1})
    write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "b.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]


def test_git_info_and_package_versions(tmp_path):
    assert git_info(tmp_path) == {"commit": None, "dirty": None}
    versions = package_versions()
    assert versions["numpy"] == np.__version__ and "python" in versions


def good_record():
    return {
        "schema_version": 1,
        "paper": "p",
        "scale": "smoke",
        "seed": 0,
        "config": {},
        "metrics": {"a/x": 1.0},
        "series": {},
        "wall_time_s": 1.0,
        "peak_memory_mib": 1.0,
        "packages": {},
        "git": {},
        "started_utc": "now",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"metrics": {"x": 1.0}}, "<arm>/<metric>"),
        ({"metrics": {"a/x": "1.0"}}, "not a number"),
        ({"metrics": {}}, "non-empty"),
    ],
)
def test_validate_seed_record(change, message):
    validate_seed_record(good_record())
    with pytest.raises(ValueError, match=message):
        validate_seed_record({**good_record(), **change})
    record = good_record()
    del record["seed"]
    with pytest.raises(ValueError, match="seed"):
        validate_seed_record(record)


def test_machine_info_names_what_can_change_the_numbers(monkeypatch):
    from paperzoo.shared.records import ISA_FLAGS, machine_info

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    info = machine_info()
    assert info["cpu"] and info["arch"] and info["cores"] >= 1
    assert set(info["isa"]) <= set(ISA_FLAGS) and info["threads"]["OMP_NUM_THREADS"] == "3"
    json.dumps(info)  # plain JSON


def test_git_info_ignores_the_harness_outputs_but_not_code(tmp_path):
    import subprocess

    from paperzoo.shared.records import git_info

    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    for relative, text in {
        "src/code.py": "a",
        "benchmarks/results/p/full/summary.json": "{}",
        "papers/p/README.md": "#",
    }.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    assert git_info(tmp_path / "src")["dirty"] is False
    (tmp_path / "benchmarks/results/p/full/summary.json").write_text('{"new": 1}')  # a paper's fresh records
    (tmp_path / "papers/p/README.md").write_text("# regenerated block")
    assert git_info(tmp_path / "src")["dirty"] is False
    (tmp_path / "src/code.py").write_text("b")
    assert git_info(tmp_path / "src")["dirty"] is True


def test_timing_metrics_are_named_by_suffix():
    from paperzoo.shared.records import is_timing

    assert (
        is_timing("bone/step_ms")
        and is_timing("groove/compile_s")
        and is_timing("lpg/env_steps_per_s")
        and is_timing("amft/gen_time_share")
    )
    assert not is_timing("adam/beale_steps") and not is_timing("pairs_share_tasks") and not is_timing("x_s/accuracy")
