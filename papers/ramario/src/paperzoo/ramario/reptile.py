"""Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms"), as RAMario uses it.

    theta <- init
    for outer iteration j = 0..J-1:
        sample tasks tau_1..tau_b                     (b = 1: serial Reptile; b > 1: batched)
        for each task:  phi_i <- theta;  phi_i <- InnerLoop_k(phi_i, tau_i)      (k inner RL updates)
        theta <- theta + epsilon_j * (1/b) sum_i (phi_i - theta)                  (Reptile outer step)

    epsilon_j = (1 - j/J) epsilon_0 + (j/J) epsilon_final          (linear annealing, epsilon_final = 0)

No gradient flows through the inner loop (first order): ``phi_i - theta`` is a difference of weights. The
annealing follows the official supervised-reptile code (``frac_done = i / meta_iters``). Weights are
``model.trainable_variables``; the inner loop is any callable ``inner(task, rng)`` that trains the model in
place from its current weights (e.g. :class:`~paperzoo.ramario.policy_gradient.PolicyGradientInner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from paperzoo.ramario.model import get_weights, set_weights
from paperzoo.shared.validate import check_positive_int, check_range

InnerLoop = Callable[[Any, np.random.Generator], Any]


def linear_epsilon(j: int, outer_steps: int, epsilon0: float, epsilon_final: float = 0.0) -> float:
    """``epsilon_j = (1 - j/J) epsilon_0 + (j/J) epsilon_final`` for ``0 <= j < J``."""
    check_positive_int("outer_steps", outer_steps)
    if not isinstance(j, int) or not 0 <= j < outer_steps:
        raise ValueError(f"j must be an integer in [0, {outer_steps}), got {j!r}")
    frac = j / outer_steps
    return (1.0 - frac) * epsilon0 + frac * epsilon_final


def reptile_step(theta: Sequence[np.ndarray], phis: Sequence[Sequence[np.ndarray]], epsilon: float) -> list:
    """``theta + epsilon * (1/b) sum_i (phi_i - theta)`` per weight array (``b = len(phis)``)."""
    if not phis:
        raise ValueError("phis must hold at least one adapted weight list")
    check_range("epsilon", epsilon, 0.0, 1.0)
    out = []
    for idx, t in enumerate(theta):
        mean_delta = np.mean([phi[idx] - t for phi in phis], axis=0)
        out.append((t + epsilon * mean_delta).astype(t.dtype))
    return out


@dataclass
class OuterStep:
    """What one outer iteration did: theta before it, each task's adapted phi_i, epsilon_j, the inner outputs."""

    theta: list[np.ndarray]
    phis: list[list[np.ndarray]]
    epsilon: float
    inner_outputs: list[Any]


class Reptile:
    """Reptile's outer loop around a Keras model and an inner loop.

    Args:
        model: the Keras model whose ``trainable_variables`` are theta (it holds theta between outer steps).
        inner: ``inner(task, rng)``: trains ``model`` in place from its current weights (k updates).
        outer_steps: J, the number of outer iterations (for the epsilon schedule).
        epsilon0, epsilon_final: the outer step size, annealed linearly from ``epsilon0`` to ``epsilon_final``.
        meta_batch: b, tasks per outer step (1: serial Reptile).
    """

    def __init__(
        self,
        model: Any,
        inner: InnerLoop,
        *,
        outer_steps: int,
        epsilon0: float = 1.0,
        epsilon_final: float = 0.0,
        meta_batch: int = 1,
    ) -> None:
        check_positive_int("outer_steps", outer_steps)
        check_range("epsilon0", epsilon0, 0.0, 1.0)
        check_range("epsilon_final", epsilon_final, 0.0, 1.0)
        check_positive_int("meta_batch", meta_batch)
        self.model, self.inner = model, inner
        self.outer_steps, self.epsilon0, self.epsilon_final, self.meta_batch = (
            outer_steps,
            epsilon0,
            epsilon_final,
            meta_batch,
        )

    def epsilon(self, j: int) -> float:
        return linear_epsilon(j, self.outer_steps, self.epsilon0, self.epsilon_final)

    def outer_step(self, j: int, tasks: Sequence[Any], rng: np.random.Generator) -> OuterStep:
        """One outer iteration on ``tasks`` (``len(tasks) == meta_batch``); the model ends holding the new theta."""
        if len(tasks) != self.meta_batch:
            raise ValueError(f"tasks must hold meta_batch={self.meta_batch} tasks, got {len(tasks)}")
        theta = get_weights(self.model)
        phis, outputs = [], []
        for task in tasks:
            set_weights(self.model, theta)  # phi_i <- theta
            outputs.append(self.inner(task, rng))  # phi_i <- InnerLoop_k(phi_i, tau_i)
            phis.append(get_weights(self.model))
        # theta <- theta + epsilon_j * mean_i (phi_i - theta)
        epsilon = self.epsilon(j)
        set_weights(self.model, reptile_step(theta, phis, epsilon))
        return OuterStep(theta, phis, epsilon, outputs)
