"""The scale runners of the APG benchmark (declared in :mod:`paperzoo.apg.bench`).

- :func:`run_smoke`: the 2-D blobs model briefly trained; CFG and APG at one scale, and APG(eta=1, r=0, beta=0)
  against CFG on the same noise.
- :func:`run_full`: 2-D blobs and digits; CFG, APG and its three single-component ablations at every guidance
  scale, all arms from the same trained model and the same noise (paired); metrics in :mod:`paperzoo.apg.metrics`.
- :func:`run_paper`: a pretrained class-conditional diffusers DiT with our sampler and guidance, on a GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from paperzoo.apg import metrics as M
from paperzoo.apg.model import EpsMLP, train_eps_model
from paperzoo.apg.sampler import Guidance, GuidedSampler, linear_alphas_cumprod
from paperzoo.shared import Result
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import SmallCNN, as_tensors, evaluate, train_classifier

if TYPE_CHECKING:
    from paperzoo.apg.bench import FullConfig, PaperConfig, SmokeConfig, TaskConfig

# The compared arms: CFG, APG (all three components) and one ablation per component alone.
ARMS = ("cfg", "apg", "project", "rescale", "momentum")
GRID_ARMS = ("cfg", "apg")  # the arms whose samples the record keeps for the sample figures
GRID_PER_CLASS = 2  # digits per class in a grid row
SCATTER_POINTS = 400  # 2-D points per arm and scale kept for the radius plots
DIGITS_CLASSES, BLOB_CLASSES = 10, 4
BLOB_SIGMA, BLOB_FAR = 0.1, 1.3


def arm_guidance(arm: str, w: float, eta: float, r: float, beta: float) -> Guidance:
    """The guidance of ``arm`` at scale ``w``: APG's settings ``(eta, r, beta)``, or one of them alone."""
    if arm == "cfg":
        return Guidance("cfg", w)
    settings = {
        "apg": (eta, r, beta),
        "project": (eta, 0.0, 0.0),
        "rescale": (1.0, r, 0.0),
        "momentum": (1.0, 0.0, beta),
    }
    if arm not in settings:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    e, rr, b = settings[arm]
    return Guidance("apg", w, eta=e, r=rr, beta=b)


def make_blobs(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """4 Gaussian blobs (sigma 0.1) at radius 1, angles 0/90/180/270 degrees; ``per_class`` points each."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(BLOB_CLASSES).repeat_interleave(per_class)
    centres = torch.from_numpy(M.blob_centres(BLOB_CLASSES)).float()
    return centres[y] + BLOB_SIGMA * torch.randn(len(y), 2, generator=gen), y


def train_task(task: TaskConfig, x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int) -> EpsMLP:
    """A fresh eps-MLP (initialised from ``seed``) trained on ``(x, y)`` as ``task`` says."""
    torch.manual_seed(derive(seed, "init"))
    model = EpsMLP(tuple(x.shape[1:]), n_classes, task.hidden, task.depth)
    train_eps_model(
        model, x, y, linear_alphas_cumprod(), task.train_steps, task.batch_size, task.lr, task.label_dropout, seed
    )
    return model


def delta_norm_quantile(sampler: GuidedSampler, noise: torch.Tensor, labels: torch.Tensor, q: float) -> float:
    """The ``q``-quantile of ``||D_c - D_u||`` over all steps and samples of the unguided (w = 1) run: APG's ``r``."""
    norms: list[torch.Tensor] = []
    sampler.sample(
        noise, labels, Guidance("cfg", 1.0), record=lambda t, dc, du: norms.append((dc - du).flatten(1).norm(dim=1))
    )
    return float(torch.quantile(torch.cat(norms).double(), q))


def sample_arms(
    sampler: GuidedSampler,
    noise: torch.Tensor,
    labels: torch.Tensor,
    config: FullConfig | PaperConfig,
    r: float,
    desc: str,
) -> dict[str, torch.Tensor]:
    """Samples of every arm at every scale, ``{"<arm>_w<w>": x}``, all from ``noise``; w = 1 is run once (every
    arm reduces to ``D_c`` there)."""
    out: dict[str, torch.Tensor] = {}
    jobs = [(arm, w) for w in config.ws for arm in config.arms]
    unguided = None
    for arm, w in progress(jobs, desc=desc):
        if w == 1:
            unguided = sampler.sample(noise, labels, Guidance("cfg", 1.0)) if unguided is None else unguided
            out[f"{arm}_w{w:g}"] = unguided
        else:
            out[f"{arm}_w{w:g}"] = sampler.sample(noise, labels, arm_guidance(arm, w, config.eta, r, config.beta))
    return out


def blobs_sampler(config: FullConfig, seed: int) -> GuidedSampler:
    """The sampler of an eps-MLP trained on the seed's blobs."""
    task = config.blobs
    x, y = make_blobs(task.data_per_class, derive(seed, "blobs", "data"))
    model = train_task(task, x, y, BLOB_CLASSES, derive(seed, "blobs", "train"))
    return GuidedSampler(model, model.null_label, config.sampling_steps)


def run_blobs(config: FullConfig, seed: int, sampler: GuidedSampler | None = None) -> Result:
    """The 2-D experiment: overshoot, points beyond radius 1.3, class fraction, sliced Wasserstein per class."""
    task = config.blobs
    sampler = blobs_sampler(config, seed) if sampler is None else sampler
    real, real_y = make_blobs(task.samples_per_class, derive(seed, "blobs", "reference"))
    labels = torch.arange(BLOB_CLASSES).repeat_interleave(task.samples_per_class)
    noise = torch.randn(len(labels), 2, generator=torch.Generator().manual_seed(derive(seed, "blobs", "noise")))
    r = delta_norm_quantile(sampler, noise, labels, config.r_quantile)
    projections = np.random.default_rng(derive(seed, "blobs", "projections")).normal(size=(64, 2))
    projections /= np.linalg.norm(projections, axis=1, keepdims=True)
    metrics = {"apg/blobs_r": r}
    series: dict[str, list[float]] = {}
    pick = np.random.default_rng(derive(seed, "blobs", "scatter")).permutation(len(labels))[:SCATTER_POINTS]
    for name, samples in sample_arms(sampler, noise, labels, config, r, "blobs").items():
        s = samples.numpy()
        values = M.point_metrics(s, labels.numpy(), real.numpy(), real_y.numpy(), projections, BLOB_FAR)
        metrics |= {f"{name}/blobs_{k}": v for k, v in values.items()}
        if name.split("_w")[0] in GRID_ARMS:
            series[f"{name}/blobs_points"] = s[pick].ravel().tolist()
    return Result(metrics, series)


def train_digit_classifier(config: FullConfig, data: dict[str, torch.Tensor], seed: int) -> SmallCNN:
    """The metrics' independent classifier: ``SmallCNN`` on the real training digits (images in [0, 1])."""
    torch.manual_seed(derive(seed, "classifier", "init"))
    model = SmallCNN()
    train_classifier(
        model,
        lambda ps: torch.optim.Adam(ps, lr=config.classifier_lr),
        data,
        config.classifier_epochs,
        64,
        derive(seed, "classifier", "order"),
    )
    return model.eval()


@torch.no_grad()
def features(classifier: SmallCNN, images: torch.Tensor) -> np.ndarray:
    """The classifier's penultimate features (flattened conv output) of images in [0, 1], (n, 1, 8, 8)."""
    return classifier.features(images).flatten(1).double().numpy()


def run_digits(config: FullConfig, seed: int) -> Result:
    """The image experiment: saturation, pixel-histogram distance, classifier accuracy, Frechet distance and
    k-NN precision/recall of the generated digits against the real test digits."""
    task = config.digits
    split = load_digits_split()
    data = as_tensors(split, "cpu")
    classifier = train_digit_classifier(config, data, seed)
    x = torch.from_numpy(split.x_train) * 2 - 1  # [-1, 1]
    model = train_task(task, x, torch.from_numpy(split.y_train), DIGITS_CLASSES, derive(seed, "digits", "train"))
    labels = torch.arange(DIGITS_CLASSES).repeat_interleave(task.samples_per_class)
    noise = torch.randn(len(labels), 8, 8, generator=torch.Generator().manual_seed(derive(seed, "digits", "noise")))
    sampler = GuidedSampler(model, model.null_label, config.sampling_steps)
    r = delta_norm_quantile(sampler, noise, labels, config.r_quantile)
    real = data["x_test"]
    real_features = features(classifier, real)
    real_pixels = real.numpy() * 2 - 1
    metrics = {
        "apg/digits_r": r,
        "classifier/test_accuracy": evaluate(classifier, data["x_test"], data["y_test"])[0],
        **{f"real/digits_{k}": v for k, v in M.saturation(real_pixels).items()},
    }
    series: dict[str, list[float]] = {}
    grid = (torch.arange(GRID_PER_CLASS)[:, None] + task.samples_per_class * torch.arange(DIGITS_CLASSES)).ravel()
    for name, samples in sample_arms(sampler, noise, labels, config, r, "digits").items():
        images = ((samples.clamp(-1, 1) + 1) / 2).unsqueeze(1)  # the final clip, then [0, 1]
        fake_features = features(classifier, images)
        with torch.no_grad():
            accuracy = (classifier(images).argmax(1) == labels).double().mean().item()
        values = {
            **M.saturation(samples.numpy()),
            "pixel_w1": M.pixel_wasserstein(samples.numpy(), real_pixels),
            "accuracy": accuracy,
            "fd": M.frechet_distance(fake_features, real_features),
            **M.precision_recall(real_features, fake_features),
        }
        metrics |= {f"{name}/digits_{k}": v for k, v in values.items()}
        if name.split("_w")[0] in GRID_ARMS:
            series[f"{name}/digits_grid"] = samples[grid].ravel().tolist()
    return Result(metrics, series)


def run_full(config: FullConfig, seed: int) -> Result:
    """Both experiments of the full scale (either may be switched off in the config)."""
    results = [run(config, seed) for task, run in ((config.blobs, run_blobs), (config.digits, run_digits)) if task]
    return Result(
        {k: v for r in results for k, v in r.metrics.items()}, {k: v for r in results for k, v in r.series.items()}
    )


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """Blobs briefly trained; CFG and APG at ``config.w``; APG(eta=1, r=0, beta=0) vs CFG on the same noise."""
    full = config.as_full()
    sampler = blobs_sampler(full, seed)
    result = run_blobs(full, seed, sampler)
    labels = torch.arange(BLOB_CLASSES).repeat_interleave(full.blobs.samples_per_class)
    gen = torch.Generator().manual_seed(derive(seed, "smoke", "noise"))
    noise = torch.randn(len(labels), 2, generator=gen, dtype=torch.float64)
    sampler.eps_model.double()
    cfg = sampler.sample(noise, labels, Guidance("cfg", config.w))
    reduced = sampler.sample(noise, labels, Guidance("apg", config.w, eta=1.0, r=0.0, beta=0.0))
    result.metrics["apg_as_cfg/max_abs_diff"] = float((cfg - reduced).abs().max())
    return result


def run_paper(config: PaperConfig, seed: int) -> Result:
    """A pretrained class-conditional DiT (diffusers) sampled in latent space with our DDIM sampler and guidance;
    saturation (mean |x|, clip fraction) of the decoded images per arm and scale."""
    from diffusers import AutoencoderKL, DiTTransformer2DModel

    device = torch.device(config.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    transformer = DiTTransformer2DModel.from_pretrained(config.hub_model, subfolder="transformer", torch_dtype=dtype)
    vae = AutoencoderKL.from_pretrained(config.hub_model, subfolder="vae", torch_dtype=dtype)
    transformer.to(device).eval()
    vae.to(device).eval()
    channels = transformer.config.in_channels
    size = transformer.config.sample_size
    null = transformer.config.num_embeds_ada_norm  # DiT's class-dropout token is the last embedding row

    def eps_model(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = transformer(x.to(dtype), timestep=t.to(device), class_labels=labels.to(device)).sample
        return out[:, :channels].to(x.dtype)  # DiT predicts eps and a variance: keep eps

    sampler = GuidedSampler(eps_model, null, config.sampling_steps)
    labels = torch.tensor(config.class_labels, device=device).repeat_interleave(config.samples_per_class)
    gen = torch.Generator(device="cpu").manual_seed(derive(seed, "paper", "noise"))
    noise = torch.randn(len(labels), channels, size, size, generator=gen).to(device)
    metrics: dict[str, float] = {}
    for name, latents in sample_arms(sampler, noise, labels, config, config.r, "paper").items():
        with torch.no_grad():
            images = vae.decode((latents / vae.config.scaling_factor).to(dtype)).sample.float().cpu()
        metrics |= {f"{name}/paper_{k}": v for k, v in M.saturation(images.numpy()).items()}
    return Result(metrics)
