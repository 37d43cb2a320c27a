"""The scale runners of reactor-fm: ``run(config, seed) -> Result`` (every scale runs the same pipeline).

One seed: (1) meta-training on a stream of random reactions cycling CSTR → batch → PFR, twice from the same
initial weights, the same tasks and the same minibatch order: Reptile (ε0 = 0.1, annealed) and the transfer
baseline (plain sequential training, ε = 1); the two run on separate worker processes. (2) ``n_unseen`` unseen
CSTR tasks (the few-shot notebook's stability-region set); at each k in ``shots`` the five methods of
:mod:`paperzoo.reactor_fm.fewshot` adapt on the same k shots and are scored by the standardised MSE over the
whole task. Metrics are means over the unseen tasks. Smoke adds the physics-residual sanity check.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch

from paperzoo.reactor_fm.data import Task, sample_task, unseen_cstr_task
from paperzoo.reactor_fm.fewshot import METHODS, few_shot
from paperzoo.reactor_fm.physics_loss import batch_residual, kinetics_for, pfr_residual, task_residual
from paperzoo.reactor_fm.reactors import OUTPUT_DT, REACTORS, parameters, simulate
from paperzoo.reactor_fm.reptile import reptile
from paperzoo.reactor_fm.rnn import build_model
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import (
    check_non_negative,
    check_one_of,
    check_positive,
    check_positive_int,
    check_range,
)

log = logging.getLogger("paperzoo.reactor_fm")


@dataclass(frozen=True)
class ExperimentConfig:
    """One scale's settings (defaults: the full CPU scale; the official values are noted where they differ).

    ``iterations`` (official 1500) Reptile outer iterations, each on a new task of ``n_traj`` trajectories
    (official: the task's whole set, ~6k; None = whole set); ``epochs`` (official 500) few-shot Adam steps.
    """

    iterations: int = 150
    n_traj: int | None = 2000
    eps: float = 0.1
    meta_lr: float = 1e-3
    inner_batch: int = 32
    inner_epochs: int = 1
    meta_spacing: bool = False
    official_rk: bool = False
    n_unseen: int = 3
    shots: tuple[int, ...] = (1, 5, 10, 20)
    claim_shots: tuple[int, ...] = (1, 5)
    epochs: int = 300
    lr: float = 1e-3
    n_collocation: int = 100
    weights: tuple[float, float, float] = (1e3, 1e-2, 1e-5)
    kinetics: str = "nominal"
    scratch_activation: str = "tanh"
    sanity_check: bool = False
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("iterations", "inner_batch", "inner_epochs", "n_unseen", "epochs", "n_collocation", "workers"):
            check_positive_int(name, getattr(self, name))
        if self.n_traj is not None:
            check_positive_int("n_traj", self.n_traj)
        check_range("eps", self.eps, 0.0, 1.0)
        check_positive("meta_lr", self.meta_lr)
        check_positive("lr", self.lr)
        if not self.shots or list(self.shots) != sorted(set(self.shots)) or self.shots[0] < 1:
            raise ValueError(f"shots must be increasing integers >= 1, got {self.shots}")
        if not set(self.claim_shots) <= set(self.shots):
            raise ValueError(f"claim_shots must be a subset of shots {self.shots}, got {self.claim_shots}")
        if len(self.weights) != 3:
            raise ValueError(f"weights must be (w_data, w_C, w_T), got {self.weights}")
        for w in self.weights:
            check_non_negative("weights", w)
        check_one_of("kinetics", self.kinetics, ("nominal", "task"))
        check_one_of("scratch_activation", self.scratch_activation, ("relu", "tanh"))


@functools.lru_cache(maxsize=1)
def meta_tasks(config: ExperimentConfig, seed: int) -> tuple[Task, ...]:
    """The seed's meta-training task stream: task ``it`` is a fresh reaction of ``REACTORS[it % 3]`` (cached: the
    two arms of one process share it; read-only)."""
    rng = np.random.default_rng(derive(seed, "meta tasks"))
    return tuple(
        sample_task(
            REACTORS[it % 3],
            rng,
            n_traj=config.n_traj,
            meta_spacing=config.meta_spacing,
            official_rk=config.official_rk,
        )
        for it in range(config.iterations)
    )


def meta_train(config: ExperimentConfig, seed: int, arm: str) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Reptile (``arm="reptile"``) or the transfer baseline (``"transfer"``: ε = 1, no annealing) on the seed's
    tasks from the seed's initial weights; returns the weights and the inner-loop loss per iteration."""
    check_one_of("arm", arm, ("reptile", "transfer"))
    torch.set_num_threads(1)
    tasks = meta_tasks(config, seed)
    model = build_model(derive(seed, "init"), "relu").to(config.device)
    eps, anneal = (config.eps, True) if arm == "reptile" else (1.0, False)
    history = reptile(
        model,
        tasks,
        config.iterations,
        eps=eps,
        anneal=anneal,
        lr=config.meta_lr,
        batch_size=config.inner_batch,
        inner_epochs=config.inner_epochs,
        seed=derive(seed, "minibatch order"),
    )
    return {k: v.cpu() for k, v in model.state_dict().items()}, history.inner_loss


def adapt_job(
    config: ExperimentConfig, seed: int, index: int, k: int, states: dict[str, dict[str, torch.Tensor]]
) -> dict[str, dict[str, float]]:
    """All five methods on unseen task ``index`` with ``k`` shots; method -> its numbers."""
    torch.set_num_threads(1)
    task = unseen_cstr_task(np.random.default_rng(derive(seed, "unseen task", index)))
    models = {}
    for arm, state in states.items():
        models[arm] = build_model(0, "relu")
        models[arm].load_state_dict(state)
    out = {}
    for method in METHODS:
        res = few_shot(
            method,
            k,
            task,
            meta_model=models["reptile"],
            transfer_model=models["transfer"],
            epochs=config.epochs,
            lr=config.lr,
            n_collocation=config.n_collocation,
            weights=config.weights,
            kinetics=config.kinetics,
            scratch_activation=config.scratch_activation,
            seed=derive(seed, "adaptation", index, k),
            device=config.device,
        )
        out[method] = {
            "test_mse": res.test_mse,
            "shot_mse": res.shot_mse,
            "residual_c": res.residual_c,
            "residual_t": res.residual_t,
        }
    out["task"] = {"size": float(len(task)), "mean_predictor_mse": float(np.mean(task.y.astype(np.float64) ** 2))}
    return out


def residual_sanity(seed: int, n: int = 200) -> dict[str, float]:
    """RMS physics residual (C) of exact simulator outputs over that of time-shuffled outputs, per reactor, with
    the reaction's own kinetics (nominal batch and PFR at moderate states; the unseen CSTR task)."""
    rng = np.random.default_rng(derive(seed, "sanity"))
    perm = rng.permutation(10)
    out = {}
    task = unseen_cstr_task(rng)
    x, y = task.x.astype(np.float64), task.y.astype(np.float64)
    kin = kinetics_for(task, "task")
    true, shuffled = task_residual(task, x, y, kin)[0], task_residual(task, x, y[:, perm], kin)[0]
    out["cstr"] = float(np.sqrt(np.mean(true**2)) / np.sqrt(np.mean(shuffled**2)))
    c0, t0 = rng.uniform(0.5, 3, n), rng.uniform(300, 340, n)
    u = rng.uniform(-5e4, 5e4, n)
    p = parameters("batch")
    c, t = simulate("batch", c0, t0, u, p)
    r = [
        batch_residual(cc, tt, c0, t0, u, p, p, OUTPUT_DT["batch"])[0] for cc, tt in ((c, t), (c[:, perm], t[:, perm]))
    ]
    out["batch"] = float(np.sqrt(np.mean(r[0] ** 2)) / np.sqrt(np.mean(r[1] ** 2)))
    c0, t0, u = rng.uniform(0.5, 3, n), rng.uniform(300, 500, n), rng.uniform(100, 300, n)
    p = parameters("pfr")
    c, t = simulate("pfr", c0, t0, u, p)
    tc = u + p["T_cs"]
    r = [pfr_residual(cc, tt, c0, t0, tc, p, p, OUTPUT_DT["pfr"])[0] for cc, tt in ((c, t), (c[:, perm], t[:, perm]))]
    out["pfr"] = float(np.sqrt(np.mean(r[0] ** 2)) / np.sqrt(np.mean(r[1] ** 2)))
    return out


def _window(values: list[float]) -> int:
    """A whole number of reactor cycles covering about a tenth of the run (at least one cycle)."""
    return max(3, 3 * round(len(values) / 30))


def run(config: ExperimentConfig, seed: int) -> Result:
    """Meta-train both arms, adapt with every method at every k on every unseen task; means over tasks."""
    log.info("meta-training: Reptile and transfer, %d iterations each", config.iterations)
    arms = ("reptile", "transfer")
    trained = run_jobs([(meta_train, (config, seed, arm)) for arm in arms], min(config.workers, 2), "meta-training")
    states = {arm: state for arm, (state, _) in zip(arms, trained, strict=True)}
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for arm, (_, losses) in zip(arms, trained, strict=True):
        w = _window(losses)
        metrics[f"{arm}/inner_loss_first"] = float(np.mean(losses[:w]))
        metrics[f"{arm}/inner_loss_last"] = float(np.mean(losses[-w:]))
        series[f"{arm}/inner_loss"] = losses
    jobs = [(adapt_job, (config, seed, i, k, states)) for k in config.shots for i in range(config.n_unseen)]
    results = run_jobs(jobs, config.workers, "few-shot adaptation")
    for j, k in enumerate(config.shots):
        per_task = results[j * config.n_unseen : (j + 1) * config.n_unseen]
        for method in METHODS:
            for name in ("test_mse", "shot_mse", "residual_c", "residual_t"):
                metrics[f"{method}/{name}_k{k}"] = float(np.mean([r[method][name] for r in per_task]))
    for method in METHODS:
        series[f"{method}/test_mse_vs_shots"] = [metrics[f"{method}/test_mse_k{k}"] for k in config.shots]
    first = results[: config.n_unseen]
    metrics["task/size"] = float(np.mean([r["task"]["size"] for r in first]))
    metrics["mean_predictor/test_mse"] = float(np.mean([r["task"]["mean_predictor_mse"] for r in first]))
    if config.sanity_check:
        for reactor, ratio in residual_sanity(seed).items():
            metrics[f"physics/{reactor}_true_over_shuffled"] = ratio
    return Result(metrics=metrics, series=series)
