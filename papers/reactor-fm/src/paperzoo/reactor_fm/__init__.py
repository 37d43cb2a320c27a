"""PI-Reptile: Towards Foundation Model for Chemical Reactor Modeling: Meta-Learning with Physics-Informed
Adaptation (Wang & Wu, 2024; official code: killingbear999/chemical-reactor-foundation-model).

An RNN meta-trained with Reptile on simulated reactions in three reactor types (CSTR, batch, PFR) adapts to an
unseen reaction from a few trajectories; a physics-informed (ODE-residual) loss at collocation points during
adaptation (PI-Reptile) helps further. Public API: the simulators, task sampling, the model, Reptile, the
residuals and few-shot adaptation.
"""

from paperzoo.reactor_fm.data import Task, draw_collocation, draw_shots, sample_task, standardise, unseen_cstr_task
from paperzoo.reactor_fm.fewshot import METHODS, FewShotResult, evaluate_mse, few_shot
from paperzoo.reactor_fm.physics_loss import (
    batch_residual,
    cstr_residual,
    kinetics_for,
    pfr_residual,
    task_residual,
    time_derivative,
)
from paperzoo.reactor_fm.reactors import (
    NOMINAL,
    REACTORS,
    parameters,
    simulate,
    simulate_batch,
    simulate_cstr,
    simulate_pfr,
    simulate_scalar,
)
from paperzoo.reactor_fm.reptile import ReptileHistory, inner_epoch, reptile
from paperzoo.reactor_fm.rnn import ReactorRNN, build_model

__all__ = [
    "METHODS",
    "NOMINAL",
    "REACTORS",
    "FewShotResult",
    "ReactorRNN",
    "ReptileHistory",
    "Task",
    "batch_residual",
    "build_model",
    "cstr_residual",
    "draw_collocation",
    "draw_shots",
    "evaluate_mse",
    "few_shot",
    "inner_epoch",
    "kinetics_for",
    "parameters",
    "pfr_residual",
    "reptile",
    "sample_task",
    "simulate",
    "simulate_batch",
    "simulate_cstr",
    "simulate_pfr",
    "simulate_scalar",
    "standardise",
    "task_residual",
    "time_derivative",
    "unseen_cstr_task",
]
