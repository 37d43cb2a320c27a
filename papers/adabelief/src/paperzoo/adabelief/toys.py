"""2-D test functions for optimizer trajectories (the paper's toy figures): Beale, Rosenbrock, |x| + |y|."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from paperzoo.shared.validate import check_positive, check_positive_int


def beale(p: Tensor) -> Tensor:
    """f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²; minimum 0 at (3, 0.5)."""
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def rosenbrock(p: Tensor) -> Tensor:
    """f(x, y) = (1 − x)² + 100 (y − x²)²; minimum 0 at (1, 1)."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def abs_sum(p: Tensor) -> Tensor:
    """f(x, y) = |x| + |y|; minimum 0 at (0, 0), non-smooth."""
    return p.abs().sum()


MINIMA = {"beale": (3.0, 0.5), "rosenbrock": (1.0, 1.0), "abs_sum": (0.0, 0.0)}
FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {"beale": beale, "rosenbrock": rosenbrock, "abs_sum": abs_sum}


def trajectory(
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    function: str,
    start: tuple[float, float],
    steps: int,
    tolerance: float = 1e-2,
) -> tuple[list[tuple[float, float]], int]:
    """Optimize ``function`` from ``start`` (float64) until within ``tolerance`` of the minimum.

    Returns the path and the first ``t`` with ``‖θ_t − θ*‖ < tolerance`` (``steps + 1`` if never reached).
    """
    check_positive_int("steps", steps)
    check_positive("tolerance", tolerance)
    f = FUNCTIONS[function]
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(MINIMA[function], dtype=torch.float64)
    optimizer = make_optimizer([p])
    path = [start]
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        f(p).backward()
        optimizer.step()
        path.append((p[0].item(), p[1].item()))
        if torch.linalg.vector_norm(p.detach() - target) < tolerance:
            return path, t
    return path, steps + 1
