"""Tests of the C generator (C == torch, -Wall -Werror, bad layers), the protocol, and the benchmark runners."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from paperzoo.smart_composites import control
from paperzoo.smart_composites.bench import BENCHMARK, Config
from paperzoo.smart_composites.codegen_c import HOST_FLAGS, CModel, _compile, export_c
from paperzoo.smart_composites.data import identification_data
from paperzoo.smart_composites.experiment import references
from paperzoo.smart_composites.msd import MassSpringDamper
from paperzoo.smart_composites.narx import NARX, n_parameters


def trained_looking(kind: str, seed: int) -> NARX:
    torch.manual_seed(seed)
    model = NARX(kind, (16, 16) if kind == "mlp" else (8,))
    with torch.no_grad():
        model.in_mean.uniform_(-0.3, 0.3)
        model.in_std.uniform_(0.2, 2.0)
        model.out_scale.uniform_(0.01, 1.0)
        for p in model.parameters():
            p.mul_(2.0)  # larger weights: saturating units, a stricter check
    return model


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_c_forward_equals_torch_forward(kind, tmp_path):
    model = trained_looking(kind, 3)
    c_model = CModel(model)
    x = np.random.default_rng(0).normal(size=(1000, model.n_inputs))
    with torch.no_grad():
        expected = model(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    got = c_model(x)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(expected - x[:, 2:4]).max() > 1e-2  # the network's contribution is not negligible
    # the weights are in the object: at least 4 bytes each
    assert c_model.size_bytes >= 4 * n_parameters(model)
    out = np.empty((1, 2), dtype=np.float32)
    c_model.forward_one(np.ascontiguousarray(x[:1], dtype=np.float32), out)
    np.testing.assert_allclose(out[0], expected[0], atol=1e-5)
    x32, bound_out = np.ascontiguousarray(x[1:2], dtype=np.float32), np.empty(2, dtype=np.float32)
    step = c_model.bind(x32, bound_out)
    step()
    np.testing.assert_allclose(bound_out, expected[1], atol=1e-5)
    x32[:] = x[2]  # the bound call reads the buffer's current contents
    step()
    np.testing.assert_allclose(bound_out, expected[2], atol=1e-5)
    with pytest.raises(ValueError, match="x must be"):
        c_model.forward_one(x[:1], out)  # float64: the raw-memory call would read garbage
    with pytest.raises(ValueError, match="out must be"):
        c_model.forward_one(np.ascontiguousarray(x[:1], dtype=np.float32), np.empty(1, dtype=np.float32))


def test_generated_c_compiles_under_werror_which_is_active(tmp_path):
    assert "-Werror" in HOST_FLAGS and "-Wall" in HOST_FLAGS
    bad = tmp_path / "bad.c"
    bad.write_text("int f(void) { int unused; return 0; }\n")
    with pytest.raises(RuntimeError, match="unused"):
        _compile("gcc", bad, tmp_path / "bad.o", HOST_FLAGS, ("-c",))
    src = tmp_path / "narx.c"
    src.write_text(export_c(trained_looking("gru", 0)))
    _compile("gcc", src, tmp_path / "narx.o", HOST_FLAGS, ("-c",))


def test_export_rejects_what_it_cannot_emit():
    model = NARX()
    model.core[1] = nn.Softplus()
    with pytest.raises(ValueError, match=r"model.*Softplus"):
        export_c(model)
    with pytest.raises(ValueError, match="model"):
        export_c(nn.Linear(6, 2))


def test_mpc_references_are_disjoint_from_identification_and_tuning():
    config = BENCHMARK.scales["full"]
    plant = MassSpringDamper()
    evaluation = references(config, config.eval_steps + 4)
    tuning = control.tuning_reference(config.tune_steps + 4, config.dt)
    for ref in evaluation.values():
        n = min(len(ref), len(tuning))
        assert np.abs(ref[:n, 0] - tuning[:n, 0]).max() > 0.1
    # identification is open-loop excitation: its inputs never equal a controller's, and train != validation
    x_train, _ = identification_data(plant, 2000, 11)
    x_val, _ = identification_data(plant, 2000, 12)
    assert not np.allclose(x_train[:, 0], x_val[:, 0])
    square = evaluation["square"]
    ident_levels = x_train[:, 2]  # identified positions are not the reference levels held for seconds
    held = np.convolve(np.abs(ident_levels - 0.5) < 1e-3, np.ones(240), "valid").max()
    assert held < 240 and np.abs(square[:, 0]).max() == 0.5


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="same size"):
        Config(lambda_grid=(1.0,))
    with pytest.raises(ValueError, match="N2"):
        Config(N1=3, N2=3)
    with pytest.raises(ValueError, match="dt"):
        Config(dt=0.0)
    with pytest.raises(ValueError, match="models"):
        Config(models=("lstm",))


def test_paper_scale_starts_on_a_small_stand_in():
    small = dataclasses.replace(
        BENCHMARK.scales["paper"], ident_steps=400, val_steps=100, epochs=1, eval_steps=30, tune_steps=30, workers=1
    )
    assert small.models == ("gru",) and small.q_ratio_grid == (1.0,) and small.lambda_grid == (1.0,)
    result = BENCHMARK.run["paper"](small, 0)
    m = result.metrics
    assert m["linear/gru_c_max_abs_err"] < 1e-5
    assert all(math.isfinite(m[f"linear_{r}/{a}_rmse"]) for r in ("square", "sine") for a in ("mpc_gru", "pid", "zero"))
    assert m["linear/mpc_gru_q_ratio"] == 1.0
    assert m["linear/mpc_gru_mean_newton_move"] > 0


def test_claims_follow_the_config():
    full = BENCHMARK.claims_for("full", BENCHMARK.scales["full"])
    texts = [c.text for c in full]
    assert sum("Cubic" in t for t in texts) == 4 and sum("Linear" in t for t in texts) == 4
    only_linear = BENCHMARK.claims_for("full", dataclasses.replace(BENCHMARK.scales["full"], plants=("linear",)))
    assert not any("Cubic" in c.text for c in only_linear)
