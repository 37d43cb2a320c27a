"""The Bone layer: a block-wise update of a frozen linear weight (Kang, 2024, arXiv:2409.15371).

A frozen linear layer computes ``y = W x + b`` with ``W`` in R^{d_out x d_in}. Bone adds a weight update
``Delta`` built from ``r x r`` blocks and trains only the small tensor ``B``; three variants, named as in
Hugging Face peft's ``MissConfig(init_weights=...)``:

``bat`` (the paper's method, "Weight Guide"; peft ``init_weights="bat"``; the official ``merge_bone.py``)
    ``B in R^{(d_out/r) x r x r}``, zero init. With ``W_{i,j} = W[i r:(i+1) r, j r:(j+1) r]``::

        Delta_{i,j} = W_{i,j} @ B_i + B_i                       (B_i shared by every input block j)
        y = (W + Delta) x + b                                   (Delta rebuilt at every forward)
        merge:   W <- W + Delta
        unmerge: W_{i,j} = (W'_{i,j} - B_i) (I + B_i)^{-1}      (exact; solved in float32 or wider)

``bone`` (peft's default ``init_weights=True``, MiSS "balance"; *not* the weight-guided form)
    ``B in R^{r x d_out}``, zero init. With ``x_[j]`` the j-th length-r chunk of x (x zero-padded on the
    right to a multiple of r)::

        y = W x + b + (sum_j x_[j]) B
        Delta[o, j r + c] = B[c, o]                             (B^T tiled along d_in, cut at d_in)

``mini`` (MiSS ``init_weights="mini"``): ``B in R^{r x mini_r}`` repeated ``d_out / mini_r`` times along the
output dimension, then as ``bone``; ``mini_r = d_out`` is ``bone``.

Trainable parameters per layer: ``r d_out`` (``bat``, ``bone``) and ``r mini_r`` (``mini``).
The wrapped layer is an ``nn.Linear`` or GPT-2's ``transformers`` ``Conv1D`` (weight stored transposed,
``(d_in, d_out)``); the base weight and bias stay frozen and are never copied.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

VARIANTS = ("bat", "bone", "mini")
INITS = ("zeros", "kaiming")
Variant = Literal["bat", "bone", "mini"]


def is_conv1d(module: nn.Module) -> bool:
    """Whether ``module`` is GPT-2's ``transformers`` ``Conv1D`` (``y = x W + b`` with ``W`` of shape (d_in, d_out)).

    Detected by name and attributes, so that this module never imports transformers.
    """
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf") and getattr(module, "weight", None) is not None


def in_out_features(module: nn.Module) -> tuple[int, int]:
    """``(d_in, d_out)`` of an ``nn.Linear`` or a ``Conv1D``; ``ValueError`` naming ``base`` for anything else."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if is_conv1d(module):
        d_in, d_out = module.weight.shape
        return int(d_in), int(d_out)
    raise ValueError(f"base must be a torch.nn.Linear or a transformers Conv1D (GPT-2), got {type(module).__name__}")


def bat_delta(weight: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Weight-guided block update: ``Delta_{i,j} = W_{i,j} @ B_i + B_i`` for every r x r block of ``weight``.

    Args:
        weight: ``W``, shape (d_out, d_in), both multiples of r.
        block: ``B``, shape (d_out / r, r, r).

    Returns:
        ``Delta``, shape (d_out, d_in).
    """
    n_out, r, _ = block.shape
    d_out, d_in = weight.shape
    # (d_out, d_in) -> (d_out/r, d_in/r, r, r): blocks[i, j] = W_{i,j}
    blocks = weight.reshape(n_out, r, d_in // r, r).transpose(1, 2)
    # Delta_{i,j} = W_{i,j} B_i + B_i  (right multiplication, B_i broadcast over the input blocks j)
    delta = blocks @ block[:, None] + block[:, None]
    return delta.transpose(1, 2).reshape(d_out, d_in)


def bat_unmerge(merged: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Inverse of ``W' = W + Delta(W)``: ``W_{i,j} = (W'_{i,j} - B_i)(I + B_i)^{-1}``.

    Solved (not inverted) in float32, or float64 when the weight is float64; returned in ``merged``'s dtype.
    """
    n_out, r, _ = block.shape
    d_out, d_in = merged.shape
    dtype = torch.promote_types(merged.dtype, torch.float32)
    b = block.to(dtype)
    # W'_{i,j} = W_{i,j} (I + B_i) + B_i  =>  X (I + B_i) = W'_{i,j} - B_i, solved for X on the left.
    rhs = merged.to(dtype).reshape(n_out, r, d_in // r, r).transpose(1, 2) - b[:, None]
    eye = torch.eye(r, dtype=dtype, device=merged.device)
    blocks = torch.linalg.solve(eye + b[:, None], rhs, left=False)
    return blocks.transpose(1, 2).reshape(d_out, d_in).to(merged.dtype)


def tiled_delta(block: torch.Tensor, d_in: int) -> torch.Tensor:
    """The dense update of ``bone``: ``Delta[o, j r + c] = B[c, o]``, B^T tiled along d_in and cut at d_in.

    A ragged tail of width ``t = d_in mod r`` gets ``B^T[:, :t]`` (the zero-padding of x in the forward).
    """
    r = block.shape[0]
    return block.t().repeat(1, math.ceil(d_in / r))[:, :d_in]


class BoneLinear(nn.Module):
    """A frozen ``nn.Linear`` (or GPT-2 ``Conv1D``) with a trainable Bone update (module docstring: equations).

    Args:
        base: the layer to wrap; its parameters are frozen (``requires_grad=False``) and used in place.
        r: the block size ("rank"); peft's default is 64.
        variant: ``"bat"`` (the paper's weight-guided Bone, default), ``"bone"`` (peft's default) or ``"mini"``.
        mini_r: the width of ``B`` along the output dimension (``mini`` only; ``d_out % mini_r == 0``).
        dropout: input dropout of the ``bone``/``mini`` path (MiSS ``miss_dropout``; default 0). ``bat`` has
            no input path to drop, so a non-zero value is refused there.
        init: ``"zeros"`` (the paper: the wrapped layer starts exactly as the base) or ``"kaiming"``
            (peft's ``init_weights=False``, kaiming-uniform with a = sqrt 5; output changes at init, debug only).

    Raises:
        ValueError: naming the argument, for an unsupported ``base``, a non-positive ``r``, ``bat`` with
            ``d_in`` or ``d_out`` not a multiple of ``r``, ``r > d_in``, ``mini`` without a divisor ``mini_r``.
    """

    def __init__(
        self,
        base: nn.Module,
        r: int = 64,
        variant: Variant = "bat",
        mini_r: int | None = None,
        dropout: float = 0.0,
        init: Literal["zeros", "kaiming"] = "zeros",
    ) -> None:
        super().__init__()
        d_in, d_out = in_out_features(base)
        check_positive_int("r", r)
        check_one_of("variant", variant, VARIANTS)
        check_one_of("init", init, INITS)
        check_range("dropout", dropout, 0.0, 1.0, high_inclusive=False)
        if r > d_in:
            raise ValueError(f"r must be <= in_features ({d_in}), got {r}")
        if variant == "bat":
            if d_in % r or d_out % r:
                raise ValueError(
                    f"r must divide both in_features and out_features for variant 'bat' "
                    f"(the weight is cut into r x r blocks), got r={r} for a {d_out} x {d_in} weight"
                )
            if dropout:
                raise ValueError(f"dropout must be 0 for variant 'bat' (it has no input path), got {dropout}")
            shape: tuple[int, ...] = (d_out // r, r, r)
        elif variant == "bone":
            shape = (r, d_out)
        else:
            if mini_r is None:
                raise ValueError("mini_r must be given for variant 'mini'")
            check_positive_int("mini_r", mini_r)
            if d_out % mini_r:
                raise ValueError(f"mini_r must divide out_features ({d_out}), got {mini_r}")
            shape = (r, mini_r)
        if variant != "mini" and mini_r is not None:
            raise ValueError(f"mini_r is only used by variant 'mini', got mini_r={mini_r} with variant {variant!r}")
        self.base = base
        self.base.requires_grad_(False)
        self.in_features, self.out_features = d_in, d_out
        self.r, self.variant, self.mini_r = r, variant, mini_r
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        weight = base.weight
        self.bone_block = nn.Parameter(torch.zeros(shape, dtype=weight.dtype, device=weight.device))
        if init == "kaiming":
            nn.init.kaiming_uniform_(self.bone_block, a=math.sqrt(5))
        self.merged = False

    # ------------------------------------------------------------------------------------------ weights
    @property
    def weight(self) -> torch.Tensor:
        """The base weight ``W`` as (d_out, d_in) (a view of the ``Conv1D``'s transposed storage)."""
        return self.base.weight.t() if is_conv1d(self.base) else self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def full_block(self) -> torch.Tensor:
        """``B`` of ``bone``, shape (r, d_out); for ``mini``, B repeated d_out / mini_r times along the outputs."""
        if self.variant == "mini":
            return self.bone_block.repeat(1, self.out_features // self.mini_r)
        return self.bone_block

    def delta_weight(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The dense update ``Delta`` (d_out, d_in) of the current ``B`` on ``weight`` (default: the unmerged W)."""
        if self.variant == "bat":
            if weight is None:
                if self.merged:
                    raise RuntimeError("delta_weight of a merged bat layer needs the unmerged weight: unmerge first")
                weight = self.weight
            return bat_delta(weight, self.bone_block)
        return tiled_delta(self.full_block(), self.in_features)

    @torch.no_grad()
    def merge(self) -> None:
        """``W <- W + Delta`` in place; the forward then runs the plain base layer. No-op when already merged."""
        if self.merged:
            return
        w = self.weight
        w.copy_(w + self.delta_weight(w).to(w.dtype))
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore ``W`` exactly (up to rounding): ``bat`` solves (W' - B_i)(I + B_i)^{-1}, the others subtract."""
        if not self.merged:
            return
        w = self.weight
        if self.variant == "bat":
            w.copy_(bat_unmerge(w, self.bone_block))
        else:
            w.sub_(self.delta_weight().to(w.dtype))
        self.merged = False

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        if self.variant == "bat":
            # y = (W + Delta) x + b, Delta rebuilt from the frozen W and the current B at every call.
            w = self.weight
            return F.linear(x, w + bat_delta(w, self.bone_block), self.bias)
        # y = W x + b + (sum_j x_[j]) B, x zero-padded on the right to a multiple of r.
        block = self.full_block()
        h = self.dropout(x).to(block.dtype)
        pad = -self.in_features % self.r
        if pad:
            h = F.pad(h, (0, pad))
        summed = h.reshape(*h.shape[:-1], -1, self.r).sum(dim=-2)
        return self.base(x) + (summed @ block).to(x.dtype)

    def extra_repr(self) -> str:
        mini = f", mini_r={self.mini_r}" if self.variant == "mini" else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
            f"variant={self.variant!r}{mini}, merged={self.merged}"
        )


def bone_parameter_count(d_in: int, d_out: int, r: int, variant: Variant = "bat", mini_r: int | None = None) -> int:
    """Trainable parameters of one Bone layer: ``r d_out`` (bat, bone) or ``r mini_r`` (mini)."""
    check_one_of("variant", variant, VARIANTS)
    check_positive_int("d_in", d_in)
    check_positive_int("d_out", d_out)
    check_positive_int("r", r)
    if variant == "mini":
        return r * check_positive_int("mini_r", mini_r)  # type: ignore[arg-type]
    return r * d_out


def matched_lora_rank(d_in: int, d_out: int, r: int) -> float:
    """The LoRA rank with the trainable parameters of a Bone layer of block size r: ``r d_out / (d_in + d_out)``.

    LoRA on a (d_out x d_in) weight trains ``rank (d_in + d_out)``; ``r/2`` for a square weight.
    """
    return bone_parameter_count(d_in, d_out, r) / (d_in + d_out)
