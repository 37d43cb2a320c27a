"""The DDIM sampler against diffusers' DDIMScheduler, the eps <-> x0 helpers, and guidance inside the sampler."""

import pytest
import torch
from diffusers import DDIMScheduler

from paperzoo.apg import Guidance, GuidedSampler, eps_to_x0, linear_alphas_cumprod, x0_to_eps


def reference_scheduler(steps=50):
    scheduler = DDIMScheduler(clip_sample=False)  # linear 1e-4..0.02, T=1000, "leading", set_alpha_to_one
    scheduler.set_timesteps(steps)
    return scheduler


class ToyEps(torch.nn.Module):
    """A fixed nonlinear eps-model of (x_t, t, label); the label n_classes is null."""

    def __init__(self, dim=3, n_classes=4):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.a = torch.randn(dim, dim, generator=gen, dtype=torch.float64) / dim
        self.c = torch.randn(n_classes + 1, dim, generator=gen, dtype=torch.float64)

    def forward(self, x, t, labels):
        return torch.tanh(x @ self.a) * (t[:, None] / 1000.0) + 0.3 * self.c[labels]


def test_schedule_and_grid_match_diffusers():
    scheduler = reference_scheduler()
    torch.testing.assert_close(linear_alphas_cumprod(), scheduler.alphas_cumprod.double(), rtol=1e-5, atol=0)
    sampler = GuidedSampler(ToyEps(), 4, steps=50)
    assert torch.equal(sampler.timesteps, scheduler.timesteps)


def test_each_step_matches_ddim_scheduler():
    scheduler = reference_scheduler()
    sampler = GuidedSampler(ToyEps(), 4, steps=50, alphas_cumprod=scheduler.alphas_cumprod)
    gen = torch.Generator().manual_seed(1)
    for t in scheduler.timesteps.tolist():
        x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
        eps = torch.randn(5, 3, generator=gen, dtype=torch.float64)
        ours = sampler.step(x, t, eps_to_x0(x, eps, sampler.alphas_cumprod[t]))
        theirs = scheduler.step(eps, t, x, eta=0.0).prev_sample
        # diffusers takes square roots of its float32 abar in float32: agreement to float32 precision
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("w", [1.0, 6.0])
def test_cfg_trajectory_matches_diffusers_loop_with_eps_space_cfg(w):
    """CFG on x0 predictions is CFG on eps predictions: the whole trajectory equals diffusers' loop."""
    scheduler = reference_scheduler(20)
    model = ToyEps()
    sampler = GuidedSampler(model, 4, steps=20, alphas_cumprod=scheduler.alphas_cumprod)
    labels = torch.tensor([0, 1, 2, 3, 1])
    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ours = sampler.sample(noise, labels, Guidance("cfg", w))
    x = noise
    for t in scheduler.timesteps:
        tt = torch.full((5,), int(t))
        e_c, e_u = model(x, tt, labels), model(x, tt, torch.full_like(labels, 4))
        x = scheduler.step(e_u + w * (e_c - e_u), t, x, eta=0.0).prev_sample
    torch.testing.assert_close(ours, x, rtol=1e-6, atol=1e-6)


def test_apg_reduced_equals_cfg_in_the_sampler_and_full_apg_differs():
    sampler = GuidedSampler(ToyEps(), 4, steps=10)
    labels = torch.tensor([0, 1, 2, 3])
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    cfg = sampler.sample(noise, labels, Guidance("cfg", 8.0))
    reduced = sampler.sample(noise, labels, Guidance("apg", 8.0, eta=1.0, r=0.0, beta=0.0))
    torch.testing.assert_close(reduced, cfg, rtol=0, atol=1e-10)
    apg = sampler.sample(noise, labels, Guidance("apg", 8.0, eta=0.0, r=0.5, beta=-0.5))
    assert (apg - cfg).abs().max() > 1e-3


def test_momentum_buffer_resets_between_runs():
    sampler = GuidedSampler(ToyEps(), 4, steps=10)
    labels = torch.tensor([0, 1])
    noise = torch.randn(2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    guidance = Guidance("apg", 5.0, eta=0.0, r=0.0, beta=-0.6)
    assert torch.equal(sampler.sample(noise, labels, guidance), sampler.sample(noise, labels, guidance))


def test_eps_x0_round_trip():
    gen = torch.Generator().manual_seed(5)
    x, eps = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 4, 8, 8, generator=gen)
    for abar in linear_alphas_cumprod()[[0, 500, 980]]:
        x0 = eps_to_x0(x, eps, abar)
        torch.testing.assert_close(x0_to_eps(x, x0, abar), eps, rtol=1e-4, atol=1e-4)
        assert x0.dtype == torch.float32
    x64, e64 = x.double(), eps.double()
    abar = linear_alphas_cumprod()[300]
    torch.testing.assert_close(x0_to_eps(x64, eps_to_x0(x64, e64, abar), abar), e64, rtol=0, atol=1e-12)


def test_bad_sampler_arguments_raise():
    with pytest.raises(ValueError, match="steps"):
        GuidedSampler(ToyEps(), 4, steps=0)
    with pytest.raises(ValueError, match="beta"):
        Guidance("apg", 2.0, beta=1.0)
    with pytest.raises(ValueError, match="w"):
        Guidance("cfg", -1.0)
    with pytest.raises(ValueError, match="method"):
        Guidance("pag", 2.0)
    with pytest.raises(ValueError, match="labels"):
        GuidedSampler(ToyEps(), 4, steps=2).sample(torch.zeros(3, 3), torch.zeros(2, dtype=torch.long), Guidance())
