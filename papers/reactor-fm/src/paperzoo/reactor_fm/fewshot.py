"""Few-shot adaptation to an unseen reaction (the CSTR_FewShots notebook), five methods.

Every method trains full-batch on the k labelled shots for ``epochs`` Adam steps (a fresh Adam, lr 1e-3) and is
scored by the standardised MSE over the task's whole trajectory set (which contains the shots, as officially):

- ``pi_reptile``: the Reptile model + the physics-informed loss
  L = w_d MSE(shots) + w_C mean(r_C²) + w_T mean(r_T²) (w = 1e3, 1e-2, 1e-5), residuals at ``n_collocation``
  unlabelled trajectories (:func:`paperzoo.reactor_fm.physics_loss.task_residual`, nominal kinetics);
- ``reptile``: the Reptile model + plain MSE on the shots;
- ``transfer``: the sequentially pre-trained model + plain MSE;
- ``pi``: a fresh model (tanh, as the notebook's from-scratch models) + the physics-informed loss;
- ``data``: the same fresh model + plain MSE.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from paperzoo.reactor_fm.data import Task, draw_collocation, draw_shots
from paperzoo.reactor_fm.physics_loss import kinetics_for, task_residual
from paperzoo.reactor_fm.rnn import build_model
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

METHODS = ("pi_reptile", "reptile", "transfer", "pi", "data")
PHYSICS_METHODS = ("pi_reptile", "pi")


@dataclass(frozen=True)
class FewShotResult:
    """Test MSE (standardised, whole task set), final shot MSE, and RMS residuals at the collocation points."""

    test_mse: float
    shot_mse: float
    residual_c: float
    residual_t: float


def evaluate_mse(model: nn.Module, task: Task, chunk: int = 4096) -> float:
    """Mean squared error of ``model`` over all of ``task`` in standardised units (predicting 0 scores 1)."""
    device = next(model.parameters()).device
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(task), chunk):
            x = torch.from_numpy(task.x[start : start + chunk]).to(device)
            y = torch.from_numpy(task.y[start : start + chunk]).to(device)
            total += float(((model(x) - y) ** 2).sum())
    return total / task.y.size


def few_shot(
    method: str,
    k: int,
    task: Task,
    *,
    meta_model: nn.Module | None = None,
    transfer_model: nn.Module | None = None,
    epochs: int = 500,
    lr: float = 1e-3,
    n_collocation: int = 100,
    weights: tuple[float, float, float] = (1e3, 1e-2, 1e-5),
    kinetics: str = "nominal",
    scratch_activation: str = "tanh",
    seed: int = 0,
    device: str = "cpu",
) -> FewShotResult:
    """Adapt with ``method`` on ``k`` shots of ``task`` (shots, collocation and the fresh model from ``seed``, so
    every method sees the same shots and both from-scratch methods the same initial weights)."""
    check_one_of("method", method, METHODS)
    check_positive_int("epochs", epochs)
    check_positive("lr", lr)
    check_positive_int("n_collocation", n_collocation)
    if len(weights) != 3:
        raise ValueError(f"weights must be (w_data, w_C, w_T), got {weights!r}")
    for name, w in zip(("weights[0]", "weights[1]", "weights[2]"), weights, strict=True):
        check_non_negative(name, w)
    shots = draw_shots(task, k, np.random.default_rng(derive(seed, "shots")))
    colloc = draw_collocation(task, n_collocation, np.random.default_rng(derive(seed, "collocation")))
    kin = kinetics_for(task, kinetics)
    if method in ("pi_reptile", "reptile"):
        if meta_model is None:
            raise ValueError(f"method {method!r} needs meta_model")
        model = copy.deepcopy(meta_model)
    elif method == "transfer":
        if transfer_model is None:
            raise ValueError("method 'transfer' needs transfer_model")
        model = copy.deepcopy(transfer_model)
    else:
        model = build_model(derive(seed, "scratch"), scratch_activation)
    model = model.to(device).train()
    x = torch.from_numpy(task.x[shots]).to(device)
    y = torch.from_numpy(task.y[shots]).to(device)
    xc = torch.from_numpy(task.x[colloc]).to(device)
    physics = method in PHYSICS_METHODS
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        mse = torch.mean((model(x) - y) ** 2)
        if physics:
            r_c, r_t = task_residual(task, xc, model(xc), kin)
            loss = weights[0] * mse + weights[1] * torch.mean(r_c**2) + weights[2] * torch.mean(r_t**2)
        else:
            loss = mse
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        shot_mse = float(torch.mean((model(x) - y) ** 2))
        r_c, r_t = task_residual(task, xc, model(xc), kin)
    return FewShotResult(
        test_mse=evaluate_mse(model, task),
        shot_mse=shot_mse,
        residual_c=float(torch.sqrt(torch.mean(r_c**2))),
        residual_t=float(torch.sqrt(torch.mean(r_t**2))),
    )
