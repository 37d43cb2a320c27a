"""Parameterised DE (PDE): the executor MetaDE configures, batched over executors.

A configuration ``theta = (F, CR, bl, br, dn, cs)`` lives in the evolver's box
``THETA_LB = [0, 0, 0, 0, 1, 0]``, ``THETA_UB = [1, 1, 4 - 1e-5, 4 - 1e-5, 5 - 1e-5, 3 - 1e-5]`` and decodes as
``F, CR`` as they are and ``bl = floor(theta_3), br = floor(theta_4) in {0..3}``, ``dn = floor(theta_5) in {1..4}``,
``cs = floor(theta_6) in {0, 1, 2}``. Vectors: 0 rand ``x_{r0}``, 1 best, 2 pbest (uniform among the top
``ceil(0.05 NP)``), 3 current ``x_i``. One generation, for every individual i of every executor at once::

    b_i = v_bl + F (v_br - v_bl),     v_i = b_i + F sum_{k=1}^{dn} (x_{r_{2k-1}} - x_{r_{2k}})
    u_i = crossover(x_i, v_i)  (0 binomial, 1 exponential, 2 arithmetic x + CR (v - x)),  clipped to [lb, ub]
    x_i <- u_i  if f(u_i) <= f(x_i)

Index draw as in the official code: 9 indices per individual, uniform with replacement, any equal to i replaced
by NP - 1 (r0 = the "rand" base vector, then up to 4 difference pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from paperzoo.shared.validate import check_positive_int

Tensor = torch.Tensor
Objective = Callable[[Tensor], Tensor]  # (T, n, D) -> (T, n): T independent tasks

_TINY = 1e-5
THETA_LB = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
THETA_UB = torch.tensor([1.0, 1.0, 4 - _TINY, 4 - _TINY, 5 - _TINY, 3 - _TINY], dtype=torch.float64)
RAND, BEST, PBEST, CURRENT = 0, 1, 2, 3
BINOMIAL, EXPONENTIAL, ARITHMETIC = 0, 1, 2
VECTOR_NAMES = ("rand", "best", "pbest", "current")
CROSSOVER_NAMES = ("bin", "exp", "arith")
# ParamDE's defaults (the configuration MetaDE found in the paper): DE/rand-to-pbest/3/arith.
DEFAULT_THETA = torch.tensor([0.3471559, 0.78762645, RAND, PBEST, 3.0, ARITHMETIC], dtype=torch.float64)
# DE/rand/1/bin with F = 0.5, CR = 0.9 (the evolver, and the DE baseline).
DE_RAND_1_BIN = torch.tensor([0.5, 0.9, RAND, RAND, 1.0, BINOMIAL], dtype=torch.float64)
PBEST_FRACTION = 0.05


class Decoded(NamedTuple):
    """A decoded configuration (each entry has the batch shape of ``theta[..., 0]``)."""

    F: Tensor
    CR: Tensor
    bl: Tensor
    br: Tensor
    dn: Tensor
    cs: Tensor


def decode(theta: Tensor) -> Decoded:
    """``theta (..., 6) -> (F, CR, bl, br, dn, cs)``: the real knobs as they are, the choices floored to integers."""
    if theta.shape[-1] != 6:
        raise ValueError(f"theta must have 6 entries on its last axis, got shape {tuple(theta.shape)}")
    choice = torch.floor(theta[..., 2:]).long()
    return Decoded(theta[..., 0], theta[..., 1], choice[..., 0], choice[..., 1], choice[..., 2], choice[..., 3])


def describe(theta: Tensor) -> str:
    """``theta`` as a DE name, e.g. ``DE/rand-to-pbest/3/arith (F=0.35, CR=0.79)``."""
    d = decode(theta)
    bl, br = VECTOR_NAMES[int(d.bl)], VECTOR_NAMES[int(d.br)]
    base = bl if bl == br else f"{bl}-to-{br}"
    return f"DE/{base}/{int(d.dn)}/{CROSSOVER_NAMES[int(d.cs)]} (F={float(d.F):.3g}, CR={float(d.CR):.3g})"


def check_theta(theta: Tensor) -> None:
    """``ValueError`` unless every configuration lies in the box (F and CR in [0, 1], choices in range)."""
    if theta.shape[-1] != 6:
        raise ValueError(f"theta must have 6 entries on its last axis, got shape {tuple(theta.shape)}")
    t = theta.detach().double()
    for j, name in ((0, "F"), (1, "CR")):
        if not bool(((t[..., j] >= 0) & (t[..., j] <= 1)).all()):
            raise ValueError(f"{name} (theta[..., {j}]) must be in [0, 1], got {t[..., j].flatten().tolist()[:4]}")
    if not bool(((t >= THETA_LB) & (t < torch.floor(THETA_UB) + 1)).all()):
        raise ValueError(f"theta must lie in the box [{THETA_LB.tolist()}, {THETA_UB.tolist()}]")


def _exp_length(CR: Tensor, shape: tuple[int, ...], D: int, port: bool, generator: torch.Generator) -> Tensor:
    """Block lengths of exponential crossover, with ``CR`` broadcast to ``shape``.

    Textbook: ``P(L >= k) = CR^{k-1}``, capped at D (``L = 1 + floor(log U / log CR)``). Port (the PyTorch
    port's quirk): ``L = min(floor(log U / -log1p(CR)), D) - 1``, which can be 0 or negative (no coordinate taken).
    """
    u = torch.rand(shape, generator=generator, dtype=CR.dtype).clamp_min(1e-300)
    if port:
        return torch.clamp(torch.floor(u.log() / -torch.log1p(CR)), max=D) - 1
    ratio = u.log() / torch.log(CR.clamp(1e-300, 1.0)).expand(shape)
    ratio = torch.where(CR.expand(shape) >= 1.0, torch.full_like(ratio, D), ratio)  # log 1 = 0: always the full block
    return torch.clamp(1 + torch.floor(ratio), max=D)


def crossover_masks(
    CR: Tensor, shape: tuple[int, int, int], generator: torch.Generator, port: bool = False
) -> tuple[Tensor, Tensor]:
    """The binomial and exponential masks (True = take the mutant) for ``shape = (E, NP, D)``, ``CR (E, 1, 1)``.

    Binomial: ``U_j < CR`` or ``j = j_rand`` (port: a standard normal draw ``< CR``). Exponential: a circular block
    of length L from a uniform start.
    """
    E, NP, D = shape
    draw = torch.randn if port else torch.rand
    j = torch.arange(D)
    j_rand = torch.randint(0, D, (E, NP, 1), generator=generator)
    # float32 draws: a uniform compared with CR needs no more resolution, and they cost half as much.
    binomial = (draw(shape, generator=generator, dtype=torch.float32) < CR.float()) | (j == j_rand)
    start = torch.randint(0, D, (E, NP, 1), generator=generator)
    length = _exp_length(CR, (E, NP, 1), D, port, generator)
    exponential = torch.remainder(j - start, D) < length
    return binomial, exponential


def draw_indices(E: int, NP: int, k: int, generator: torch.Generator, replace: bool = False) -> Tensor:
    """``k`` indices per individual (``(E, NP, k)``), distinct (the JAX code) or with replacement (the port, and
    whenever ``k > NP``); any index equal to the individual's own is replaced by ``NP - 1`` (both official
    versions)."""
    if replace or k > NP:
        idx = torch.randint(0, NP, (E, NP, k), generator=generator)
    else:
        # Sequential draws without replacement: the j-th is the r-th (r uniform in [0, NP - j)) value not yet taken,
        # the least fixed point of v = r + #{taken <= v}, reached by iterating from v = r.
        picks = [torch.randint(0, NP, (E, NP, 1), generator=generator)]
        for j in range(1, k):
            taken = torch.cat(picks, -1)
            r = torch.randint(0, NP - j, (E, NP, 1), generator=generator)
            v = r
            for _ in range(j):
                nxt = r + (taken <= v).sum(-1, keepdim=True)
                if torch.equal(nxt, v):
                    break
                v = nxt
            picks.append(v)
        idx = torch.cat(picks, -1)
    return torch.where(idx == torch.arange(NP).view(1, NP, 1), NP - 1, idx)


def pbest_count(NP: int) -> int:
    """The size of the pbest pool: ``max(1, floor(0.05 NP))`` (both official versions floor)."""
    return max(1, int(PBEST_FRACTION * NP))


def pde_trial(
    pop: Tensor,
    fitness: Tensor,
    theta: Tensor,
    lb: Tensor | float,
    ub: Tensor | float,
    generator: torch.Generator,
    port_quirks: bool = False,
) -> Tensor:
    """One generation's trial vectors for E executors at once: ``pop (E, NP, D)``, ``fitness (E, NP)``,
    ``theta (E, 6)`` -> ``(E, NP, D)`` (mutation, crossover and clipping to ``[lb, ub]``; no evaluation).

    ``port_quirks``: the PyTorch port's draws (indices with replacement, a normal binomial mask, the log1p block
    length) instead of the JAX code's and the textbook's.
    """
    E, NP, D = pop.shape
    if NP < 4:
        raise ValueError(f"NP must be >= 4, got {NP}")
    if fitness.shape != (E, NP) or theta.shape != (E, 6):
        raise ValueError(
            f"fitness must be {(E, NP)} and theta {(E, 6)}, got {tuple(fitness.shape)}, {tuple(theta.shape)}"
        )
    d = decode(theta)
    F, CR = d.F.to(pop.dtype).view(E, 1, 1), d.CR.to(pop.dtype).view(E, 1, 1)
    flat = pop.reshape(E * NP, D)
    offset = (torch.arange(E) * NP).view(E, 1, 1)

    # r0 (the rand vector) and up to 4 difference pairs; only the pairs some executor uses are gathered.
    pairs = int(d.dn.max())
    idx = draw_indices(E, NP, 1 + 2 * pairs, generator, replace=port_quirks) + offset
    rand = flat[idx[..., 0]]
    used = (torch.arange(pairs).view(1, 1, pairs) < d.dn.view(E, 1, 1)).to(pop.dtype).unsqueeze(-1)
    diff_sum = ((flat[idx[..., 1::2]] - flat[idx[..., 2::2]]) * used).sum(2)

    top = fitness.topk(pbest_count(NP), dim=1, largest=False).indices  # ascending: top[:, 0] is the best
    pbest = flat[top.gather(1, torch.randint(0, top.shape[1], (E, NP), generator=generator)) + offset[..., 0]]
    best = flat[top[:, :1] + offset[..., 0]]

    def choose(which: Tensor) -> Tensor:
        w = which.view(E, 1, 1)
        return torch.where(w == RAND, rand, torch.where(w == BEST, best, torch.where(w == PBEST, pbest, pop)))

    prim = choose(d.bl)
    mutant = prim + F * (choose(d.br) - prim + diff_sum)

    cs = d.cs.view(E, 1, 1)
    trial = pop + CR * (mutant - pop)  # arithmetic
    if bool((cs != ARITHMETIC).any()):
        binomial, exponential = crossover_masks(CR, (E, NP, D), generator, port=port_quirks)
        masked = torch.where(torch.where(cs == BINOMIAL, binomial, exponential), mutant, pop)
        trial = torch.where(cs == ARITHMETIC, trial, masked)
    return torch.clamp(trial, lb, ub)


@dataclass
class Population:
    """Executor state over T tasks x E executors: ``x (T, E, NP, D)``, ``f (T, E, NP)``."""

    x: Tensor
    f: Tensor

    @property
    def best(self) -> Tensor:
        """Best value per executor, ``(T, E)`` (with greedy selection: the least value ever evaluated)."""
        return self.f.min(-1).values


class PDE:
    """E parameterised DE executors per task, stepped by one tensor op for all of them.

    ``objective (T, n, D) -> (T, n)`` evaluates T independent tasks (e.g. several CEC2022 functions, or one with
    T = 1); ``fes`` counts objective evaluations per task.
    """

    def __init__(
        self,
        objective: Objective,
        D: int,
        lb: Tensor | float,
        ub: Tensor | float,
        NP: int = 100,
        port_quirks: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        check_positive_int("D", D)
        if not isinstance(NP, int) or NP < 4:
            raise ValueError(f"NP must be an integer >= 4, got {NP!r}")
        self.objective, self.D, self.NP, self.port_quirks, self.dtype = objective, D, NP, port_quirks, dtype
        self.lb = torch.as_tensor(lb, dtype=dtype)
        self.ub = torch.as_tensor(ub, dtype=dtype)
        self.fes = 0

    def evaluate(self, x: Tensor) -> Tensor:
        """``x (T, E, NP, D) -> (T, E, NP)``, counting ``E NP`` evaluations per task."""
        T, E, NP, D = x.shape
        self.fes += E * NP
        return self.objective(x.reshape(T, E * NP, D)).reshape(T, E, NP).to(self.dtype)

    def init(self, T: int, E: int, generator: torch.Generator) -> Population:
        """Fresh executors: uniform in the box, evaluated (``NP`` evaluations each)."""
        u = torch.rand((T, E, self.NP, self.D), generator=generator, dtype=self.dtype)
        x = self.lb + u * (self.ub - self.lb)
        return Population(x, self.evaluate(x))

    def step(self, state: Population, theta: Tensor, generator: torch.Generator) -> Population:
        """One generation of every executor; ``theta (T, E, 6)`` (or ``(6,)`` for all). Greedy ``f(u) <= f(x)``
        (the JAX code; the port's ``<`` with ``port_quirks``)."""
        T, E, NP, D = state.x.shape
        theta = torch.as_tensor(theta, dtype=torch.float64).expand(T, E, 6).reshape(T * E, 6)
        trial = pde_trial(
            state.x.reshape(T * E, NP, D),
            state.f.reshape(T * E, NP),
            theta,
            self.lb,
            self.ub,
            generator,
            self.port_quirks,
        ).reshape(T, E, NP, D)
        f_trial = self.evaluate(trial)
        keep = f_trial < state.f if self.port_quirks else f_trial <= state.f
        return Population(torch.where(keep.unsqueeze(-1), trial, state.x), torch.where(keep, f_trial, state.f))

    def run(
        self, theta: Tensor, T: int, E: int, steps: int, generator: torch.Generator, record_every: int = 0
    ) -> tuple[Population, list[Tensor]]:
        """Fresh executors run ``steps`` generations (``NP (steps + 1)`` evaluations each); returns the final
        state and, every ``record_every`` generations (0: never), the best-so-far ``(T, E)``."""
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        check_theta(theta)
        state = self.init(T, E, generator)
        curve = [state.best] if record_every else []
        for g in range(1, steps + 1):
            state = self.step(state, theta, generator)
            if record_every and g % record_every == 0:
                curve.append(state.best)
        return state, curve
