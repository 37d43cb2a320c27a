"""Parameterised DE (PDE): the executor MetaDE configures, batched over executors.

A configuration ``theta = (F, CR, bl, br, dn, cs)`` lives in the evolver's box
``THETA_LB = [0, 0, 0, 0, 1, 0]``, ``THETA_UB = [1, 1, 4 - 1e-5, 4 - 1e-5, 5 - 1e-5, 3 - 1e-5]`` and decodes as
``F, CR`` as they are and ``bl = floor(theta_3), br = floor(theta_4) in {0..3}``, ``dn = floor(theta_5) in {1..4}``,
``cs = floor(theta_6) in {0, 1, 2}``. Vectors: 0 rand ``x_{r0}``, 1 best, 2 pbest (uniform among the top
``max(1, floor(0.05 NP))``), 3 current ``x_i``. One generation, for every individual i of every executor at once::

    b_i = v_bl + F (v_br - v_bl),     v_i = b_i + F sum_{k=1}^{dn} (x_{r_{2k-1}} - x_{r_{2k}})
    u_i = crossover(x_i, v_i)  (0 binomial, 1 exponential, 2 arithmetic x + CR (v - x)),  clipped to [lb, ub]
    x_i <- u_i  if f(u_i) <= f(x_i)

Index draw as in the JAX code: up to 9 indices per individual (r0 = the "rand" base vector, then up to 4 difference
pairs), distinct, any equal to i replaced by NP - 1 (the PyTorch port draws them with replacement).

Speed: one generation of E executors is a fixed number of tensor ops whatever E (no Python loop over executors,
individuals or dimensions): every vector a mutation reads is fetched by one row gather, every crossover mask by one
table lookup, and each kind of random draw is one call for all executors.
"""

from __future__ import annotations

import math
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


def crossover_mask(
    CR: Tensor, cs: Tensor, shape: tuple[int, int, int], generator: torch.Generator, port: bool = False
) -> Tensor:
    """Which coordinates take the mutant (``shape = (E, NP, D)``; ``CR``, ``cs`` of shape ``(E, 1, 1)``).

    Binomial (cs 0): ``U_j < CR`` or ``j = j_rand`` (port: a standard normal draw ``< CR``). Exponential (cs 1): a
    circular block of length L from a uniform start. Arithmetic (cs 2): none. Every executor's draws are made
    whatever its crossover (one call per kind of draw), in the order j_rand, U, start, L.
    """
    E, NP, D = shape
    draw = torch.randn if port else torch.rand
    j_rand = torch.randint(0, D, (E, NP), generator=generator)
    # float32 draws: a uniform compared with CR needs no more resolution, and they cost half as much.
    u = draw(shape, generator=generator, dtype=torch.float32)
    start = torch.randint(0, D, (E, NP), generator=generator)
    length = _exp_length(CR, (E, NP, 1), D, port, generator).view(E, NP).clamp(0, D).long()
    # The coordinates a mask always takes, looked up by row: rows s (D + 1) + l hold the exponential block
    # ((j - s) mod D < l; l = 0 is empty), then D rows hold the binomial's j_rand.
    j = torch.arange(D)
    block = torch.remainder(j.view(1, 1, D) - j.view(D, 1, 1), D) < torch.arange(D + 1).view(1, D + 1, 1)
    table = torch.cat((block.view(D * (D + 1), D), torch.eye(D, dtype=torch.bool)))
    cs = cs.view(E, 1)
    row = torch.where(cs == EXPONENTIAL, start * (D + 1) + length, torch.where(cs == BINOMIAL, D * (D + 1) + j_rand, 0))
    threshold = torch.where(cs.view(E, 1, 1) == BINOMIAL, CR.float(), -math.inf)
    return table.index_select(0, row.view(-1)).view(shape) | (u < threshold)


def draw_indices(E: int, NP: int, k: int, generator: torch.Generator, replace: bool = False) -> Tensor:
    """``k`` indices per individual, ``(k, E, NP)``, distinct (the JAX code) or with replacement (the port, and
    whenever ``k > NP``); any index equal to the individual's own is replaced by ``NP - 1`` (both official
    versions)."""
    if replace or k > NP:
        picks = torch.randint(0, NP, (E, NP, k), generator=generator).permute(2, 0, 1)
    else:
        # Sequential draws without replacement: the j-th pick is the r_j-th (r_j uniform in [0, NP - j)) value not
        # yet taken. The r_j are drawn first (their law does not depend on the picks), then decoded from the last
        # pick back: adding pick i shifts every later pick that is >= it up by one.
        picks = torch.empty((k, E, NP), dtype=torch.long)
        for j in range(k):
            torch.randint(0, NP - j, (E, NP), generator=generator, out=picks[j])
        for i in range(k - 2, -1, -1):
            picks[i + 1 :] += picks[i + 1 :] >= picks[i]
    return torch.where(picks == torch.arange(NP), NP - 1, picks)


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
    rows = torch.arange(E * NP).view(E, NP)  # row of x_i in flat

    # r0 (the rand vector) and up to 4 difference pairs (only as many as some executor uses); a pair an executor
    # does not use points twice at x_i, so that its difference is exactly 0. Index arrays are vector-major (k, E, NP).
    pairs = int(d.dn.max())
    picks = draw_indices(E, NP, 1 + 2 * pairs, generator, replace=port_quirks) + rows[:, :1]
    unused = torch.arange(2 * pairs).view(-1, 1, 1) // 2 >= d.dn.view(1, E, 1)
    top = fitness.topk(pbest_count(NP), dim=1, largest=False).indices + rows[:, :1]  # ascending: best first
    pbest = top.gather(1, torch.randint(0, top.shape[1], (E, NP), generator=generator))
    # The menu's rows (0 rand, 1 best, 2 pbest, 3 current), then the base vectors' rows picked by bl and br.
    menu = torch.stack((picks[0], top[:, :1].expand(E, NP), pbest, rows))
    base = menu.gather(0, torch.stack((d.bl, d.br)).view(2, E, 1).expand(2, E, NP))
    picked = torch.cat((base, torch.where(unused, rows, picks[1:])))
    vectors = flat.index_select(0, picked.view(-1)).view(2 + 2 * pairs, E, NP, D)  # all the rows in one gather
    prim, diff = vectors[0], vectors[2] - vectors[3]
    for k in range(1, pairs):
        diff = diff + (vectors[2 + 2 * k] - vectors[3 + 2 * k])
    mutant = prim + F * (vectors[1] - prim + diff)

    cs = d.cs.view(E, 1, 1)
    if not bool((cs != ARITHMETIC).any()):
        return torch.clamp(pop + CR * (mutant - pop), lb, ub)
    # Arithmetic executors take x + CR (v - x); the others x + 0 (v - x) = x, then the mutant where their mask says.
    trial = pop + torch.where(cs == ARITHMETIC, CR, 0.0) * (mutant - pop)
    trial = torch.where(crossover_mask(CR, cs, (E, NP, D), generator, port_quirks), mutant, trial)
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
