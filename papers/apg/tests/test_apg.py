"""The eps-MLP, the metrics, the benchmark's configs and runners (determinism, the paper scale's first steps)."""

import dataclasses

import numpy as np
import pytest
import torch

from paperzoo.apg import EpsMLP, linear_alphas_cumprod, train_eps_model
from paperzoo.apg import metrics as M
from paperzoo.apg.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig, TaskConfig
from paperzoo.apg.experiment import arm_guidance, make_blobs, run_blobs, run_paper

TINY = FullConfig(
    blobs=TaskConfig(hidden=16, depth=2, train_steps=30, batch_size=32, samples_per_class=8, data_per_class=20),
    digits=None,
    ws=(1.0, 8.0),
    sampling_steps=5,
)


def test_eps_mlp_shapes_null_class_and_training_lowers_the_loss():
    x, y = make_blobs(50, 0)
    torch.manual_seed(0)
    model = EpsMLP((2,), 4, 64, 2)
    assert model.null_label == 4
    out = model(x[:3], torch.tensor([0, 500, 999]), torch.tensor([0, 4, 2]))
    assert out.shape == (3, 2)
    losses = train_eps_model(model, x, y, linear_alphas_cumprod(), 300, 64, 2e-3, 0.15, seed=0)
    assert np.mean(losses[-50:]) < 0.7 * np.mean(losses[:50])


def test_arms_switch_on_one_component_each():
    g = {a: arm_guidance(a, 8.0, eta=0.0, r=2.0, beta=-0.5) for a in ("cfg", "apg", "project", "rescale", "momentum")}
    assert g["cfg"].method == "cfg"
    assert (g["apg"].eta, g["apg"].r, g["apg"].beta) == (0.0, 2.0, -0.5)
    assert (g["project"].eta, g["project"].r, g["project"].beta) == (0.0, 0.0, 0.0)
    assert (g["rescale"].eta, g["rescale"].r, g["rescale"].beta) == (1.0, 2.0, 0.0)
    assert (g["momentum"].eta, g["momentum"].r, g["momentum"].beta) == (1.0, 0.0, -0.5)
    with pytest.raises(ValueError, match="arm"):
        arm_guidance("pag", 8.0, 0.0, 1.0, -0.5)


def test_metrics_by_hand():
    x = np.array([[-1.0, 0.5], [0.99, 0.0]])
    assert M.saturation(x) == {"mean_abs": pytest.approx(0.6225), "clip_fraction": 0.5}
    a = np.random.default_rng(0).normal(size=(400, 3))
    assert abs(M.frechet_distance(a, a)) < 1e-8
    shift = np.array([1.0, 2.0, 0.0])
    assert M.frechet_distance(a + shift, a) == pytest.approx(5.0, abs=1e-6)
    assert M.precision_recall(a, a) == {"precision": 1.0, "recall": 1.0}
    far = M.precision_recall(a, a + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}
    assert M.pixel_wasserstein(np.zeros(5), np.ones(5)) == pytest.approx(1.0)


def test_point_metrics_overshoot_and_class():
    real, real_y = (t.numpy() for t in make_blobs(200, 1))
    proj = np.eye(2)
    same = M.point_metrics(real, real_y, real, real_y, proj, 1.3)
    assert same["overshoot"] == pytest.approx(1.0) and same["swd"] == 0.0 and same["correct"] == 1.0
    pushed = M.point_metrics(2 * real, real_y, real, real_y, proj, 1.3)
    assert pushed["overshoot"] == pytest.approx(2.0) and pushed["outside"] == 1.0


def test_same_seed_same_numbers():
    a, b, c = run_blobs(TINY, 0), run_blobs(TINY, 0), run_blobs(TINY, 1)
    assert a.metrics == b.metrics and a.series == b.series
    assert a.metrics != c.metrics
    # every arm at w = 1 is the unguided sampler
    assert len({a.metrics[f"{arm}_w1/blobs_overshoot"] for arm in TINY.arms}) == 1


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="train_steps"):
        TaskConfig(hidden=8, depth=1, train_steps=0, batch_size=4, samples_per_class=2)
    with pytest.raises(ValueError, match="beta"):
        FullConfig(beta=-1.0)
    with pytest.raises(ValueError, match="ws"):
        FullConfig(ws=(-1.0,))
    with pytest.raises(ValueError, match="arms"):
        FullConfig(arms=("cfg", "pag"))
    with pytest.raises(ValueError, match="blobs and digits"):
        FullConfig(blobs=None, digits=None)
    with pytest.raises(ValueError, match="w"):
        SmokeConfig(w=-2.0)
    with pytest.raises(ValueError, match="r"):
        PaperConfig(r=-1.0)


def test_full_claims_cover_high_scales_only():
    texts = [c.text for c in BENCHMARK.claims_for("full", BENCHMARK.scales["full"])]
    assert any("w8" in t for t in texts) and any("w12" in t for t in texts)
    assert not any("w5" in t for t in texts)
    assert BENCHMARK.claims_for("full", dataclasses.replace(BENCHMARK.scales["full"], arms=("cfg",))) == ()


def test_paper_scale_runs_on_a_tiny_random_dit(tmp_path):
    """The paper runner's first steps on a randomly initialised DiT and VAE saved in the hub layout."""
    from diffusers import AutoencoderKL, DiTTransformer2DModel

    torch.manual_seed(0)
    DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=1,
        sample_size=4,
        patch_size=2,
        num_embeds_ada_norm=10,
    ).save_pretrained(tmp_path / "transformer")
    AutoencoderKL(block_out_channels=(32,), latent_channels=4, sample_size=4).save_pretrained(tmp_path / "vae")
    config = PaperConfig(
        hub_model=str(tmp_path),
        class_labels=(1, 3),
        samples_per_class=1,
        ws=(1.0, 4.0),
        arms=("cfg", "apg"),
        sampling_steps=2,
        device="cpu",
    )
    metrics = run_paper(config, 0).metrics
    assert set(metrics) == {
        f"{a}_w{w}/paper_{m}" for a in ("cfg", "apg") for w in (1, 4) for m in ("mean_abs", "clip_fraction")
    }
    assert all(np.isfinite(v) for v in metrics.values())
    assert metrics["cfg_w1/paper_mean_abs"] == metrics["apg_w1/paper_mean_abs"]
    assert metrics["cfg_w4/paper_mean_abs"] != metrics["apg_w4/paper_mean_abs"]
