"""The scale runners of FedAU.

- :func:`run_smoke`: the exact quadratic toy (F_n(x) = 1/2 ||x - c_n||^2, c_n tied to the client's label mixture),
  Bernoulli participation: FedAU, known_prob and avg_participating on one participation draw.
- :func:`run_full`: a Gaussian-mixture classifier on Dirichlet shards; every arm x pattern on common participation
  and minibatch draws; each arm's local step size gamma chosen under Bernoulli on a separate tuning draw (the tuning
  is computed once per process and config and reused by every seed).
- :func:`run_paper`: the official CIFAR-10 setting (CNN, N = 250, 10,000 rounds, the official gamma and eta).

Every seed and key is derived from the run's seed by name (:func:`paperzoo.shared.seeding.derive`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from paperzoo.fedau.federated import RunSpec, batch_plan, simulate
from paperzoo.fedau.participation import ParticipationSampler, participation_probs, partition_dirichlet
from paperzoo.fedau.problems import Classification, Quadratic, gaussian_mixture, mlp
from paperzoo.shared import Result
from paperzoo.shared.cache import config_key
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure

# arm -> (aggregator, cutoff K)
ARMS = {
    "fedau": ("fedau", math.inf),
    "fedau_k50": ("fedau", 50),
    "known_prob": ("known_prob", math.inf),
    "avg_participating": ("avg_participating", math.inf),
    "avg_all": ("avg_all", math.inf),
    "fedvarp": ("fedvarp", math.inf),
    "mifa": ("mifa", math.inf),
}


def pattern_key(pattern: str) -> str:
    """The metric-name form of a pattern: ``"markov-0.05"`` -> ``"markov"``."""
    return pattern.partition("-")[0]


def _federation(config: Any, labels: np.ndarray, key: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(derive(key, "partition"))
    clients, freq = partition_dirichlet(labels, config.n_clients, config.alpha_data, rng)
    probs = participation_probs(
        freq, np.random.default_rng(derive(key, "probs")), config.alpha_p, config.p_mean, config.p_min
    )
    return clients, probs


def _participation(config: Any, probs: np.ndarray, key: int) -> dict[str, np.ndarray]:
    return {
        p: ParticipationSampler(p, probs, np.random.default_rng(derive(key, "participation", p))).sample(config.rounds)
        for p in config.patterns
    }


# ------------------------------------------------------------------------------------------------ smoke
def run_smoke(config: Any, seed: int) -> Result:
    """The quadratic toy: distance of x_t to the optimum mean_n c_n, and FedAU's learned weights vs 1/p_n."""
    configure(threads=1)
    rng = np.random.default_rng(derive(seed, "centers"))
    # label mixtures stand in for the data: c_n = pi_n A with class centres A ~ N(0, I)
    mixtures = rng.dirichlet(config.alpha_data * np.ones(config.n_classes), config.n_clients)
    centers = torch.from_numpy(mixtures @ rng.normal(size=(config.n_classes, config.dim)))
    probs = participation_probs(
        mixtures, np.random.default_rng(derive(seed, "probs")), config.alpha_p, config.p_mean, config.p_min
    )
    participation = _participation(config, probs, seed)
    problem = Quadratic(centers, config.q)
    runs = [RunSpec(a, config.patterns[0], config.gamma) for a in config.arms]
    history = simulate(
        runs,
        torch.zeros(config.dim, dtype=torch.float64),
        participation,
        problem.local_step,
        problem.distance,
        range(1, config.rounds + 1),
        probs,
    )
    tail = history.values["distance"][-config.tail :].mean(0)
    metrics = {f"{a}/distance": float(d) for a, d in zip(config.arms, tail, strict=True)}
    counts = participation[config.patterns[0]].sum(0)
    often = counts >= config.min_participations
    omega = history.aggregators[config.arms.index("fedau")].weights.omega
    rel = np.abs(omega * probs - 1)[often]
    metrics["fedau/omega_median_rel_error"] = float(np.median(rel))
    metrics["fedau/omega_within_10pct"] = float(np.mean(rel <= 0.1))
    metrics["fedau/clients_scored"] = float(often.sum())
    metrics["fedau/distance_ratio"] = metrics["fedau/distance"] / metrics["avg_participating/distance"]
    series = {f"{a}/distance": history.values["distance"][:, i].tolist() for i, a in enumerate(config.arms)}
    return Result(metrics=metrics, series=series)


# ------------------------------------------------------------------------------------------------ full
def _mixture_problem(config: Any, key: int) -> tuple[Classification, np.ndarray, list[np.ndarray]]:
    x, y, x_test, y_test = gaussian_mixture(
        config.n_train,
        config.n_test,
        config.dim,
        config.n_classes,
        config.spread,
        np.random.default_rng(derive(key, "data")),
    )
    clients, probs = _federation(config, y.numpy(), key)
    factory = mlp(config.dim, config.hidden, config.n_classes)
    return Classification(factory, x, y, clients, x_test, y_test, derive(key, "init")), probs, clients


def _simulate_arms(
    config: Any,
    problem: Classification,
    probs: np.ndarray,
    clients: list[np.ndarray],
    key: int,
    runs: list[tuple[str, str, float]],
    eval_rounds: list[int],
    desc: str = "",
) -> tuple[Any, dict[str, np.ndarray]]:
    """Run (arm, pattern, gamma) triples on one draw of participation and minibatches."""
    participation = _participation(config, probs, key)
    plans = {
        p: batch_plan(clients, participation[p], config.q, config.b, np.random.default_rng(derive(key, "batches", p)))
        for p in config.patterns
    }
    specs = [RunSpec(ARMS[a][0], p, g, config.etas.get(a, 1.0), ARMS[a][1]) for a, p, g in runs]
    return simulate(
        specs, problem.x0(), participation, problem.local_step, problem.evaluate, eval_rounds, probs, plans, desc
    ), participation


def _eval_rounds(config: Any) -> list[int]:
    return list(range(config.eval_every, config.rounds + 1, config.eval_every))


_TUNED: dict[str, dict[str, tuple[float, float]]] = {}


def tune(config: Any) -> dict[str, tuple[float, float]]:
    """Per arm: the gamma of ``config.gamma_grid`` with the lowest final objective (1/N) sum F_n under
    ``config.tune_pattern`` on the tuning draw (its own data, federation and participation, from
    ``config.tune_seed``), and whether it lies at an edge of the grid. One gamma per arm for every pattern, as the
    official per-method settings. Computed once per process and config (the seeds of a scale share it)."""
    key = config_key(dataclasses.asdict(config))
    if key not in _TUNED:
        _TUNED[key] = _tune(config)
    return _TUNED[key]


def _tune(config: Any) -> dict[str, tuple[float, float]]:
    key = derive(config.tune_seed, "tuning")
    problem, probs, clients = _mixture_problem(config, key)
    tuning = dataclasses.replace(config, patterns=(config.tune_pattern,))
    runs = [(a, config.tune_pattern, g) for a in config.arms for g in config.gamma_grid]
    last = _eval_rounds(config)[-config.last_evals :]
    history, _ = _simulate_arms(tuning, problem, probs, clients, key, runs, last, "tuning gamma")
    loss = history.values["train_loss"].mean(0).reshape(len(config.arms), len(config.gamma_grid))
    best = np.argmin(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    edges = (0, len(config.gamma_grid) - 1)
    return {a: (config.gamma_grid[int(b)], float(int(b) in edges)) for a, b in zip(config.arms, best, strict=True)}


def _classification_metrics(
    config: Any,
    history: Any,
    runs: list[tuple[str, str, float]],
    probs: np.ndarray,
    participation: dict[str, np.ndarray],
) -> tuple[dict[str, float], dict[str, list[float]]]:
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {"rounds": [float(r) for r in history.rounds]}
    for i, (arm, pattern, _) in enumerate(runs):
        name = f"{arm}/{pattern_key(pattern)}"
        for q in ("train_loss", "pooled_train_loss", "test_accuracy"):
            metrics[f"{name}/{q}"] = float(history.values[q][-config.last_evals :, i].mean())
        series[f"{name}/train_loss"] = history.values["train_loss"][:, i].tolist()
        if arm.startswith("fedau"):
            omega = history.aggregators[i].weights.omega
            often = participation[pattern].sum(0) >= 2  # at least one recorded participation interval
            metrics[f"{name}/omega_median_rel_error"] = float(np.median(np.abs(omega * probs - 1)[often]))
            metrics[f"{name}/omega_max"] = float(omega.max())
            if arm == "fedau":
                series[f"{name}/omega"] = omega.tolist()
        metrics[f"{arm}/state_bytes"] = float(history.aggregators[i].state_bytes())
    series["inverse_p"] = (1 / probs).tolist()
    return metrics, series


def _configure_cpu() -> None:
    """One thread; subnormal floats flushed to zero (confident softmaxes underflow into subnormals, which make
    CPU arithmetic many times slower late in training)."""
    configure(threads=1)
    torch.set_flush_denormal(True)


def run_full(config: Any, seed: int) -> Result:
    """One seed of the full scale: every arm on every pattern with its tuned gamma."""
    _configure_cpu()
    start = time.perf_counter()
    chosen = tune(config)
    problem, probs, clients = _mixture_problem(config, seed)
    runs = [(a, p, chosen[a][0]) for p in config.patterns for a in config.arms]
    history, participation = _simulate_arms(
        config, problem, probs, clients, seed, runs, _eval_rounds(config), f"seed {seed}"
    )
    metrics, series = _classification_metrics(config, history, runs, probs, participation)
    for a, (gamma, edge) in chosen.items():
        metrics[f"{a}/gamma"] = gamma
        metrics[f"{a}/gamma_at_edge"] = edge
    metrics["run/participation_mean"] = float(probs.mean())
    metrics["run/wall_s"] = time.perf_counter() - start
    return Result(metrics=metrics, series=series)


# ------------------------------------------------------------------------------------------------ paper
def run_paper(config: Any, seed: int) -> Result:
    """The official CIFAR-10 setting: the official CNN, N = 250 clients, each arm with its official gamma, eta."""
    from paperzoo.fedau.problems import cifar_cnn
    from paperzoo.shared.testbeds.classify import CIFAR10_MEAN, CIFAR10_STD, load_images, random_crop_flip

    configure(threads=None)
    data = {k: v.to(config.device) for k, v in load_images(config.data, config.data_dir, "cpu").items()}
    mean = torch.tensor(CIFAR10_MEAN, device=config.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=config.device).view(1, 3, 1, 1)
    for split in ("x_train", "x_test"):  # official: normalised images, then crop/flip with zero padding
        data[split] = (data[split] - mean) / std
    clients, probs = _federation(config, data["y_train"].cpu().numpy(), seed)
    generator = torch.Generator(config.device).manual_seed(derive(seed, "augment"))
    problem = Classification(
        cifar_cnn,
        data["x_train"],
        data["y_train"],
        clients,
        data["x_test"],
        data["y_test"],
        derive(seed, "init"),
        augment=lambda x: random_crop_flip(x, 4, generator),
        sample_chunk=config.eval_batch,
    )
    runs = [(a, p, config.gammas[a]) for p in config.patterns for a in config.arms]
    history, participation = _simulate_arms(config, problem, probs, clients, seed, runs, _eval_rounds(config))
    metrics, series = _classification_metrics(config, history, runs, probs, participation)
    return Result(metrics=metrics, series=series)
