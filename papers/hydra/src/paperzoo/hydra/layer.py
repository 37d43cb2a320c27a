"""The Hydra layer: parallel and sequential low-rank branches on a frozen linear layer (Kim et al., 2024).

A frozen ``nn.Linear`` computes ``h = W0 x + b0`` with ``W0`` in R^{d_out x d_in} (PyTorch's (out, in)
convention, used throughout). Hydra adds two low-rank branches, each a down-projection ``D`` to rank k, dropout,
and an up-projection ``U`` (both ``nn.Linear``, with biases in the vision code)::

    P(x) = U_p drop(D_p x + b_Dp) + b_Up          the parallel branch, on the layer's input (LoRA-like)
    S(h) = U_s drop(D_s h + b_Ds) + b_Us          the sequential branch, on the layer's OUTPUT h (bias b0 included)
    y    = h + s P(x) + s S(h)

With ``W_p = U_p D_p`` and ``W_s = U_s D_s`` (dropout off) this is one linear layer, the merge::

    W' = W0 + s (W_p + W_s W0)
    b' = b0 + s (U_p b_Dp + b_Up + W_s b0 + U_s b_Ds + b_Us)

and the unmerge inverts ``(I + s W_s)`` by the Woodbury identity, a k x k solve:
``(I + s U_s D_s)^{-1} = I - s U_s (I_k + s D_s U_s)^{-1} D_s``; then
``W0 = (I + s W_s)^{-1} (W' - s W_p)`` and ``b0 = (I + s W_s)^{-1} (b' - s (U_p b_Dp + b_Up + U_s b_Ds + b_Us))``.

Initialisation (``init``): ``"xavier"`` is the official vision code (vtab1k/hydra.py: D xavier-uniform, every
bias and U zero); ``"kaiming"`` the official NLU code (nlu/.../adapter.py: D kaiming-uniform with a = sqrt 5,
U zero, no biases there). U = 0 makes the wrapped layer equal the base at initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

BRANCHES = ("par", "seq")
INITS = ("xavier", "kaiming")
Init = Literal["xavier", "kaiming"]


def check_branches(branches: Sequence[str]) -> tuple[str, ...]:
    """The branches as a canonical tuple (``"par"`` before ``"seq"``); ``ValueError`` naming ``branches``."""
    if isinstance(branches, str) or not branches:
        raise ValueError(f"branches must be a non-empty collection of {BRANCHES}, got {branches!r}")
    for b in branches:
        check_one_of("branches", b, BRANCHES)
    return tuple(b for b in BRANCHES if b in branches)


def check_rank(rank: int, d_in: int, d_out: int) -> int:
    """``1 <= rank <= min(d_in, d_out)``; ``ValueError`` naming ``rank``."""
    check_positive_int("rank", rank)
    if rank > min(d_in, d_out):
        raise ValueError(f"rank must be <= min(in_features, out_features) = {min(d_in, d_out)}, got {rank}")
    return rank


def hydra_parameter_count(
    d_in: int, d_out: int, rank: int, branches: Sequence[str] = BRANCHES, bias: bool = True
) -> int:
    """Trainable parameters of one Hydra layer: ``k (d_in + d_out)`` (+ ``k + d_out`` biases) for the parallel
    branch and ``2 k d_out`` (+ ``k + d_out``) for the sequential one."""
    check_positive_int("d_in", d_in)
    check_positive_int("d_out", d_out)
    check_rank(rank, d_in, d_out)
    widths = {"par": d_in, "seq": d_out}
    return sum(rank * (widths[b] + d_out) + (rank + d_out if bias else 0) for b in check_branches(branches))


class HydraLinear(nn.Module):
    """A frozen ``nn.Linear`` (kept as ``.base``) with Hydra's parallel and/or sequential low-rank branches
    (module docstring: the equations).

    Args:
        base: the layer to wrap; its weight and bias are frozen and used in place (never copied).
        rank: k, the rank of each branch (the official vision script: 2 on ViT-B).
        scale: s, the branches' output scale (the official VTAB configs: 0.1 to 4.5 per data set).
        dropout: the dropout probability between D and U, in [0, 1) (the official VTAB configs: 0.2).
        branches: ``("par", "seq")`` (Hydra), ``("par",)`` (LoRA with bias) or ``("seq",)``.
        bias: whether D and U carry biases (the vision code: yes; the NLU code: no).
        init: ``"xavier"`` (vision code) or ``"kaiming"`` (NLU code); U starts at zero in both.

    Raises:
        ValueError: naming the argument, for a ``base`` that is not ``nn.Linear``, a rank outside
            [1, min(d_in, d_out)], an unknown branch or init, a dropout outside [0, 1), a non-finite scale.
    """

    def __init__(
        self,
        base: nn.Linear,
        rank: int = 2,
        scale: float = 1.0,
        dropout: float = 0.0,
        branches: Sequence[str] = BRANCHES,
        bias: bool = True,
        init: Init = "xavier",
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        d_in, d_out = base.in_features, base.out_features
        check_rank(rank, d_in, d_out)
        self.branches = check_branches(branches)
        check_one_of("init", init, INITS)
        check_range("dropout", dropout, 0.0, 1.0, high_inclusive=False)
        if not (isinstance(scale, int | float) and math.isfinite(scale)):
            raise ValueError(f"scale must be a finite number, got {scale!r}")
        self.base = base
        self.base.requires_grad_(False)
        self.in_features, self.out_features = d_in, d_out
        self.rank, self.scale, self.init, self.has_bias = rank, float(scale), init, bias
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        kw = {"bias": bias, "dtype": base.weight.dtype, "device": base.weight.device}
        self.par_down = nn.Linear(d_in, rank, **kw) if "par" in self.branches else None
        self.par_up = nn.Linear(rank, d_out, **kw) if "par" in self.branches else None
        self.seq_down = nn.Linear(d_out, rank, **kw) if "seq" in self.branches else None
        self.seq_up = nn.Linear(rank, d_out, **kw) if "seq" in self.branches else None
        self.reset_parameters()
        self.merged = False

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """D by ``init`` (xavier-uniform, or kaiming-uniform with a = sqrt 5), U and every branch bias zero."""
        for down, up in self.branch_pairs():
            if self.init == "xavier":
                nn.init.xavier_uniform_(down.weight)
            else:
                nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
            nn.init.zeros_(up.weight)
            for lin in (down, up):
                if lin.bias is not None:
                    nn.init.zeros_(lin.bias)

    def branch_pairs(self) -> list[tuple[nn.Linear, nn.Linear]]:
        """``(D, U)`` of each present branch, parallel first."""
        pairs = [(self.par_down, self.par_up), (self.seq_down, self.seq_up)]
        return [(d, u) for d, u in pairs if d is not None and u is not None]

    # ------------------------------------------------------------------------------------------ merge
    def _low_rank(self) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """``(W_p, c, W_s)`` in float32 or wider: the branches' dense weights (None when absent) and the bias
        that does not pass through W0, ``c = U_p b_Dp + b_Up + U_s b_Ds + b_Us``."""
        dtype = torch.promote_types(self.base.weight.dtype, torch.float32)
        c = torch.zeros(self.out_features, dtype=dtype, device=self.base.weight.device)
        dense = {}
        for name, (down, up) in zip(self.branches, self.branch_pairs(), strict=True):
            d, u = down.weight.to(dtype), up.weight.to(dtype)
            dense[name] = u @ d
            if down.bias is not None:
                c = c + u @ down.bias.to(dtype)
            if up.bias is not None:
                c = c + up.bias.to(dtype)
        return dense.get("par"), c, dense.get("seq")

    @torch.no_grad()
    def merge(self) -> None:
        """``W0 <- W0 + s (W_p + W_s W0)``, ``b0 <- b0 + s (W_s b0 + c)`` in place; the forward then runs the plain
        base layer. No-op when already merged. ``RuntimeError`` if branch biases need a bias the base lacks."""
        if self.merged:
            return
        if self.base.bias is None and self.has_bias:
            raise RuntimeError("cannot merge branch biases into a base layer without a bias (bias=False merges)")
        w, b = self.base.weight, self.base.bias
        s = self.scale
        w_p, c, w_s = self._low_rank()
        w0 = w.to(c.dtype)
        new_w = w0 + s * w_p if w_p is not None else w0.clone()
        if w_s is not None:
            new_w = new_w + s * (w_s @ w0)
        if b is not None:
            b0 = b.to(c.dtype)
            b.copy_(b0 + s * ((w_s @ b0 if w_s is not None else 0.0) + c))
        w.copy_(new_w)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore ``W0`` and ``b0`` (up to rounding): subtract the parallel terms, then apply ``(I + s W_s)^{-1}``
        by the Woodbury identity (a k x k solve, float32 or wider). No-op when not merged."""
        if not self.merged:
            return
        w, b = self.base.weight, self.base.bias
        s = self.scale
        w_p, c, _ = self._low_rank()
        rest_w = w.to(c.dtype) - (s * w_p if w_p is not None else 0.0)
        rest_b = b.to(c.dtype) - s * c if b is not None else None
        if self.seq_down is not None and self.seq_up is not None:
            d, u = self.seq_down.weight.to(c.dtype), self.seq_up.weight.to(c.dtype)
            small = torch.eye(self.rank, dtype=c.dtype, device=c.device) + s * (d @ u)  # I_k + s D_s U_s

            def inverse(z: torch.Tensor) -> torch.Tensor:  # (I + s U_s D_s)^{-1} z
                return z - s * (u @ torch.linalg.solve(small, d @ z))

            rest_w = inverse(rest_w)
            rest_b = inverse(rest_b[:, None])[:, 0] if rest_b is not None else None
        w.copy_(rest_w)
        if b is not None and rest_b is not None:
            b.copy_(rest_b)
        self.merged = False

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)
        if self.merged:
            return h
        # y = h + s U_p drop(D_p x) + s U_s drop(D_s h): the sequential branch reads the frozen output, b0 included.
        y = h
        if self.par_down is not None and self.par_up is not None:
            y = y + self.scale * self.par_up(self.dropout(self.par_down(x)))
        if self.seq_down is not None and self.seq_up is not None:
            y = y + self.scale * self.seq_up(self.dropout(self.seq_down(h)))
        return y

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, "
            f"scale={self.scale:g}, branches={self.branches}, init={self.init!r}, merged={self.merged}"
        )
