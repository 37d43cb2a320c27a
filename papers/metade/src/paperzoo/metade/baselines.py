"""Adaptive DE baselines, batched over T tasks: JaDE (Zhang & Sanderson, 2009) and SHADE (Tanabe & Fukunaga, 2013).

Both use DE/current-to-pbest/1/bin with an external archive A (|A| <= NP, random removal):
``v_i = x_i + F_i (x_pbest - x_i) + F_i (x_r1 - x~_r2)``, r1 from P, r2 from P u A (r1, r2, i distinct), binomial
crossover, the papers' midpoint repair ``(bound + x_ij) / 2`` of coordinates that leave the box, and greedy
selection. ``CR_i ~ N(mu_CR, 0.1)`` clipped to [0, 1], ``F_i ~ Cauchy(mu_F, 0.1)`` redrawn while <= 0, cut at 1.

- JaDE: ``p = 0.05``, ``c = 0.1``; ``mu_CR <- (1-c) mu_CR + c mean(S_CR)``, ``mu_F <- (1-c) mu_F + c mean_L(S_F)``
  (Lehmer mean) over the successful parameters; replacement when ``f(u) < f(x)``.
- SHADE: memories ``M_CR, M_F`` of size H = NP at 0.5, each individual reads a random slot; ``p_i ~ U[2/NP, 0.2]``;
  replacement when ``f(u) <= f(x)``; after a generation with successes slot k gets the ``|Delta f|``-weighted mean
  of ``S_CR`` and weighted Lehmer mean of ``S_F``, ``k <- k + 1 mod H``.

evox 1.4's ``JaDE``/``SHADE`` are not used: SHADE draws its initial population from ``N(lb, (ub - lb)^2)`` (outside
the box) and updates its memory with a Python loop over individuals; neither is batched over tasks.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from paperzoo.metade.pde import Objective, Tensor

Variant = Literal["jade", "shade"]


def _cauchy_positive(loc: Tensor, generator: torch.Generator) -> Tensor:
    """``Cauchy(loc, 0.1)`` redrawn where <= 0, then cut at 1."""
    F = torch.empty_like(loc)
    todo = torch.ones_like(loc, dtype=torch.bool)
    while bool(todo.any()):
        u = torch.rand(loc.shape, generator=generator, dtype=loc.dtype)
        draw = loc + 0.1 * torch.tan(math.pi * (u - 0.5))
        F = torch.where(todo, draw, F)
        todo = F <= 0
    return F.clamp(max=1.0)


def _distinct_from(r: Tensor, avoid: list[Tensor], high: Tensor | int, generator: torch.Generator) -> Tensor:
    """Redraw entries of ``r`` (uniform in [0, high)) until none equals an entry of ``avoid``."""
    while True:
        clash = torch.zeros_like(r, dtype=torch.bool)
        for a in avoid:
            clash |= r == a
        if not bool(clash.any()):
            return r
        fresh = (torch.rand(r.shape, generator=generator) * high).long()
        r = torch.where(clash, fresh, r)


class AdaptiveDE:
    """JaDE or SHADE on T tasks at once: ``objective (T, n, D) -> (T, n)`` on the box ``[lb, ub]^D``."""

    def __init__(self, objective: Objective, D: int, lb: float, ub: float, NP: int = 100, variant: Variant = "jade"):
        if not isinstance(NP, int) or NP < 4:
            raise ValueError(f"NP must be an integer >= 4, got {NP!r}")
        if variant not in ("jade", "shade"):
            raise ValueError(f"variant must be 'jade' or 'shade', got {variant!r}")
        self.objective, self.D, self.lb, self.ub, self.NP, self.variant = objective, D, lb, ub, NP, variant
        self.fes = 0

    def _evaluate(self, x: Tensor) -> Tensor:
        self.fes += x.shape[1]
        return self.objective(x).to(torch.float64)

    def run(self, T: int, generations: int, generator: torch.Generator, record_every: int = 0) -> tuple[Tensor, list]:
        """``generations`` generations after the evaluated initial population (``NP (generations + 1)`` FEs per
        task); returns the best value per task ``(T,)`` and the best-so-far every ``record_every`` generations."""
        NP, D = self.NP, self.D
        ar = torch.arange(T).view(T, 1)
        x = self.lb + (self.ub - self.lb) * torch.rand((T, NP, D), generator=generator, dtype=torch.float64)
        f = self._evaluate(x)
        archive = torch.zeros_like(x)
        n_archive = torch.zeros(T, dtype=torch.long)
        mu_cr, mu_f = torch.full((T, NP), 0.5, dtype=torch.float64), torch.full((T, NP), 0.5, dtype=torch.float64)
        slot = torch.zeros(T, dtype=torch.long)  # SHADE's next memory slot
        curve = [f.min(1).values] if record_every else []
        own = torch.arange(NP).expand(T, NP)
        for g in range(1, generations + 1):
            if self.variant == "jade":
                loc_cr, loc_f = mu_cr, mu_f  # every column holds the same mean
                p_count = torch.full((T, NP), max(1, round(0.05 * NP)))
            else:
                pick = torch.randint(0, NP, (T, NP), generator=generator)
                loc_cr, loc_f = mu_cr.gather(1, pick), mu_f.gather(1, pick)
                p = 2.0 / NP + (0.2 - 2.0 / NP) * torch.rand((T, NP), generator=generator, dtype=torch.float64)
                p_count = torch.clamp(torch.round(p * NP).long(), min=2)
            CR = (loc_cr + 0.1 * torch.randn((T, NP), generator=generator, dtype=torch.float64)).clamp(0.0, 1.0)
            F = _cauchy_positive(loc_f, generator)

            order = torch.argsort(f, dim=1)
            pbest = order.gather(1, (torch.rand((T, NP), generator=generator) * p_count).long())
            r1 = _distinct_from(torch.randint(0, NP, (T, NP), generator=generator), [own], NP, generator)
            union = torch.cat([x, archive], dim=1)  # valid: the population and the first n_archive archive rows
            size = (NP + n_archive).view(T, 1)
            r2 = (torch.rand((T, NP), generator=generator) * size).long()
            r2 = _distinct_from(r2, [own, r1], size, generator)
            Fc = F.unsqueeze(-1)
            v = x + Fc * (x[ar, pbest] - x) + Fc * (x[ar, r1] - union[ar, r2])
            cross = torch.rand((T, NP, D), generator=generator, dtype=torch.float64) < CR.unsqueeze(-1)
            cross |= torch.arange(D) == torch.randint(0, D, (T, NP, 1), generator=generator)
            u = torch.where(cross, v, x)
            u = torch.where(u < self.lb, (self.lb + x) / 2, torch.where(u > self.ub, (self.ub + x) / 2, u))

            fu = self._evaluate(u)
            better = fu < f
            replace = better if self.variant == "jade" else fu <= f

            # Archive: the replaced parents join, then a uniform random subset of at most NP survives.
            cand = torch.cat([archive, x], dim=1)
            valid = torch.cat([torch.arange(NP).expand(T, NP) < n_archive.view(T, 1), better], dim=1)
            keys = torch.where(valid, torch.rand(valid.shape, generator=generator), torch.inf)
            keep = keys.topk(NP, dim=1, largest=False).indices
            archive = cand[ar, keep]
            n_archive = valid.sum(1).clamp(max=NP)

            x = torch.where(replace.unsqueeze(-1), u, x)
            mu_cr, mu_f, slot = self._adapt(better, CR, F, (f - fu).abs(), mu_cr, mu_f, slot)
            f = torch.where(replace, fu, f)
            if record_every and g % record_every == 0:
                curve.append(f.min(1).values)
        return f.min(1).values, curve

    def _adapt(
        self, ok: Tensor, CR: Tensor, F: Tensor, gain: Tensor, mu_cr: Tensor, mu_f: Tensor, slot: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The parameter adaptation from the successful ``(CR, F)`` of one generation (tasks without success keep
        their state)."""
        any_ok = ok.any(1)
        okf = ok.to(torch.float64)
        if self.variant == "jade":
            n = okf.sum(1).clamp(min=1)
            mean_cr = (okf * CR).sum(1) / n
            lehmer = (okf * F * F).sum(1) / (okf * F).sum(1).clamp(min=1e-300)
            new_cr = torch.where(any_ok, 0.9 * mu_cr[:, 0] + 0.1 * mean_cr, mu_cr[:, 0])
            new_f = torch.where(any_ok, 0.9 * mu_f[:, 0] + 0.1 * lehmer, mu_f[:, 0])
            return new_cr.unsqueeze(1).expand_as(mu_cr), new_f.unsqueeze(1).expand_as(mu_f), slot
        w = okf * gain
        w = w / w.sum(1, keepdim=True).clamp(min=1e-300)
        m_cr = (w * CR).sum(1)
        m_f = (w * F * F).sum(1) / (w * F).sum(1).clamp(min=1e-300)
        # A generation whose successes all had zero gain (plateaus) leaves the memory alone.
        write = any_ok & (w.sum(1) > 0)
        hit = (torch.arange(mu_cr.shape[1]) == slot.view(-1, 1)) & write.view(-1, 1)
        mu_cr = torch.where(hit, m_cr.view(-1, 1), mu_cr)
        mu_f = torch.where(hit, m_f.view(-1, 1), mu_f)
        return mu_cr, mu_f, torch.where(write, (slot + 1) % mu_cr.shape[1], slot)
