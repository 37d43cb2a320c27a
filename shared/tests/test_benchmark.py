import dataclasses
import json
import random

import numpy as np
import pytest

from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, Result
from paperzoo.shared.benchmark import mean_and_std
from paperzoo.shared.cli import main
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.seeding import seed_everything


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 3
    device: str = "cpu"


def run(config: Config, seed: int) -> Result:
    return Result(
        metrics={"m/x": random.random(), "m/lr_0.1/val": 0.5 + seed, "m/lr_1/val": 1.0},
        series={"m/curve": [1.0, 2.0, 3.0][: config.n]},
    )


def pick_best_lr(per_seed):
    """Selection over all seeds: the lr with the best mean val."""
    best = max(("0.1", "1"), key=lambda lr: np.mean([m[f"m/lr_{lr}/val"] for m in per_seed]))
    return [{**m, "m/best_lr": float(best)} for m in per_seed]


def fraction_claims(config: Config) -> tuple[Claim, ...]:
    """Claims built from the config that was run: the bound is the config's n."""
    return (Claim("x is a fraction", Compare("m/x", "<=", 1.0)), Claim("x below n", Compare("m/x", "<", config.n)))


def make(**changes):
    kwargs = dict(
        slug="demo",
        title="Demo",
        framework="torch",
        scales={"smoke": Config(), "full": Config(), "paper": Config()},
        seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
        run={s: run for s in ("smoke", "full", "paper")},
        claims={s: fraction_claims for s in ("smoke", "full")},
        metrics=(MetricSpec("m/x", "higher", 0.1),),
        aggregate={"full": pick_best_lr},
    )
    kwargs.update(changes)
    return Benchmark(**kwargs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"framework": "mxnet"}, "framework"),
        ({"scales": {"smoke": Config(), "full": Config()}}, "'paper'"),
        ({"seeds": {"smoke": (0,), "full": (0, 1), "paper": (0,)}}, "at least 3"),
        ({"claims": {"smoke": fraction_claims}}, "claims must declare 'full'"),
        ({"claims": {"smoke": lambda c: (), "full": fraction_claims}}, "at least one claim"),
        ({"claims": {"smoke": fraction_claims, "full": ()}}, "callable"),
        ({"run": {"smoke": run, "full": run}}, "run must declare 'paper'"),
        ({"plot": {"huge": run}}, "unknown scale"),
        ({"scales": {"smoke": {"device": "cpu"}, "full": Config(), "paper": Config()}}, "frozen dataclass"),
    ],
)
def test_bad_benchmark_raises(changes, message):
    with pytest.raises(ValueError, match=message):
        make(**changes)


def test_summarize_aggregates_across_seeds_then_averages():
    bench = make()
    summary = bench.summarize(
        "full",
        [
            {"m/x": 0.2, "m/lr_0.1/val": 2.0, "m/lr_1/val": 1.0},
            {"m/x": 0.4, "m/lr_0.1/val": 0.0, "m/lr_1/val": 1.0},
        ],
    )
    assert summary["means"]["m/x"] == pytest.approx(0.3) and summary["stds"]["m/x"] == pytest.approx(0.1)
    assert summary["means"]["m/best_lr"] == 0.1  # tie on mean val (1.0): max keeps the first
    assert summary["regression"] == {"m/x": {"better": "higher", "tolerance": 0.1, "relative": False}}
    assert summary["claims"][0]["verdict"] == "reproduced"
    assert "m/best_lr" not in make().summarize("smoke", [{"m/x": 0.2, "m/lr_0.1/val": 2.0, "m/lr_1/val": 1.0}])["means"]


def test_claims_are_built_from_the_config_that_ran():
    bench = make()
    per_seed = [{"m/x": 0.5, "m/lr_0.1/val": 1.0, "m/lr_1/val": 1.0}]
    assert bench.summarize("full", per_seed)["claims"][1]["verdict"] == "reproduced"  # 0.5 < n = 3
    small = dataclasses.replace(bench.scales["full"], n=0)
    assert bench.summarize("full", per_seed, small)["claims"][1]["verdict"] == "not reproduced"  # 0.5 < 0 fails


@dataclasses.dataclass(frozen=True)
class Inner:
    rates: tuple[float, ...] = (0.1, 1.0)
    steps: int = 3


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    grid: tuple[tuple[str, tuple[float, ...]], ...] = (("a", (1.0, 2.0)),)
    scale: float = 1.0
    device: str = "cpu"


def test_config_round_trips_through_json():
    from paperzoo.shared.benchmark import config_from_dict
    from paperzoo.shared.records import to_jsonable

    config = Outer(inner=Inner(rates=(0.5,), steps=7), grid=(("b", (3.0,)),), scale=2.0, device="cuda")
    data = json.loads(json.dumps(to_jsonable(config)))
    assert config_from_dict(Outer(), data) == config
    assert config_from_dict(Outer(), {"scale": 2}).scale == 2.0 and isinstance(
        config_from_dict(Outer(), {"scale": 2}).scale, float
    )
    with pytest.raises(ValueError, match="unknown config field"):
        config_from_dict(Outer(), {"nope": 1})


def test_mean_and_std_marks_non_finite():
    means, stds = mean_and_std([{"a/x": 1.0}, {"a/x": float("nan")}])
    assert means == {"a/x": None} and stds == {"a/x": None}


def test_cli_writes_records_summary_and_prints_table(tmp_path, capsys):
    drawn = []

    def plot(config, records, folder):
        drawn.append((config.device, [r["seed"] for r in records]))
        return [folder / "figure.png"]

    assert (
        main(make(plot={"full": plot}), ["--scale", "full", "--out", str(tmp_path), "--device", "cpu", "--quiet"]) == 0
    )
    assert drawn == [("cpu", [0, 1, 2])]
    folder = tmp_path / "demo" / "full"
    assert sorted(p.name for p in folder.iterdir()) == [
        "seed-0.json",
        "seed-1.json",
        "seed-2.json",
        "summary.json",
    ]
    record = json.loads((folder / "seed-1.json").read_text())
    assert record["seed"] == 1 and record["metrics"]["m/lr_0.1/val"] == 1.5
    assert record["series"]["m/curve"] == [1.0, 2.0, 3.0] and record["wall_time_s"] >= 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and summary["means"]["m/best_lr"] == pytest.approx(0.1)
    assert summary["plots"] == ["figure.png"]
    out = capsys.readouterr().out
    assert "[reproduced] x is a fraction" in out and "best_lr" in out


def test_cli_same_seed_same_numbers(tmp_path):
    for sub in ("a", "b"):
        assert main(make(), ["--scale", "smoke", "--out", str(tmp_path / sub), "--quiet", "--device", "cpu"]) == 0
    a, b = (json.loads((tmp_path / s / "demo/smoke/seed-0.json").read_text())["metrics"] for s in ("a", "b"))
    assert a == b


def test_paper_scale_refuses_without_permission_on_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(make(), ["--scale", "paper", "--out", str(tmp_path)]) == 2
    assert "--allow-download" in capsys.readouterr().err
    assert not tmp_path.joinpath("demo").exists()


def test_derive_is_stable_distinct_and_validated():
    from paperzoo.shared.seeding import derive

    assert derive(0, "levels") == derive(0, "levels")
    values = {derive(s, name, i) for s in range(5) for name in ("levels", "eval") for i in range(20)}
    assert len(values) == 200 and all(0 <= v < 2**31 for v in values)
    assert derive(0, "a") != derive(1, "a") and derive(0, "a", 1) != derive(0, "a1")
    # The value is a fixed function of its arguments, the same on every machine and process.
    assert derive(0, "levels") == 1953880491
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            derive(bad, "x")
    with pytest.raises(ValueError, match="name"):
        derive(0)
    with pytest.raises(ValueError, match="names"):
        derive(0, 1.5)


def test_derive_ignores_pythonhashseed():
    import subprocess
    import sys

    code = "from paperzoo.shared.seeding import derive; print(derive(3, 'held-out'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**__import__("os").environ, "PYTHONHASHSEED": h},
        ).stdout
        for h in ("0", "1", "random")
    }
    assert len(outputs) == 1


def test_seed_everything():
    seed_everything(3)
    a = (random.random(), np.random.rand())  # noqa: NPY002 (the seeded global generator)
    seed_everything(3)
    assert a == (random.random(), np.random.rand())  # noqa: NPY002
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_digits_split_sizes_match_the_split():
    from paperzoo.shared.data import digits_split_sizes

    for fractions in ((0.2, 0.2), (0.3, 0.1), (0.25, 0.0)):
        split = load_digits_split(*fractions)
        assert digits_split_sizes(*fractions) == (len(split.y_train), len(split.y_val), len(split.y_test))
    assert digits_split_sizes() == (1149, 288, 360)


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = load_digits_split(), load_digits_split()
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797 and len(a.x_test) == 360
    assert a.x_train.dtype == np.float32 and a.x_train.max() <= 1.0 and a.x_train.shape[1:] == (8, 8)
    assert set(np.bincount(a.y_test)) <= {35, 36, 37}
    flat = {x.tobytes() for x in a.x_test}
    assert sum(x.tobytes() in flat for x in a.x_train) < 5  # digits has a few exact duplicate images
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.0)


def test_declared_cross_machine_variation_widens_what_claims_cannot_tell():
    """A margin smaller than what another machine's arithmetic moves a metric by is inconclusive."""
    per_seed = [{"a/x": 0.90 + 0.001 * i, "b/x": 0.89 + 0.001 * i} for i in range(3)]  # a ahead by 0.01 each seed
    claims = {s: (lambda config: (Claim("a beats b", Better("a/x", "b/x")),)) for s in ("smoke", "full")}
    for variation, verdict in ((None, "reproduced"), (0.005, "reproduced"), (0.02, "inconclusive")):
        spec = MetricSpec("*/x", "higher", 0.1, resolution=0.001, variation=variation)
        bench = make(claims=claims, metrics=(spec,), aggregate={})
        claim = bench.summarize("full", per_seed)["claims"][0]
        assert claim["verdict"] == verdict and claim["values"]["interval"] == pytest.approx([0.01, 0.01])
    assert "widened by the cross-machine variation 0.02" in claim["detail"]
    with pytest.raises(ValueError, match="variation"):
        MetricSpec("*/x", "higher", 0.1, variation=-1.0)
