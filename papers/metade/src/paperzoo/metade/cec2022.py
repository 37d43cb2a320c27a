"""The CEC 2022 single-objective bound-constrained suite (F1-F12), batched in torch.

``CEC2022(fn, D)(x)`` maps ``x`` of shape ``(..., D)`` to ``(...)`` values, F* (the bias) included. The shift
vectors ``o``, rotation matrices ``M`` and hybrid shuffles are read at run time from the data files that the
installed ``evox`` package ships (``evox/problems/numerical/cec2022_input_data``); nothing is copied or downloaded.

- F1-F5: ``f(x) = g(M (r (x - o))) + F*`` (F2 adds 1 after rotating: Rosenbrock's optimum is at 1).
- F6-F8 (hybrid): ``z = M (x - o)`` permuted by the shuffle file (1-based), cut into pieces of ``ceil(p_k D)``
  coordinates (the last takes the rest); ``f = sum_k g_k(r_k z_k) + F*``.
- F9-F12 (composition): component k has its own shift row ``o_k`` and rotation block ``M_k``;
  ``w_k = exp(-|x - o_k|^2 / (2 D delta_k^2)) / |x - o_k|``, ``f = sum_k w_k (lambda_k g_k + bias_k) / sum_k w_k + F*``
  (``w_k = 1e99`` at ``x = o_k``, the C reference's ``INF``).

Values equal ``evox.problems.numerical.CEC2022`` (tested to 1e-5 in float64).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from paperzoo.shared.validate import check_one_of

Tensor = torch.Tensor
DIMENSIONS = (2, 10, 20)
BIAS = {1: 300.0, 2: 400.0, 3: 600.0, 4: 800.0, 5: 900.0, 6: 1800.0, 7: 2000.0, 8: 2200.0}
BIAS |= {9: 2300.0, 10: 2400.0, 11: 2600.0, 12: 2700.0}
NAMES = {
    1: "Zakharov",
    2: "Rosenbrock",
    3: "Expanded Schaffer f6",
    4: "Non-continuous Rastrigin",
    5: "Levy",
    6: "Hybrid 1",
    7: "Hybrid 2",
    8: "Hybrid 3",
    9: "Composition 1",
    10: "Composition 2",
    11: "Composition 3",
    12: "Composition 4",
}
LOWER, UPPER = -100.0, 100.0


# ----------------------------------------------------------------------------------- basic functions (last dim)
def zakharov(z: Tensor) -> Tensor:
    """``sum z_i^2 + s^2 + s^4`` with ``s = sum 0.5 i z_i`` (i = 1..D)."""
    s = (0.5 * torch.arange(1, z.shape[-1] + 1, dtype=z.dtype) * z).sum(-1)
    return (z * z).sum(-1) + s**2 + s**4


def rosenbrock(z: Tensor) -> Tensor:
    """``sum 100 (z_{i+1} - z_i^2)^2 + (z_i - 1)^2`` (optimum at 1)."""
    a, b = z[..., :-1], z[..., 1:]
    return (100.0 * (b - a * a) ** 2 + (a - 1.0) ** 2).sum(-1)


def rastrigin(z: Tensor) -> Tensor:
    """``sum z_i^2 - 10 cos(2 pi z_i) + 10``."""
    return (z * z - 10.0 * torch.cos(2.0 * math.pi * z) + 10.0).sum(-1)


def schaffer_f7(z: Tensor) -> Tensor:
    """``(mean_i sqrt(s_i) (1 + sin^2(50 s_i^0.2)))^2`` with ``s_i = hypot(z_i, z_{i+1})``."""
    s = torch.hypot(z[..., :-1], z[..., 1:])
    return ((s.sqrt() * (1.0 + torch.sin(50.0 * s**0.2) ** 2)).mean(-1)) ** 2


def levy(z: Tensor) -> Tensor:
    """Levy with ``w = 1 + z / 4`` (the CEC form: ``sin(pi w_i + 1)`` inside the sum)."""
    w = 1.0 + z / 4.0
    head = torch.sin(math.pi * w[..., 0]) ** 2
    body = ((w[..., :-1] - 1.0) ** 2 * (1.0 + 10.0 * torch.sin(math.pi * w[..., :-1] + 1.0) ** 2)).sum(-1)
    tail = (w[..., -1] - 1.0) ** 2 * (1.0 + torch.sin(2.0 * math.pi * w[..., -1]) ** 2)
    return head + body + tail


def bent_cigar(z: Tensor) -> Tensor:
    """``z_1^2 + 1e6 sum_{i>1} z_i^2``."""
    return z[..., 0] ** 2 + 1e6 * (z[..., 1:] ** 2).sum(-1)


def discus(z: Tensor) -> Tensor:
    """``1e6 z_1^2 + sum_{i>1} z_i^2``."""
    return 1e6 * z[..., 0] ** 2 + (z[..., 1:] ** 2).sum(-1)


def ellipsoid(z: Tensor) -> Tensor:
    """``sum 10^(6 (i-1)/(D-1)) z_i^2``."""
    d = z.shape[-1]
    return (10.0 ** (6.0 * torch.arange(d, dtype=z.dtype) / (d - 1)) * z * z).sum(-1)


def hgbat(z: Tensor) -> Tensor:
    """``|r^2 - s^2|^(1/2) + (r/2 + s)/D + 1/2`` with ``r = |z-1|^2``, ``s = sum (z_i - 1)``."""
    y = z - 1.0
    r, s = (y * y).sum(-1), y.sum(-1)
    return (r * r - s * s).abs() ** 0.5 + (0.5 * r + s) / z.shape[-1] + 0.5


def happycat(z: Tensor) -> Tensor:
    """``|r - D|^(1/4) + (r/2 + s)/D + 1/2`` with ``r = |z-1|^2``, ``s = sum (z_i - 1)``."""
    d = z.shape[-1]
    y = z - 1.0
    r, s = (y * y).sum(-1), y.sum(-1)
    return (r - d).abs() ** 0.25 + (0.5 * r + s) / d + 0.5


def katsuura(z: Tensor) -> Tensor:
    """``10/D^2 prod_i (1 + i sum_{j=1}^{32} |2^j z_i - round(2^j z_i)| / 2^j)^(10/D^1.2) - 10/D^2``."""
    d = z.shape[-1]
    p = 2.0 ** torch.arange(1, 33, dtype=z.dtype)
    t = z.unsqueeze(-1) * p
    inner = ((t - torch.floor(t + 0.5)).abs() / p).sum(-1)
    prod = (1.0 + inner * torch.arange(1, d + 1, dtype=z.dtype)) ** (10.0 / d**1.2)
    return (prod.prod(-1) - 1.0) * (10.0 / d / d)


def ackley(z: Tensor) -> Tensor:
    """``-20 exp(-0.2 sqrt(mean z^2)) - exp(mean cos(2 pi z)) + 20 + e``."""
    return (
        -20.0 * torch.exp(-0.2 * (z * z).mean(-1).sqrt())
        - torch.exp(torch.cos(2.0 * math.pi * z).mean(-1))
        + 20.0
        + math.e
    )


def griewank(z: Tensor) -> Tensor:
    """``sum z^2 / 4000 - prod cos(z_i / sqrt(i)) + 1``."""
    i = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    return (z * z).sum(-1) / 4000.0 - torch.cos(z / i.sqrt()).prod(-1) + 1.0


def schwefel(z: Tensor) -> Tensor:
    """Modified Schwefel: ``418.9829 D - sum h(z_i + 420.9687...)`` with the CEC boundary handling beyond |500|:
    ``h(y) = y sin(sqrt|y|)`` inside, ``-/+ h(m) + (|y| - 500)^2 / (10^4 D)`` beyond, ``m = 500 - fmod(|y|, 500)``."""
    d = z.shape[-1]
    y = z + 420.9687462275036
    size = y.abs()
    beyond = size > 500.0
    a = torch.where(beyond, 500.0 - torch.fmod(size, 500.0), y)  # one sin(sqrt) for both branches
    h = a * a.abs().sqrt().sin()
    signed = torch.where(y < -500.0, h, -h)
    # (|y| - 500)^2 = (y - 500)^2 above and (y + 500)^2 below, exactly (negation is exact).
    out = torch.where(beyond, signed + (size - 500.0) ** 2 / 10000.0 / d, signed)
    return out.sum(-1) + 418.98288727243378 * d


def expanded_schaffer_f6(z: Tensor) -> Tensor:
    """``sum_i 0.5 + (sin^2 sqrt(s_i) - 0.5) / (1 + 0.001 s_i)^2`` with ``s_i = z_i^2 + z_{i+1}^2`` (cyclic)."""
    sq = z * z
    s = sq + torch.roll(sq, -1, dims=-1)
    return (0.5 + (torch.sin(s.sqrt()) ** 2 - 0.5) / (1.0 + 0.001 * s) ** 2).sum(-1)


def griewank_rosenbrock(z: Tensor) -> Tensor:
    """Expanded Griewank-plus-Rosenbrock on ``y = z + 1`` (cyclic pairs)."""
    y = z + 1.0
    t = 100.0 * (y * y - torch.roll(y, -1, dims=-1)) ** 2 + (y - 1.0) ** 2
    return (t * t / 4000.0 - torch.cos(t) + 1.0).sum(-1)


Basic = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class _Part:
    """One term: the basic function, the scale of its input, whether it is rotated, and for compositions its
    output factor ``lambda``, bias and ``delta``."""

    g: Basic
    rate: float = 1.0
    rotate: bool = True
    lam: float = 1.0
    bias: float = 0.0
    delta: float = 1.0


_SIMPLE = {1: _Part(zakharov), 2: _Part(rosenbrock, 2.048e-2), 3: _Part(schaffer_f7)}
_SIMPLE |= {4: _Part(rastrigin, 5.12e-2), 5: _Part(levy)}
# Hybrids: (fraction of D, basic function, rate), in order.
_HYBRID = {
    6: ((0.4, bent_cigar, 1.0), (0.4, hgbat, 5e-2), (0.2, rastrigin, 5.12e-2)),
    7: (
        (0.1, hgbat, 5e-2),
        (0.2, katsuura, 5e-2),
        (0.2, ackley, 1.0),
        (0.2, rastrigin, 5.12e-2),
        (0.1, schwefel, 10.0),
        (0.2, schaffer_f7, 1.0),
    ),
    8: ((0.3, katsuura, 5e-2), (0.2, happycat, 5e-2), (0.2, griewank_rosenbrock, 5e-2), (0.1, schwefel, 10.0)),
}
_HYBRID[8] += ((0.2, ackley, 1.0),)
_COMPOSITION = {
    9: (
        _Part(rosenbrock, 2.048e-2, True, 1.0, 0.0, 10.0),
        _Part(ellipsoid, 1.0, True, 1e-6, 200.0, 20.0),
        _Part(bent_cigar, 1.0, True, 1e-26, 300.0, 30.0),
        _Part(discus, 1.0, True, 1e-6, 100.0, 40.0),
        _Part(ellipsoid, 1.0, False, 1e-6, 400.0, 50.0),
    ),
    10: (
        _Part(schwefel, 10.0, False, 1.0, 0.0, 20.0),
        _Part(rastrigin, 5.12e-2, True, 1.0, 200.0, 10.0),
        _Part(hgbat, 5e-2, True, 1.0, 100.0, 10.0),
    ),
    11: (
        _Part(expanded_schaffer_f6, 1.0, True, 5e-4, 0.0, 20.0),
        _Part(schwefel, 10.0, True, 1.0, 200.0, 20.0),
        _Part(griewank, 6.0, True, 10.0, 300.0, 30.0),
        _Part(rosenbrock, 2.048e-2, True, 1.0, 400.0, 30.0),
        _Part(rastrigin, 5.12e-2, True, 10.0, 200.0, 20.0),
    ),
    12: (
        _Part(hgbat, 5e-2, True, 10.0, 0.0, 10.0),
        _Part(rastrigin, 5.12e-2, True, 10.0, 300.0, 20.0),
        _Part(schwefel, 10.0, True, 2.5, 500.0, 30.0),
        _Part(bent_cigar, 1.0, True, 1e-26, 100.0, 40.0),
        _Part(ellipsoid, 1.0, True, 1e-6, 400.0, 50.0),
        _Part(expanded_schaffer_f6, 1.0, True, 5e-4, 200.0, 60.0),
    ),
}


def _data_folder() -> Path:
    """evox's CEC2022 data folder, located without importing evox (its import pulls in torch's compiler stack)."""
    spec = importlib.util.find_spec("evox")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the evox package (a dependency of paperzoo-metade) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "problems" / "numerical" / "cec2022_input_data"


def _read(name: str) -> list[float]:
    """The numbers in one of evox's CEC2022 data files (whitespace separated)."""
    folder = _data_folder()
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is missing from the installed evox package ({folder})")
    return [float(v) for v in path.read_text().split()]


class CEC2022:
    """CEC 2022 function ``fn`` (1-12) in ``D`` dimensions (2, 10, 20; F6-F8 need 10 or 20) on [-100, 100]^D.

    ``__call__(x)``: ``(..., D) -> (...)`` values including ``F* = bias``; ``optimum_value`` is F*.
    """

    def __init__(self, fn: int, D: int, dtype: torch.dtype = torch.float64) -> None:
        if not isinstance(fn, int) or isinstance(fn, bool) or not 1 <= fn <= 12:
            raise ValueError(f"fn must be an integer in [1, 12], got {fn!r}")
        check_one_of("D", D, DIMENSIONS)
        if fn in _HYBRID and D == 2:
            raise ValueError(f"D must be 10 or 20 for the hybrid function F{fn}, got {D}")
        self.fn, self.D, self.dtype = fn, D, dtype
        self.optimum_value = BIAS[fn]
        self.lb, self.ub = LOWER, UPPER
        m = torch.tensor(_read(f"M_{fn}_D{D}.txt"), dtype=dtype)
        shift = torch.tensor(_read(f"shift_data_{fn}.txt"), dtype=dtype)
        if fn in _COMPOSITION:
            parts = _COMPOSITION[fn]
            k = len(parts)
            # One shift row (of 100 numbers) and one D x D rotation block per component.
            self.shift = shift.view(-1, 100)[:k, :D].clone()
            blocks = m.view(-1, D, D)[:k]
            eye = torch.eye(D, dtype=dtype)
            # z_k = (x - o_k) A_k with A_k = rate_k M_k^T (or rate_k I when the component is not rotated).
            self.affine = torch.stack(
                [p.rate * (blocks[i].T if p.rotate else eye) for i, p in enumerate(parts)]
            )  # (K, D, D)
            self.parts = parts
            self._spread = 2.0 * D * torch.tensor([p.delta for p in parts], dtype=dtype) ** 2  # 2 D delta_k^2
        else:
            self.shift = shift[:D].clone()
            self.rotation_t = m.view(D, D).T.contiguous()
        if fn in _HYBRID:
            order = torch.tensor(_read(f"shuffle_data_{fn}_D{D}.txt"), dtype=torch.long) - 1  # 1-based in the file
            self.order = order[:D]
            sizes = [math.ceil(frac * D) for frac, _, _ in _HYBRID[fn]]
            sizes[-1] = D - sum(sizes[:-1])
            self.sizes = sizes

    @property
    def optimum(self) -> Tensor:
        """The shift vector ``o`` (the global optimum for F1-F8; component 1's optimum for F9-F12)."""
        return self.shift[0] if self.fn in _COMPOSITION else self.shift

    def __call__(self, x: Tensor) -> Tensor:
        """Values of the points ``x`` (``(..., D)``), bias included."""
        if x.shape[-1] != self.D:
            raise ValueError(f"x must have last dimension D = {self.D}, got shape {tuple(x.shape)}")
        x = x.to(self.dtype)
        if self.fn in _COMPOSITION:
            return self._composition(x) + self.optimum_value
        z = (x - self.shift) @ self.rotation_t
        if self.fn in _SIMPLE:
            part = _SIMPLE[self.fn]
            z = z * part.rate
            return part.g(z + 1.0 if self.fn == 2 else z) + self.optimum_value
        pieces = torch.split(z[..., self.order], self.sizes, dim=-1)
        total = sum(g(rate * p) for p, (_, g, rate) in zip(pieces, _HYBRID[self.fn], strict=True))
        return total + self.optimum_value

    def _composition(self, x: Tensor) -> Tensor:
        # Component-major (K, ..., D), so that each component's z_k is one contiguous block.
        K = len(self.parts)
        diff = x.unsqueeze(0) - self.shift.view((K,) + (1,) * (x.dim() - 1) + (self.D,))
        z = torch.bmm(diff.view(K, -1, self.D), self.affine).view(diff.shape)
        dist2 = (diff * diff).sum(-1)  # (K, ...)
        w = torch.exp(-dist2 / self._spread.view((K,) + (1,) * (dist2.dim() - 1))) / dist2.sqrt()
        w = torch.where(dist2 == 0, torch.full_like(w, 1e99), w).movedim(0, -1).contiguous()
        values = torch.stack(
            [p.lam * p.g(z[i] + 1.0 if p.g is rosenbrock else z[i]) + p.bias for i, p in enumerate(self.parts)],
            dim=-1,
        )
        return (w * values).sum(-1) / w.sum(-1).clamp_min(1e-9)


def suite(fns: Sequence[int], D: int) -> Callable[[Tensor], Tensor]:
    """Several functions as one objective over a leading task axis: ``(T, ..., D) -> (T, ...)``, task t on fns[t]."""
    problems = [CEC2022(fn, D) for fn in fns]

    def objective(x: Tensor) -> Tensor:
        if x.shape[0] != len(problems):
            raise ValueError(f"x must have {len(problems)} tasks on its first axis, got shape {tuple(x.shape)}")
        return torch.stack([p(x[t]) for t, p in enumerate(problems)])

    return objective
