"""MetaDE: a DE evolver searching PDE configurations, each scored by a fresh executor run on the target problem.

The evolver is DE/rand/1/bin (F = 0.5, CR = 0.9) over ``theta`` in the box of :mod:`paperzoo.metade.pde`, with
``P_o`` individuals for ``G`` generations (the first evaluates the initial population). The meta-fitness of a
configuration is the least objective value a fresh PDE executor (``NP`` individuals, ``S`` generations after its
evaluated initial population) saw. All ``P_o`` executors of a generation, over all T tasks, advance in one tensor
op. FEs per task: ``G P_o NP (S + 1)`` (plus ``P_o NP 5 (S + 1)`` for the power-up generation, whose executors run
``5 (S + 1) - 1`` generations: five times the normal budget).

``search="random"`` replaces the evolver by meta-level random search: each generation draws ``P_o`` fresh
uniform configurations (the same FEs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from paperzoo.metade.pde import DE_RAND_1_BIN, PDE, THETA_LB, THETA_UB, Objective, Population

Tensor = torch.Tensor


@dataclass
class MetaResult:
    """Per task: the best value any executor saw, the configuration that produced it, the best-so-far after each
    evolver generation, and every generation's meta-fitness values."""

    best: Tensor  # (T,)
    theta: Tensor  # (T, 6)
    curve: list[Tensor] = field(default_factory=list)  # G (+1) x (T,)
    generations: list[Tensor] = field(default_factory=list)  # G (+1) x (T, P_o)


class MetaDE:
    """MetaDE(problem, P_o, NP, S, G): ``problem (T, n, D) -> (T, n)`` on the box ``[lb, ub]^D``."""

    def __init__(
        self,
        problem: Objective,
        D: int,
        lb: float,
        ub: float,
        P_o: int = 100,
        NP: int = 100,
        S: int = 1000,
        G: int = 50,
        power_up: bool = False,
        search: Literal["de", "random"] = "de",
        port_quirks: bool = False,
    ) -> None:
        if not isinstance(P_o, int) or P_o < 4:
            raise ValueError(f"P_o must be an integer >= 4, got {P_o!r}")
        for name, value in (("S", S), ("G", G)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if search not in ("de", "random"):
            raise ValueError(f"search must be 'de' or 'random', got {search!r}")
        self.executor = PDE(problem, D, lb, ub, NP=NP, port_quirks=port_quirks)
        self.P_o, self.S, self.G, self.power_up, self.search = P_o, S, G, power_up, search
        self._steps = S
        self._generator = torch.Generator()
        self._evaluated: list[Tensor] = []

    @property
    def fes(self) -> int:
        """Objective evaluations per task so far (every executor's, initial populations included)."""
        return self.executor.fes

    def expected_fes(self) -> int:
        """The analytic count of one :meth:`run`: ``P_o NP (S + 1) (G + 5 power_up)``."""
        return self.P_o * self.executor.NP * (self.S + 1) * (self.G + 5 * self.power_up)

    def _meta_fitness(self, theta: Tensor) -> Tensor:
        """``theta (T, P_o, 6) -> (T, P_o)``: the least value a fresh executor with each configuration saw."""
        T, P, _ = theta.shape
        state, _ = self.executor.run(theta, T, P, self._steps, self._generator)
        values = state.best
        self._evaluated.append(values)
        return values

    def run(self, T: int, generator: torch.Generator) -> MetaResult:
        """Run the evolver on T tasks; ``generator`` drives every random draw (evolver and executors)."""
        self._generator, self._evaluated, self._steps = generator, [], self.S
        evolver = PDE(lambda th: self._meta_fitness(th.view(T, self.P_o, 6)), 6, THETA_LB, THETA_UB, NP=self.P_o)
        state = evolver.init(T, 1, generator)
        best_so_far = [state.best[:, 0]]
        for g in range(1, self.G + self.power_up):
            if self.power_up and g == self.G:
                self._steps = 5 * (self.S + 1) - 1
            state = self._advance(evolver, state, T, generator)
            best_so_far.append(torch.minimum(best_so_far[-1], state.best[:, 0]))
        winner = state.f[:, 0].argmin(-1)
        theta = state.x[:, 0][torch.arange(T), winner]
        return MetaResult(best_so_far[-1], theta, best_so_far, self._evaluated)

    def _advance(self, evolver: PDE, state: Population, T: int, generator: torch.Generator) -> Population:
        if self.search == "de":
            return evolver.step(state, DE_RAND_1_BIN, generator)
        # Random search: keep the best configuration seen so far, evaluate P_o fresh ones.
        fresh = evolver.init(T, 1, generator)
        keep = fresh.f <= state.f
        return Population(torch.where(keep.unsqueeze(-1), fresh.x, state.x), torch.where(keep, fresh.f, state.f))
