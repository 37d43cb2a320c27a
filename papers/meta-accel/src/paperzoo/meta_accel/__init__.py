"""MetaInf: meta-learning which inference-acceleration method to use for a task (model, hardware, workload).

"Meta-Learning for Speeding Up Large Model Inference in Decentralized Environments" (Nesa Research; COLM 2025,
arXiv 2410.21340). No official code is released: the concrete choices here (methods, features, predictor,
baselines' settings) are ours, and the hardware axis (threads, node prices) is simulated cost.

- :mod:`.accel`: the acceleration methods (``Method.apply(model) -> runnable``) and their fidelity gates;
- :mod:`.timing`: measured runtimes of every method on every task (the P/C matrix), cached with a machine
  fingerprint;
- :mod:`.meta`: task features, the MetaInf predictor, budgeted selection, the baseline selectors and grouped CV.
"""

from paperzoo.meta_accel.accel import METHODS, Method, fidelity, gate, get_methods
from paperzoo.meta_accel.meta import MetaInf, evaluate_selectors, grouped_folds, select, task_features
from paperzoo.meta_accel.models import ModelSpec, build_model
from paperzoo.meta_accel.timing import Matrix, machine_fingerprint, measure, measure_matrix
from paperzoo.meta_accel.workloads import TaskSpec, generate_tasks

__all__ = [
    "METHODS",
    "Matrix",
    "MetaInf",
    "Method",
    "ModelSpec",
    "TaskSpec",
    "build_model",
    "evaluate_selectors",
    "fidelity",
    "gate",
    "generate_tasks",
    "get_methods",
    "grouped_folds",
    "machine_fingerprint",
    "measure",
    "measure_matrix",
    "select",
    "task_features",
]
