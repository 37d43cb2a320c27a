"""The scale runners of dmm: ``run(config, seed) -> Result`` (one base seed = the whole pipeline).

Per base seed: N originals on S; M half-subset models -> datamodels beta; per forget set (test sets and, for
tuning, one separate set of the same kind and size each) N oracles on S \\ F (a second N for the test sets' noise
floor) and k OM oracles; every method applied to the N originals; KLoM(oracle || method) per eval point,
summarised per split (forget / retain / val). Each fine-tuning method's (lr, epochs) is the grid point with the
lowest forget-set KLoM p95 on its tuning set among those whose validation accuracy is within
``accuracy_slack`` of do-nothing's; the chosen point is then run on the test set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from paperzoo.dmm.datamodels import Datamodels, coherent_forget, fit_datamodels, half_subsets, random_forget
from paperzoo.dmm.klom import klom, klom_report, margins
from paperzoo.dmm.resnet import ResNet9, ResNet18, stack_states, train_folded
from paperzoo.dmm.stacked import outputs_stacked, repeat_models
from paperzoo.dmm.unlearn import (
    MatchConfig,
    ascent_descent,
    dm_direct,
    dmm_unlearn,
    gd_retain,
    gradient_ascent,
    om_unlearn,
    scrub,
)
from paperzoo.shared import Result
from paperzoo.shared.data import load_digits_split
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.testbeds.classify import MLP, load_images
from paperzoo.shared.torch.many import Params, train_many
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive_int, check_range

log = logging.getLogger(__name__)
SGD_METHODS = ("ga", "gd", "ascent_descent", "scrub")
MATCH_METHODS = ("dmm", "om")
METHODS = ("do_nothing", "dm_direct", *MATCH_METHODS, *SGD_METHODS)


@dataclass(frozen=True)
class Config:
    """One scale of the pipeline (defaults: the full CPU scale of the brief)."""

    n_train: int = 1000  # digits: 1,000 train / 797 val
    hidden: int = 64
    epochs: int = 30
    batch_size: int = 100
    lr: float = 0.05
    momentum: float = 0.9
    n_subset_models: int = 3000
    subset_fraction: float = 0.5
    ridges: tuple[float, ...] = (1e-3, 1e-2, 0.1, 1.0, 10.0)
    n_models: int = 64  # N originals, N oracles (and N more for the noise floor) per forget set
    n_om_oracles: int = 10
    # (name, kind, size): kind "random" or "coherent" (the top of the datamodels' first principal component; its
    # tuning twin is the bottom end)
    forget_sets: tuple[tuple[str, str, int], ...] = (
        ("random10", "random", 10),
        ("random100", "random", 100),
        ("coherent50", "coherent", 50),
    )
    kappa: float = 1.0
    match_lrs: tuple[float, ...] = (5e-4, 2e-3, 1e-2, 5e-2, 2e-1)  # 5e-4: the official default
    match_epochs: tuple[int, ...] = (5, 10, 20, 40, 80)  # 5: the official default
    sgd_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    sgd_epochs: tuple[int, ...] = (1, 2, 3, 5, 7, 10)
    ascent_epochs: int = 3
    unlearn_batch_size: int = 100
    forget_batch_size: int = 32
    accuracy_slack: float = 0.03
    bins: int = 20
    model_chunk: int = 0  # originals unlearned per call (0: all at once); bounds the fine-tuning's memory
    # Out-of-core datamodels: a folder for the subset models' eval outputs and beta as .npy files on disk (""
    # keeps them in memory) and the targets fitted per block (0: all at once); see fit_datamodels.
    store_dir: str = ""
    target_chunk: int = 0
    workers: int = 1  # processes the forget sets of a seed run on (paperzoo.shared.parallel.run_jobs)
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in (
            "n_train",
            "hidden",
            "epochs",
            "batch_size",
            "n_subset_models",
            "n_models",
            "n_om_oracles",
            "workers",
        ):
            check_positive_int(name, getattr(self, name))
        check_range("subset_fraction", self.subset_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        check_non_negative("kappa", self.kappa)
        check_positive_int("bins", self.bins)
        check_non_negative("model_chunk", self.model_chunk)
        check_non_negative("target_chunk", self.target_chunk)
        if not self.forget_sets or len({f[0] for f in self.forget_sets}) != len(self.forget_sets):
            raise ValueError("forget_sets must be non-empty with distinct names")
        for _, kind, size in self.forget_sets:
            check_one_of("forget_sets kind", kind, ("random", "coherent"))
            check_positive_int("forget_sets size", size)
        for name in ("match_lrs", "match_epochs", "sgd_lrs", "sgd_epochs"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be non-empty")

    @property
    def tune(self) -> bool:
        """Whether any grid has more than one point (then each method is tuned on a separate forget set)."""
        return any(len(g) > 1 for g in (self.match_lrs, self.match_epochs, self.sgd_lrs, self.sgd_epochs))


PAPER_DATASETS = {"cifar10": 10, "living17": 17}  # data set -> classes (ResNet-9 on CIFAR-10, ResNet-18 on Living-17)


@dataclass(frozen=True)
class PaperConfig(Config):
    """The paper scale: CIFAR-10 and ResNet-9 (:class:`paperzoo.dmm.resnet.ResNet9`), or Living-17 and ResNet-18
    (:class:`paperzoo.dmm.resnet.ResNet18`), by ``dataset``.

    CIFAR-10: ``data`` is the path of a ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``: uint8 images
    (N, 32, 32, 3) and labels, as :func:`paperzoo.shared.testbeds.classify.load_images` reads them), or
    ``"cifar10"``: torchvision's, downloaded into ``data_dir``, only with ``allow_download``. Living-17 (the BREEDS
    ImageNet subset; never downloaded): ``data`` is a folder with ``train/<class>/`` and ``val/<class>/`` images
    (torchvision ``ImageFolder``; resized on the shorter side and centre-cropped to ``image_size``) or a ``.npz`` of
    uint8 (N, image_size, image_size, 3) arrays under the CIFAR keys (:func:`load_living17`). The first ``n_train``
    training images form S; the test / val images are the validation points. ``hidden`` is unused. The training
    recipe defaults to data-unlearning-bench's ``train_cifar10`` (:func:`paperzoo.dmm.resnet.train_folded`)."""

    dataset: str = "cifar10"
    data: str = "~/.cache/paperzoo/cifar10.npz"
    data_dir: str = "~/.cache/paperzoo/cifar10"
    allow_download: bool = False
    width: int = 64  # ResNet-9 only
    image_size: int = 224  # Living-17 only
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    nesterov: bool = False
    flip: bool = False
    peak_epoch: float = 5.0
    eval_batch: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        check_one_of("dataset", self.dataset, tuple(PAPER_DATASETS))
        check_positive_int("width", self.width)
        check_positive_int("image_size", self.image_size)
        check_positive_int("eval_batch", self.eval_batch)
        check_non_negative("weight_decay", self.weight_decay)
        check_range("label_smoothing", self.label_smoothing, 0.0, 1.0, high_inclusive=False)
        if self.dataset == "living17":
            if self.data == "cifar10":
                raise ValueError("data must be a Living-17 folder or .npz for dataset='living17', got 'cifar10'")
        elif self.data == "cifar10":
            if not self.allow_download:
                raise ValueError("data='cifar10' downloads CIFAR-10: set allow_download=True or give a .npz path")
        elif not self.data.endswith(".npz"):
            raise ValueError(f"data must be 'cifar10' or the path of a .npz file, got {self.data!r}")

    @property
    def classes(self) -> int:
        """The number of classes of ``dataset``."""
        return PAPER_DATASETS[self.dataset]

    def network(self, norm: str) -> torch.nn.Module:
        """The paper network of ``dataset`` (``norm`` "batch" to train, "affine" for the folded twin)."""
        if self.dataset == "living17":
            return ResNet18(self.classes, norm, self.eval_batch)
        return ResNet9(self.width, self.classes, norm, self.eval_batch)


def train_mlps(setting: Setting, seeds: list[int], rows: torch.Tensor, chunk: int = 1000) -> Params:
    """MLPs trained by the config's SGD recipe on ``rows`` (``[M, n]`` train indices), stacked, ``chunk`` at a time."""
    c, d = setting.config, setting.data
    parts = [
        train_many(
            lambda: MLP(64, c.hidden, 10),
            seeds[i : i + chunk],
            rows[i : i + chunk],
            d["x_train"],
            d["y_train"],
            epochs=c.epochs,
            batch_size=c.batch_size,
            lr=c.lr,
            momentum=c.momentum,
        )
        for i in range(0, len(seeds), chunk)
    ]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def train_networks(setting: Setting, seeds: list[int], rows: torch.Tensor) -> Params:
    """The paper networks (BatchNorm) trained one at a time on ``rows``, folded and stacked
    (:mod:`paperzoo.dmm.resnet`)."""
    c, d = setting.config, setting.data
    recipe = {
        "epochs": c.epochs,
        "batch_size": c.batch_size,
        "lr": c.lr,
        "momentum": c.momentum,
        "nesterov": c.nesterov,
        "weight_decay": c.weight_decay,
        "label_smoothing": c.label_smoothing,
        "peak_epoch": c.peak_epoch,
        "flip": c.flip,
    }
    states = []
    for seed, row in zip(seeds, rows, strict=True):
        row = row.to(d["x_train"].device)
        states.append(train_folded(lambda: c.network("batch"), seed, d["x_train"][row], d["y_train"][row], **recipe))
    return stack_states(states)


@dataclass
class Setting:
    """What one base seed shares across forget sets; ``trainer(setting, seeds, rows)`` trains models from scratch."""

    config: Config
    seed: int
    data: dict[str, torch.Tensor]
    template: torch.nn.Module
    originals: Params
    datamodels: Datamodels | None = None
    timings: dict[str, float] = field(default_factory=dict)
    trainer: Callable[[Setting, list[int], torch.Tensor], Params] = train_mlps


def load_data(n_train: int) -> dict[str, torch.Tensor]:
    """scikit-learn's digits: ``n_train`` train rows, the rest validation, standardised by the train statistics;
    ``x_eval``/``y_eval`` = train then val (the eval points of KLoM and of the datamodels)."""
    split = load_digits_split(test_fraction=(1797 - n_train - 0.5) / 1797, val_fraction=0.0, split_seed=0)
    x_tr, x_va = split.x_train.reshape(-1, 64), split.x_test.reshape(-1, 64)
    mean, std = x_tr.mean(0), x_tr.std(0)
    std = np.where(std > 0, std, 1.0)
    x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    t = {
        "x_train": torch.tensor(x_tr, dtype=torch.float32),
        "y_train": torch.from_numpy(split.y_train),
        "x_val": torch.tensor(x_va, dtype=torch.float32),
        "y_val": torch.from_numpy(split.y_test),
    }
    t["x_eval"] = torch.cat([t["x_train"], t["x_val"]])
    t["y_eval"] = torch.cat([t["y_train"], t["y_val"]])
    return t


def load_cifar(config: PaperConfig) -> dict[str, torch.Tensor]:
    """CIFAR-10 in [0, 1] (N, 3, 32, 32) on the config's device: the first ``n_train`` training images, the test
    images as validation; ``x_eval``/``y_eval`` = train then val."""
    source = config.data if config.data == "cifar10" else str(Path(config.data).expanduser())
    images = load_images(source, config.data_dir, config.device)
    if len(images["x_train"]) < config.n_train:
        raise ValueError(f"n_train = {config.n_train} exceeds the {len(images['x_train'])} training images")
    t = {"x_train": images["x_train"][: config.n_train], "y_train": images["y_train"][: config.n_train]}
    t |= {"x_val": images["x_val"], "y_val": images["y_val"]}
    t["x_eval"] = torch.cat([t["x_train"], t["x_val"]])
    t["y_eval"] = torch.cat([t["y_train"], t["y_val"]]).cpu()
    t["y_val"] = t["y_val"].cpu()
    return t


def load_living17(config: PaperConfig) -> dict[str, torch.Tensor]:
    """Living-17 as uint8 (N, 3, S, S) images (S = ``image_size``; :class:`paperzoo.dmm.resnet.ResNet18` scales and
    normalises them) on the config's device, from an ``ImageFolder`` tree (``train/`` and ``val/``, the same class
    folders; labels = the sorted folder names) or a ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).
    The first ``n_train`` training images, the val images as validation; ``x_eval``/``y_eval`` = train then val."""
    path = Path(config.data).expanduser()
    size = config.image_size
    if path.suffix == ".npz":
        with np.load(path) as file:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(file.files)
            if missing:
                raise ValueError(f"{path} lacks the array(s) {sorted(missing)}")
            arrays = {k: file[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        images = {}
        for split in ("train", "test"):
            x = arrays[f"x_{split}"]
            if x.dtype != np.uint8 or x.shape[1:] != (size, size, 3) or len(x) != len(arrays[f"y_{split}"]):
                raise ValueError(
                    f"x_{split} must be uint8 (N, {size}, {size}, 3) images matching y_{split}, got {x.shape}"
                )
            images[split] = (
                torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
                torch.as_tensor(arrays[f"y_{split}"]),
            )
    elif path.is_dir():
        import torchvision
        from torchvision import transforms

        crop = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
        images, classes = {}, []
        for split, folder in (("train", "train"), ("test", "val")):
            tree = torchvision.datasets.ImageFolder(path / folder, transform=crop)
            classes.append(tree.classes)
            images[split] = (torch.stack([tree[i][0] for i in range(len(tree))]), torch.tensor(tree.targets))
        if classes[0] != classes[1]:
            raise ValueError(f"{path}: train/ and val/ must hold the same class folders")
    else:
        raise ValueError(f"data must be a Living-17 folder (train/, val/) or a .npz file, got {config.data!r}")
    (x_tr, y_tr), (x_va, y_va) = images["train"], images["test"]
    if len(x_tr) < config.n_train:
        raise ValueError(f"n_train = {config.n_train} exceeds the {len(x_tr)} training images")
    if int(max(y_tr.max(), y_va.max())) >= config.classes:
        raise ValueError(f"labels must lie in [0, {config.classes}) for dataset={config.dataset!r}")
    dev = config.device
    t = {"x_train": x_tr[: config.n_train].to(dev), "y_train": y_tr[: config.n_train].long().to(dev)}
    t |= {"x_val": x_va.to(dev), "y_val": y_va.long()}
    t["x_eval"] = torch.cat([t["x_train"], t["x_val"]])
    t["y_eval"] = torch.cat([t["y_train"].cpu(), t["y_val"]])
    return t


def train_models(setting: Setting, seeds: list[int], rows: torch.Tensor) -> Params:
    """Models trained from scratch on ``rows`` (``[M, n]`` train indices) by the setting's trainer."""
    return setting.trainer(setting, seeds, rows)


def build_setting(config: Config, seed: int) -> Setting:
    """Data, the N originals and the datamodels of one base seed (digits, MLPs)."""
    torch.manual_seed(derive(seed, "torch"))
    data = load_data(config.n_train)
    return fit_setting(Setting(config, seed, data, MLP(64, config.hidden, 10), {}))


def fit_setting(setting: Setting) -> Setting:
    """Train the N originals and the half-subset models, fit the datamodels."""
    config, seed, n = setting.config, setting.seed, setting.config.n_train
    t0 = time.perf_counter()
    setting.originals = train_models(
        setting,
        [derive(seed, "original", j) for j in range(config.n_models)],
        torch.arange(n).expand(config.n_models, n),
    )
    setting.timings["originals_s"] = time.perf_counter() - t0
    masks = half_subsets(config.n_subset_models, n, config.subset_fraction, derive(seed, "subsets"))
    rows = torch.stack([m.nonzero().squeeze(1) for m in masks])
    t0 = time.perf_counter()
    seeds = [derive(seed, "subset", j) for j in range(config.n_subset_models)]
    chunk = config.model_chunk or config.n_subset_models  # only the outputs of a chunk's models are kept
    parts = (
        eval_logits(setting, train_models(setting, seeds[i : i + chunk], rows[i : i + chunk]))
        for i in range(0, len(seeds), chunk)
    )
    store = Path(config.store_dir).expanduser() if config.store_dir else None
    outputs = (
        torch.cat(list(parts)) if store is None else write_blocks(parts, len(seeds), store / f"outputs-{seed}.npy")
    )
    del rows  # [M, n / 2] int64: 4 GB at the CIFAR-10 paper size
    setting.timings["subset_models_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = None
    if store is not None:
        out = np.lib.format.open_memmap(store / f"beta-{seed}.npy", "w+", np.float32, (n, *outputs.shape[1:]))
    setting.datamodels = fit_datamodels(masks, outputs, config.ridges, target_chunk=config.target_chunk, out=out)
    setting.timings["datamodel_fit_s"] = time.perf_counter() - t0
    return setting


def write_blocks(parts: Iterable[torch.Tensor], rows: int, path: Path) -> np.ndarray:
    """The concatenation of ``parts`` (``[m_j, ...]`` blocks whose first axes sum to ``rows``) written block by block
    into a float32 ``.npy`` file, returned as a read-only memory map of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array, filled = None, 0
    for part in parts:
        if array is None:
            array = np.lib.format.open_memmap(path, "w+", np.float32, (rows, *part.shape[1:]))
        array[filled : filled + len(part)] = part.to(torch.float32).numpy()
        filled += len(part)
    if array is None or filled != rows:
        raise ValueError(f"the blocks hold {filled} rows, expected {rows}")
    array.flush()
    return np.load(path, mmap_mode="r")


def forget_sets(setting: Setting) -> list[tuple[str, torch.Tensor, torch.Tensor | None]]:
    """(name, test set, tuning set or None) per configured forget set; a tuning set never overlaps its test set."""
    out = []
    n, seed = setting.config.n_train, setting.seed
    for name, kind, size in setting.config.forget_sets:
        if kind == "random":
            test = random_forget(n, size, derive(seed, "forget", name))
            tune = random_forget(n, size, derive(seed, "tune", name), exclude=test)
        else:
            chunk = setting.config.target_chunk
            test = coherent_forget(setting.datamodels, size, "top", chunk=chunk)
            tune = coherent_forget(setting.datamodels, size, "bottom", exclude=test, chunk=chunk)
        out.append((name, test, tune if setting.config.tune else None))
    return out


def oracles(setting: Setting, forget: torch.Tensor, tag: str, count: int) -> Params:
    """``count`` models trained from scratch on S \\ F under seeds derived from ``tag``."""
    keep = torch.ones(setting.config.n_train, dtype=torch.bool)
    keep[forget] = False
    retain = keep.nonzero().squeeze(1)
    seeds = [derive(setting.seed, "oracle", tag, j) for j in range(count)]
    return train_models(setting, seeds, retain.expand(count, -1))


def reference_and_targets(
    setting: Setting, forget: torch.Tensor, tag: str, groups: int
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``groups`` independent sets of N oracles' eval margins (the KLoM reference; a second set gives the noise
    floor) and the OM target (the mean training-point logits of k more oracles), trained as one stack."""
    c = setting.config
    stack = oracles(setting, forget, tag, groups * c.n_models + c.n_om_oracles)
    split = groups * c.n_models
    marg = margins(eval_logits(setting, {k: v[:split] for k, v in stack.items()}), setting.data["y_eval"])
    om = outputs_stacked(setting.template, {k: v[split:] for k, v in stack.items()}, setting.data["x_train"])
    return list(marg.split(c.n_models)), om.mean(0)


def evaluate(setting: Setting, logits: torch.Tensor, oracle_margins: np.ndarray, forget: torch.Tensor) -> dict:
    """KLoM(oracle || method) per split, and the validation accuracy, of eval logits ``[N, n_eval, C]``."""
    d, n = setting.data, setting.config.n_train
    keep = np.ones(n, dtype=bool)
    keep[forget.numpy()] = False
    splits = {"forget": forget.numpy(), "retain": np.flatnonzero(keep), "val": np.arange(n, len(d["y_eval"]))}
    report = klom_report(oracle_margins, margins(logits, d["y_eval"]).numpy(), splits, setting.config.bins)
    report["val_accuracy"] = float((logits[:, n:].argmax(-1) == d["y_val"]).float().mean())
    return report


def eval_logits(setting: Setting, params: Params) -> torch.Tensor:
    """Every model's logits on the eval points (train then val), ``[M, n_eval, C]``, on the CPU, ``model_chunk``
    models at a time (0: 256)."""
    chunk = setting.config.model_chunk or 256
    return outputs_stacked(setting.template, params, setting.data["x_eval"], chunk).cpu()


def method_grid(setting: Setting, method: str, forget: torch.Tensor, om_targets: torch.Tensor, lrs, epochs):
    """``{(lr, epochs): eval logits [N, n_eval, C]}`` of a fine-tuning method over a grid, ``model_chunk`` originals
    at a time (0: all)."""
    n_models = setting.config.n_models
    chunk = setting.config.model_chunk or n_models
    parts = [
        chunk_grid(
            setting,
            {k: v[i : i + chunk] for k, v in setting.originals.items()},
            method,
            forget,
            om_targets,
            lrs,
            epochs,
        )
        for i in range(0, n_models, chunk)
    ]
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def chunk_grid(setting: Setting, originals: Params, method, forget, om_targets, lrs, epochs) -> dict:
    """:func:`method_grid` on the stacked ``originals`` (one stack for the SGD methods' learning-rate grid, one stack
    per learning rate for the Adam matching loop)."""
    c, d, tpl = setting.config, setting.data, setting.template
    x, y, n_models = d["x_train"], d["y_train"], next(iter(originals.values())).shape[0]
    results = {}
    if method in MATCH_METHODS:
        for lr in lrs:
            mc = MatchConfig(lr=lr, epochs=max(epochs))
            if method == "dmm":
                effect = setting.datamodels.group_effect(forget)[: c.n_train].to(x.device)
                saved, _ = dmm_unlearn(tpl, originals, x, forget, effect, c.kappa, mc, epochs)
            else:
                saved, _ = om_unlearn(tpl, originals, x, forget, om_targets, mc, epochs)
            results |= {(lr, e): eval_logits(setting, p) for e, p in saved.items()}
        return results
    stack = repeat_models(originals, len(lrs))
    rates = torch.tensor(lrs, dtype=torch.float32).repeat(n_models).to(x.device)
    common = {"lr": rates, "epochs": tuple(epochs)}
    batches = {"batch_size": c.unlearn_batch_size, "forget_batch_size": c.forget_batch_size}
    if method == "ga":
        saved = gradient_ascent(tpl, stack, x, y, forget, forget_batch_size=c.forget_batch_size, **common)
    elif method == "gd":
        saved = gd_retain(tpl, stack, x, y, forget, batch_size=c.unlearn_batch_size, **common)
    elif method == "ascent_descent":
        saved = ascent_descent(tpl, stack, x, y, forget, ascent_epochs=c.ascent_epochs, **batches, **common)
    else:
        saved = scrub(tpl, stack, x, y, forget, ascent_epochs=c.ascent_epochs, **batches, **common)
    for e, p in saved.items():
        logits = eval_logits(setting, p)
        logits = logits.reshape(n_models, len(lrs), *logits.shape[1:])
        results |= {(lr, e): logits[:, i] for i, lr in enumerate(lrs)}
    return results


def tune(setting: Setting, forget: torch.Tensor, name: str) -> dict[str, tuple[float, int]]:
    """Each fine-tuning method's (lr, epochs) on the tuning set ``forget``: the lowest forget KLoM p95 among the grid
    points whose validation accuracy is within ``accuracy_slack`` of do-nothing's."""
    c = setting.config
    (reference,), om_targets = reference_and_targets(setting, forget, f"tune-{name}", 1)
    base_acc = evaluate(setting, eval_logits(setting, setting.originals), reference.numpy(), forget)["val_accuracy"]
    chosen = {}
    for method in (*MATCH_METHODS, *SGD_METHODS):
        lrs, epochs = (c.match_lrs, c.match_epochs) if method in MATCH_METHODS else (c.sgd_lrs, c.sgd_epochs)
        scores = {}
        for key, logits in method_grid(setting, method, forget, om_targets, lrs, epochs).items():
            report = evaluate(setting, logits, reference.numpy(), forget)
            ok = report["val_accuracy"] >= base_acc - c.accuracy_slack
            scores[key] = report["forget_p95"] if ok else np.inf
        chosen[method] = min(scores, key=lambda k: (scores[k], k))
        log.info("tuned %s on %s: lr %g, %d epochs", method, name, *chosen[method])
    return chosen


def run_forget_set(setting: Setting, name: str, forget: torch.Tensor, tune_set: torch.Tensor | None) -> dict:
    """Every method on one test forget set, its noise floor, the chosen hyperparameters and the DMM mechanism."""
    c, d = setting.config, setting.data
    chosen = (
        tune(setting, tune_set, name)
        if tune_set is not None
        else {
            m: (c.match_lrs[0], c.match_epochs[0]) if m in MATCH_METHODS else (c.sgd_lrs[0], c.sgd_epochs[0])
            for m in (*MATCH_METHODS, *SGD_METHODS)
        }
    )
    (reference, oracle_b), om_targets = reference_and_targets(setting, forget, name, 2)
    reference, oracle_b = reference.numpy(), oracle_b.numpy()
    base = eval_logits(setting, setting.originals)
    logits = {"do_nothing": base, "dm_direct": dm_direct(base, setting.datamodels.group_effect(forget), c.kappa)}
    for method in (*MATCH_METHODS, *SGD_METHODS):
        lr, epochs = chosen[method]
        logits[method] = method_grid(setting, method, forget, om_targets, (lr,), (epochs,))[(lr, epochs)]
    out: dict[str, float] = {}
    kloms = [klom(reference, oracle_b, c.bins)]
    for method, z in logits.items():
        out |= {f"{name}/{method}/{k}": v for k, v in evaluate(setting, z, reference, forget).items()}
        kloms.append(klom(reference, margins(z, d["y_eval"]).numpy(), c.bins))
        if method in chosen:
            out[f"{name}/{method}/lr"], out[f"{name}/{method}/epochs"] = chosen[method]
    keep = np.ones(c.n_train, dtype=bool)
    keep[forget.numpy()] = False
    splits = {"forget": forget.numpy(), "retain": np.flatnonzero(keep), "val": np.arange(c.n_train, len(d["y_eval"]))}
    out |= {f"{name}/noise_floor/{k}": v for k, v in klom_report(reference, oracle_b, splits, c.bins).items()}
    out[f"{name}/om_x3/forget_p95"] = 3 * out[f"{name}/om/forget_p95"]
    out[f"{name}/klom_min"] = float(min(k.min() for k in kloms))
    # The mechanism: DMM's squared error to f_hat on F (mean over models, points, classes) before and after.
    target = dm_direct(base[:, : c.n_train][:, forget], setting.datamodels.group_effect(forget)[forget], c.kappa)
    after = logits["dmm"][:, : c.n_train][:, forget]
    before_mse = float((base[:, : c.n_train][:, forget] - target).pow(2).mean())
    out[f"{name}/dmm/forget_mse_drop"] = 1 - float((after - target).pow(2).mean()) / max(before_mse, 1e-12)
    return out


def forget_set_job(setting: Setting, name: str, forget: torch.Tensor, tune_set: torch.Tensor | None) -> dict:
    """:func:`run_forget_set` as a job of :func:`paperzoo.shared.parallel.run_jobs`; a worker process runs it on one
    thread, as :func:`run` does, so its numbers equal the in-process ones bit for bit (nothing in it draws from the
    global random state: every model's seed is derived from the base seed)."""
    if setting.config.workers > 1:
        torch.set_num_threads(1)
    log.info("forget set %s (%d points)", name, len(forget))
    return run_forget_set(setting, name, forget, tune_set)


def time_requests(setting: Setting, forget: torch.Tensor) -> dict[str, float]:
    """One DMM request (one model, the official defaults) vs retraining one oracle on S \\ F, same process."""
    c = setting.config
    one = {k: v[:1] for k, v in setting.originals.items()}
    effect = setting.datamodels.group_effect(forget)[: c.n_train].to(setting.data["x_train"].device)
    t0 = time.perf_counter()
    dmm_unlearn(setting.template, one, setting.data["x_train"], forget, effect, c.kappa, MatchConfig())
    request = time.perf_counter() - t0
    t0 = time.perf_counter()
    oracles(setting, forget, "timing", 1)
    retrain = time.perf_counter() - t0
    return {"perf/dmm_request_s": request, "perf/retrain_s": retrain, "perf/dmm_vs_retrain": request / retrain}


def run(config: Config, seed: int) -> Result:
    """The whole pipeline for one base seed (digits, MLPs): every method's KLoM per forget set and split."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    return run_pipeline(build_setting(config, seed), start)


def run_pipeline(setting: Setting, start: float) -> Result:
    """Every method's KLoM per forget set and split, the speed figures, on a built setting."""
    config = setting.config
    metrics: dict[str, float] = {}
    jobs = [(forget_set_job, (setting, name, test, tune_set)) for name, test, tune_set in forget_sets(setting)]
    for part in run_jobs(jobs, min(config.workers, len(jobs)), desc=f"forget sets, seed {setting.seed}"):
        metrics |= part
    metrics |= time_requests(setting, forget_sets(setting)[0][1])
    retrain_equiv = config.n_subset_models * config.subset_fraction
    metrics["perf/datamodel_retrain_equivalents"] = retrain_equiv
    metrics["perf/datamodel_s"] = setting.timings["subset_models_s"] + setting.timings["datamodel_fit_s"]
    metrics["datamodels/median_ridge"] = float(setting.datamodels.ridge.median())
    metrics["perf/pipeline_s"] = time.perf_counter() - start
    return Result(metrics=metrics)


def run_paper(config: PaperConfig, seed: int) -> Result:
    """The paper's setting: CIFAR-10 (:func:`load_cifar`) with ResNet-9s, or Living-17 (:func:`load_living17`) with
    ResNet-18s, trained one at a time with BatchNorm and folded for the stacked unlearning loops
    (:mod:`paperzoo.dmm.resnet`); otherwise the pipeline of :func:`run`."""
    start = time.perf_counter()
    torch.manual_seed(derive(seed, "torch"))
    data = load_living17(config) if config.dataset == "living17" else load_cifar(config)
    template = config.network("affine").to(config.device)
    setting = Setting(config, seed, data, template, {}, trainer=train_networks)
    return run_pipeline(fit_setting(setting), start)
