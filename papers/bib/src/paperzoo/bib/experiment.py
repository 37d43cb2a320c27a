"""The scale runners of BIB: ``run(config, seed) -> Result`` (every scale runs the same pipeline).

One seed: the landscape (synthetic: its own random landscape, ``derive(seed, "landscape")``, unless the config
fixes ``landscape_seed``; a table task: the same in every seed) and its offline "(r)" split, the starting
logits (one shared noise draw, ``derive(seed, "init")``), then per encoder (``pretrained``: the MLM-pretrained
tiny BERT; ``random``: the same BERT at its initialisation; ``onehot``: no LM; ``hub``: DNABERT) the offline
embeddings, the closed-form losses, the auxiliary proxies (bootstrap ``derive(seed, "aux", encoder)``) and the
arms forward-only, backward-only, BDI (gamma = 0.5), BIB (Adaptive-gamma) and BIB + Adaptive-eta, all from the
same starting logits; and the encoder-free gradient-ascent baseline on an MLP proxy (``derive(seed, "ga")``).

Metrics: ``<encoder>/<arm>/median|max|min|distance`` (normalised score of the final designs over the full
table, mean Hamming distance to the start), gamma and eta statistics, ``start/median|max``.
Series: median score per step per arm, mean gamma per step of the BIB arms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from paperzoo.bib.baselines import fit_mlp_proxy, gradient_ascent
from paperzoo.bib.design import DesignTrace, design, init_designs
from paperzoo.bib.encoder import DEFAULT_CACHE_DIR, EncoderConfig, OneHotEncoder, hub_bert, tiny_encoder
from paperzoo.bib.landscape import ALPHABET, Landscape, OfflineTask
from paperzoo.bib.losses import AuxProxyEnsemble, BidirectionalLoss
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

log = logging.getLogger("paperzoo.bib")
ARMS = ("forward", "backward", "bdi", "bib", "bib_eta")
ENCODERS = ("pretrained", "random", "onehot", "hub")
DESIGN_BENCH = {
    "TFBind8-Exact-v0": "tf_bind_8_dataset.TFBind8Dataset",
    "TFBind10-Exact-v0": "tf_bind_10_dataset.TFBind10Dataset",
}
# design-bench's TFBind token ids in letters (A T C G: its LETTER_TO_ID, and the official BIB's char2idx); unverified
# against design-bench 2.0.20 here (not installable offline): check before a paper-scale run.
DESIGN_BENCH_LETTERS = "ATCG"


@dataclass(frozen=True)
class ExperimentConfig:
    """One scale's settings (defaults: the full CPU scale). Official design settings: 128 starts, T = 100,
    Adam lr 0.1, gamma0 = 0.5, gamma's Adam lr 0.1, 5 aux proxies, y_h = 10, init noise std 0.01.

    ``task``: ``synthetic`` (:meth:`Landscape.tfbind_like`), a design-bench task name, or a ``.npz`` file with
    an exhaustive table ``x`` (N, L) integer tokens in ACGT order and ``y`` (N,). ``landscape_seed`` (synthetic
    task): ``None`` draws a new landscape per run seed, so that the seeds sample landscapes (with one fixed
    landscape, the seeds only change the 0.01-std initial noise and the bootstrap of the auxiliary heads, the designs
    collapse onto the same few sequences and the seeds repeat one another); an int fixes one landscape.
    """

    task: str = "synthetic"
    length: int = 8
    motif_length: int = 6
    coupling: float = 0.1
    landscape_seed: int | None = None
    n_offline: int = 5000
    n_starts: int = 128
    steps: int = 100
    lr: float = 0.1
    gamma: float = 0.5
    gamma_lr: float = 0.1
    aux_heads: int = 5
    init_std: float = 0.01
    encoders: tuple[str, ...] = ("pretrained", "random", "onehot")
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    hub_model: str = "zhihan1996/DNA_bert_3"
    ga_epochs: int = 50
    cache_dir: str | None = DEFAULT_CACHE_DIR
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("length", "motif_length", "n_offline", "n_starts", "steps", "aux_heads", "ga_epochs"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr", "gamma_lr", "init_std"):
            check_positive(name, getattr(self, name))
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_non_negative("coupling", self.coupling)
        if not self.encoders or len(set(self.encoders)) != len(self.encoders):
            raise ValueError(f"encoders must be distinct names from {ENCODERS}, got {self.encoders}")
        for name in self.encoders:
            check_one_of("encoders", name, ENCODERS)
        if self.task == "synthetic":
            if self.n_offline > 4**self.length:
                raise ValueError(f"n_offline must be <= the 4^{self.length} sequences, got {self.n_offline}")
            if self.encoder.length != self.length:
                raise ValueError(f"encoder.length must equal length={self.length}, got {self.encoder.length}")
        if self.n_starts > self.n_offline:
            raise ValueError(f"n_starts must be <= n_offline={self.n_offline}, got {self.n_starts}")


def load_landscape(config: ExperimentConfig, seed: int = 0) -> Landscape:
    """The exhaustive table of ``config.task`` (class docstring); design-bench is imported only when named. The
    synthetic landscape's seed is ``config.landscape_seed``, else ``derive(seed, "landscape")`` of the run seed."""
    if config.task == "synthetic":
        drawn = derive(seed, "landscape") if config.landscape_seed is None else config.landscape_seed
        return Landscape.tfbind_like(config.length, config.motif_length, config.coupling, drawn)
    if config.task.endswith(".npz"):
        data = np.load(Path(config.task).expanduser())
        return Landscape.from_table(data["x"], data["y"])
    check_one_of("task", config.task, ("synthetic", *DESIGN_BENCH))
    import importlib

    module, name = DESIGN_BENCH[config.task].rsplit(".", 1)
    dataset = getattr(importlib.import_module(f"design_bench.datasets.discrete.{module}"), name)()
    to_acgt = np.array([ALPHABET.index(ch) for ch in DESIGN_BENCH_LETTERS])
    return Landscape.from_table(to_acgt[np.asarray(dataset.x)], dataset.y)  # the full table, not the task's split


def make_encoder(name: str, config: ExperimentConfig) -> tuple[torch.nn.Module, dict[str, float]]:
    """The encoder ``name`` (module docstring) on the config's device, and its pretraining info."""
    info: dict[str, float] = {}
    if name == "onehot":
        encoder = OneHotEncoder(config.length, config.encoder.k)
    elif name == "hub":
        encoder = hub_bert(config.hub_model, config.encoder.k)
    else:
        encoder, info = tiny_encoder(config.encoder, name == "pretrained", config.cache_dir)
    return encoder.to(config.device), info


def summarise(prefix: str, seqs: np.ndarray, landscape: Landscape, starts: np.ndarray) -> dict[str, float]:
    """Median/max/min normalised score of the final designs and their mean Hamming distance to the starts."""
    score = landscape.normalised(landscape(seqs[-1]))
    return {
        f"{prefix}/median": float(np.median(score)),
        f"{prefix}/max": float(score.max()),
        f"{prefix}/min": float(score.min()),
        f"{prefix}/distance": float((seqs[-1] != starts).sum(1).mean()),
    }


def median_per_step(seqs: np.ndarray, landscape: Landscape) -> list[float]:
    """The median normalised score of the designs after each step."""
    scores = landscape.normalised(landscape(seqs.reshape(-1, seqs.shape[-1]))).reshape(seqs.shape[:2])
    return np.median(scores, axis=1).tolist()


def run_arms(
    encoder: torch.nn.Module, task: OfflineTask, X0: torch.Tensor, config: ExperimentConfig, seed: int, name: str
) -> dict[str, DesignTrace]:
    """The five design arms of one encoder, from the same starting logits."""
    phi_l = encoder.embed_sequences(task.tokens)
    y = torch.as_tensor(task.y_std, device=phi_l.device)
    loss = BidirectionalLoss(phi_l, y)
    aux = AuxProxyEnsemble(phi_l, y, task.mean, task.std, config.aux_heads, derive(seed, "aux", name))
    common = {"steps": config.steps, "lr": config.lr, "gamma": config.gamma, "aux": aux, "gamma_lr": config.gamma_lr}
    settings = {
        "forward": {"mode": "forward"},
        "backward": {"mode": "backward"},
        "bdi": {"mode": "bdi"},
        "bib": {"mode": "bdi", "adaptive_gamma": True},
        "bib_eta": {"mode": "bdi", "adaptive_gamma": True, "adaptive_eta": True},
    }
    traces = {}
    for arm in ARMS:
        log.info("%s / %s: %d candidates x %d steps", name, arm, len(X0), config.steps)
        traces[arm] = design(encoder, loss, X0, **common, **settings[arm])
    return traces


def run(config: ExperimentConfig, seed: int) -> Result:
    """One seed of the experiment (module docstring)."""
    landscape = load_landscape(config, seed)
    task = OfflineTask(landscape, config.n_offline, config.n_starts)
    starts = task.starts
    X0 = init_designs(starts, derive(seed, "init"), config.init_std).to(config.device)
    start_score = landscape.normalised(landscape(starts))
    metrics = {"start/median": float(np.median(start_score)), "start/max": float(start_score.max())}
    series: dict[str, list[float]] = {}
    for name in config.encoders:
        encoder, info = make_encoder(name, config)
        metrics |= {f"{name}/pretrain_{k}": v for k, v in info.items() if k in ("first_loss", "final_loss")}
        for arm, trace in run_arms(encoder, task, X0, config, seed, name).items():
            metrics |= summarise(f"{name}/{arm}", trace.sequences, landscape, starts)
            metrics[f"{name}/{arm}/lf_first"] = float(trace.forward_loss[0])
            metrics[f"{name}/{arm}/lf_last"] = float(trace.forward_loss[-1])
            series[f"{name}/{arm}/median_per_step"] = median_per_step(trace.sequences, landscape)
            if arm in ("bib", "bib_eta"):
                metrics[f"{name}/{arm}/gamma_mean"] = float(trace.gamma[-1].mean())
                metrics[f"{name}/{arm}/gamma_shift"] = float(np.abs(trace.gamma - config.gamma).mean())
                metrics[f"{name}/{arm}/gamma_min"] = float(trace.gamma.min())
                metrics[f"{name}/{arm}/gamma_max"] = float(trace.gamma.max())
                series[f"{name}/{arm}/gamma_per_step"] = trace.gamma.mean(1).tolist()
            if arm == "bib_eta":
                metrics[f"{name}/{arm}/eta_shift"] = float(np.abs(trace.eta[1:] - config.lr).mean())
                series[f"{name}/{arm}/eta_per_step"] = trace.eta.mean(1).tolist()
    log.info("gradient ascent on an MLP proxy")
    proxy = fit_mlp_proxy(task.tokens, task.y_std, derive(seed, "ga"), epochs=config.ga_epochs).to(config.device)
    seqs = gradient_ascent(proxy, X0, config.steps, config.lr)
    metrics |= summarise("ga_mlp", seqs, landscape, starts)
    series["ga_mlp/median_per_step"] = median_per_step(seqs, landscape)
    return Result(metrics=metrics, series=series)
