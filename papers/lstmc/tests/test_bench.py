"""The benchmark: smoke invariants, a tiny full run (the paper scale's runner on a stand-in config), protocol."""

from dataclasses import replace

import numpy as np
import pytest

from paperzoo.lstmc.bench import BENCHMARK, paper_config
from paperzoo.lstmc.dataset import generate_open_loop
from paperzoo.lstmc.dextrose import sample_initial_conditions
from paperzoo.lstmc.experiment import FullConfig, SmokeConfig, _episodes, run_full, tracking_slope
from paperzoo.shared.seeding import derive

TINY = replace(
    paper_config(),
    n_batches=40,
    epochs=1,
    hidden=8,
    layers=1,
    n_eval_ic=1,
    eval_quantiles=(0.25, 0.75),
    n_tune_ic=1,
    tune_quantiles=(0.5,),
    reach_profiles=6,
    noise_levels=(0.0, 0.1),
    pi_kps=(0.0, 0.1),
    pi_kis=(0.02,),
    mpc_lams=(0.0,),
    mpc_horizon=2,
    plant="moment",
    hours=5,
    workers=1,
)


def test_smoke_invariants_hold():
    config = BENCHMARK.scales["smoke"]
    result = BENCHMARK.run["smoke"](config, 0)
    verdicts = [c.evaluate([result.metrics])["verdict"] for c in BENCHMARK.claims["smoke"](config)]
    assert verdicts == ["reproduced"] * len(verdicts)
    assert result.metrics["plant/L_final_um"] == pytest.approx(170, abs=1)


def test_tiny_full_run_is_deterministic_and_complete():
    first, second = run_full(TINY, 0), run_full(TINY, 0)
    keys = [k for k in first.metrics if not k.startswith("cpu_s/")]
    assert {k: first.metrics[k] for k in keys} == {k: second.metrics[k] for k in keys}
    for arm in ("lstmc", "pi", "mpc"):
        assert 0 <= first.metrics[f"{arm}/deviation"] < 1
        assert f"{arm}/deviation_noise10" in first.metrics
    assert first.metrics["lstmc/noise_ratio"] > 0
    summary = BENCHMARK.summarize("full", [first.metrics], TINY)
    assert all(c["verdict"] != "missing" for c in summary["claims"])


def test_training_data_are_disjoint_from_the_evaluation_episodes():
    config = FullConfig()
    data = generate_open_loop(200, config.data_seed, workers=1)
    ic, sp = _episodes(replace(config, reach_profiles=8), 0, "eval", 2, config.eval_quantiles)
    train_T0 = data.T_j[:, 0]
    assert not np.isin(ic.T0, train_T0).any()
    assert not np.isin(sp, data.states[:, -1, 0]).any()
    tune_ic = sample_initial_conditions(2, np.random.default_rng(derive(0, "tune", "ic")))
    assert not np.isin(tune_ic.T0, ic.T0).any()


def test_tracking_slope():
    sp = np.array([100.0, 110.0, 120.0, 200.0, 220.0, 240.0])
    assert tracking_slope(sp, sp, 2) == pytest.approx(1.0)
    assert tracking_slope(np.array([150.0] * 3 + [210.0] * 3), sp, 2) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("window", 0, "W"),
        ("mpc_horizon", 0, "horizon"),
        ("noise_levels", (0.0, -0.1), "noise"),
        ("pi_kps", (-1.0,), "gains"),
        ("n_cells", 2, "n_cells"),
        ("tune_quantiles", (0.1,), "disjoint"),
    ],
)
def test_bad_config_raises(field, value, name):
    with pytest.raises(ValueError, match=name):
        replace(FullConfig(), **{field: value})
    if field == "n_cells":
        with pytest.raises(ValueError, match=name):
            SmokeConfig(n_cells=value)
