"""Weighted activation steering (WAS): the controller, the refusal direction, training, and the steering hooks.

The controller reads the last-token outputs of the decoder blocks in ``input_layers`` of a frozen causal LM and
returns a scalar logit ``s_raw`` and one logit per decoder block; during generation the block outputs at the last
position of every forward are patched, ``h_l[-1] += s_raw * sigmoid(logit_l) * alpha * d``, with ``d`` a unit
refusal direction. ActAdd-style constant steering (``controller=None``: ``h_l[-1] += alpha * d`` at every block) and
gated steering (``layer_weights="ones"``: ``s_raw * alpha * d``) are the same hooks with a fixed factor.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.torch.lm import position_ids
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int

MODES = ("official", "prompt", "two_pass")
SCALARS = ("raw", "sigmoid")
LAYER_WEIGHTS = ("learned", "ones")
KEEP = ("best", "last")


class SteeringController(nn.Module):
    """``x -> (s_raw (B, 1), layer logits (B, L))``: Linear(input_dim, hidden_dim), ReLU, Linear(hidden_dim, 1 + L).

    ``out[:, :1]`` is the scalar logit ``s_raw``, ``out[:, 1:]`` the layer logits (``w_l = sigmoid(logit_l)``).
    The input is cast to float32, as the official controller does.
    """

    def __init__(self, input_dim: int, num_layers: int, hidden_dim: int = 1024) -> None:
        super().__init__()
        check_positive_int("input_dim", input_dim)
        check_positive_int("num_layers", num_layers)
        check_positive_int("hidden_dim", hidden_dim)
        self.num_layers = num_layers
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, 1 + num_layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc2(F.relu(self.fc1(x.to(self.fc1.weight.dtype))))
        return out[:, :1], out[:, 1:]


# ------------------------------------------------------------------------------------------------ the model
def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a Hugging Face causal LM: ``model.model.layers`` (Llama) or ``model.transformer.h``
    (GPT-2); ``ValueError`` for other models."""
    inner = getattr(model, "model", None)
    if inner is not None and isinstance(getattr(inner, "layers", None), nn.ModuleList):
        return inner.layers
    inner = getattr(model, "transformer", None)
    if inner is not None and isinstance(getattr(inner, "h", None), nn.ModuleList):
        return inner.h
    raise ValueError(f"model must be a causal LM with model.model.layers or model.transformer.h, got {type(model)}")


def normalize_layers(name: str, layers: Sequence[int], num_layers: int) -> tuple[int, ...]:
    """Layer indices in ``[-L, L)`` as sorted non-negative indices (``-1`` is ``L - 1``); ``ValueError`` otherwise."""
    layers = tuple(layers)
    if not layers or any(not isinstance(i, int) or not -num_layers <= i < num_layers for i in layers):
        raise ValueError(f"{name} must be layer indices in [-{num_layers}, {num_layers}), got {layers}")
    return tuple(sorted({i % num_layers for i in layers}))


def _hidden(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _prompt_ids(kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The ``input_ids`` of a forward over more than one position, else ``None``."""
    ids = kwargs.get("input_ids")
    return ids if ids is not None and ids.shape[1] > 1 else None


def _replace_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@torch.no_grad()
def last_token_activations(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int], batch: int = 256
) -> torch.Tensor:
    """The concatenated outputs of the decoder blocks ``layers`` at the last position, ``(N, len(layers) * d)``.

    Prompts are left-padded (the last position is a real token) with positions that skip the padding.
    """
    blocks = decoder_layers(model)
    layers = normalize_layers("layers", layers, len(blocks))
    captured: dict[int, torch.Tensor] = {}
    handles = [
        blocks[i].register_forward_hook(lambda m, a, out, i=i: captured.__setitem__(i, _hidden(out)[:, -1]))
        for i in layers
    ]
    chunks = []
    try:
        for start in range(0, input_ids.shape[0], batch):
            ids, mask = input_ids[start : start + batch], attention_mask[start : start + batch]
            model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False)
            chunks.append(torch.cat([captured[i] for i in layers], dim=-1).float())
    finally:
        for h in handles:
            h.remove()
    return torch.cat(chunks)


# ------------------------------------------------------------------------------------------------ directions
def refusal_direction(
    model: nn.Module, encode: Callable[[str], Sequence[int]], refusal: Sequence[str], compliance: Sequence[str]
) -> torch.Tensor:
    """The official direction: ``d = normalize(mean_{t in T_refuse} E[t] - mean_{t in T_comply} E[t])``.

    ``E`` is the input embedding; ``T_refuse`` (``T_comply``) are the token ids of all refusal (compliance) phrases
    together. ``ValueError`` when a phrase set has no tokens or the difference is zero (identical sets): the
    official code then returns the unnormalised zero vector.
    """
    ids = [[t for phrase in phrases for t in encode(phrase)] for phrases in (refusal, compliance)]
    if not ids[0] or not ids[1]:
        raise ValueError("refusal and compliance must each contain at least one token")
    emb = model.get_input_embeddings().weight.detach().float()
    diff = emb[ids[0]].mean(0) - emb[ids[1]].mean(0)
    norm = float(diff.norm())
    if norm <= 1e-6 * float(emb.norm(dim=-1).mean()):
        raise ValueError("refusal and compliance phrases give the same mean embedding (identical phrase sets?)")
    return diff / norm


def act_diff_direction(harmful: torch.Tensor, benign: torch.Tensor) -> torch.Tensor:
    """``d = normalize(mean(h_harmful) - mean(h_benign))`` of last-token activations ``(N, d)`` of one layer."""
    if harmful.ndim != 2 or benign.ndim != 2 or harmful.shape[1] != benign.shape[1]:
        raise ValueError(f"harmful and benign must be (N, d) of one width, got {harmful.shape} and {benign.shape}")
    diff = harmful.float().mean(0) - benign.float().mean(0)
    norm = float(diff.norm())
    if norm == 0.0:
        raise ValueError("harmful and benign activations have the same mean")
    return diff / norm


# ------------------------------------------------------------------------------------------------ training
@dataclass
class TrainingLog:
    """Per-epoch mean loss (over all minibatches), the per-epoch mean harmful and benign BCE, and the epoch kept."""

    epoch_loss: list[float]
    harmful_bce: list[float]
    benign_bce: list[float]
    kept_epoch: int


def harmful_loss(s_raw: torch.Tensor, layer_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``BCE(s_raw, 1) + 0.1 (mean|w - 0.5| + 0.01 mean(w))`` with ``w = sigmoid(layer_logits)``; also the BCE."""
    bce = F.binary_cross_entropy_with_logits(s_raw, torch.ones_like(s_raw))
    w = torch.sigmoid(layer_logits)
    return bce + 0.1 * ((w - 0.5).abs().mean() + 0.01 * w.mean()), bce


def train_controller(
    controller: SteeringController,
    x_harmful: torch.Tensor,
    x_benign: torch.Tensor,
    epochs: int = 10,
    batch_size: int = 8,
    lr: float = 5e-5,
    clip_norm: float = 1.0,
    keep: str = "best",
    generator: torch.Generator | None = None,
) -> TrainingLog:
    """Train ``controller`` in place on cached activations (the official recipe; the paper's configuration).

    Each epoch: every harmful minibatch (loss :func:`harmful_loss`, label 1), then every benign minibatch
    (``BCE(s_raw, 0)``, no weight term), each shuffled; AdamW (torch defaults but ``lr``), gradient norm clipped
    at ``clip_norm`` (0: no clipping). ``keep="best"`` restores a deep copy of the epoch with the lowest mean
    loss; ``keep="last"`` keeps the last epoch, which is what the official shallow ``state_dict().copy()`` does.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive("lr", lr)
    check_non_negative("clip_norm", clip_norm)
    check_one_of("keep", keep, KEEP)
    width = controller.fc1.in_features
    for name, x in (("x_harmful", x_harmful), ("x_benign", x_benign)):
        if x.ndim != 2 or x.shape[1] != width or x.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (N, {width}) tensor, got {tuple(x.shape)}")
    opt = torch.optim.AdamW(controller.parameters(), lr=lr)
    controller.train()
    log = TrainingLog([], [], [], kept_epoch=epochs - 1)
    best, best_state = math.inf, None
    for epoch in range(epochs):
        losses, bces = [], {True: [], False: []}
        for harmful, x in ((True, x_harmful), (False, x_benign)):
            order = torch.randperm(x.shape[0], generator=generator)
            for start in range(0, x.shape[0], batch_size):
                s_raw, logits = controller(x[order[start : start + batch_size]])
                if harmful:
                    loss, bce = harmful_loss(s_raw, logits)
                else:
                    loss = bce = F.binary_cross_entropy_with_logits(s_raw, torch.zeros_like(s_raw))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm > 0:
                    nn.utils.clip_grad_norm_(controller.parameters(), clip_norm)
                opt.step()
                losses.append(loss.item())
                bces[harmful].append(bce.item())
        log.epoch_loss.append(sum(losses) / len(losses))
        log.harmful_bce.append(sum(bces[True]) / len(bces[True]))
        log.benign_bce.append(sum(bces[False]) / len(bces[False]))
        if keep == "best" and log.epoch_loss[-1] < best:
            best, best_state, log.kept_epoch = log.epoch_loss[-1], copy.deepcopy(controller.state_dict()), epoch
    if best_state is not None:
        controller.load_state_dict(best_state)
    controller.eval()
    return log


# ------------------------------------------------------------------------------------------------ the hooks
class SteeringHooks:
    """A context manager that steers ``model`` while it is active: ``with SteeringHooks(...) as hooks: model(...)``.

    Every forward of ``model`` patches the block outputs at its last position,
    ``h_l[:, -1] += c_l * d`` with ``c_l = alpha * s * w_l``: ``s = s_raw`` (``scalar="raw"``, the official) or
    ``sigmoid(s_raw)``; ``w_l = sigmoid(logit_l)`` (``layer_weights="learned"``) or 1 (``"ones"``: gated steering).
    ``controller=None`` is constant steering (ActAdd): ``c_l = alpha`` at every block of every forward. When the
    controller runs (rows are batched; prompts must be left-padded so the last position is a real token):

    - ``official``: the literal hook order of the official code. In a forward, each block's output is first captured
      (if an input layer), then patched once the controller has run; the controller runs at the first block after
      which all its input layers have run, on their unpatched outputs. With the last four blocks as input only the
      final block is patched.
    - ``prompt``: on a forward that starts a sequence (no KV cache yet), an extra unpatched pass over the prompt feeds
      the controller; that one output then patches every block for the prompt's last position and each later token.
      At a generation's prefill (``use_cache=True``, ``input_ids`` by keyword) that pass also fills the KV cache and
      the patched forward runs on the last position only (its logits are that position's): the prompt runs once.
    - ``two_pass``: before every forward, an unpatched pass of the same input (the KV cache rolled back after it)
      feeds the controller; every block is patched (twice the cost).

    ``patched`` logs, per forward, the blocks it patched; ``scalar`` and ``weights`` hold the controller's latest
    ``s_raw (B, 1)`` and ``w (B, L)``. Hooks are removed on exit, also when the body raises.
    """

    def __init__(
        self,
        model: nn.Module,
        controller: nn.Module | None,
        direction: torch.Tensor,
        input_layers: Sequence[int] = (-4, -3, -2, -1),
        alpha: float = 4.0,
        mode: str = "official",
        scalar: str = "raw",
        layer_weights: str = "learned",
    ) -> None:
        self.model = model
        self.blocks = decoder_layers(model)
        n = len(self.blocks)
        self.input_layers = normalize_layers("input_layers", input_layers, n)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        self.alpha = float(alpha)
        self.mode = check_one_of("mode", mode, MODES)
        self.scalar_kind = check_one_of("scalar", scalar, SCALARS)
        self.layer_weights = check_one_of("layer_weights", layer_weights, LAYER_WEIGHTS)
        width = model.get_input_embeddings().weight.shape[1]
        if direction.ndim != 1 or direction.shape[0] != width:
            raise ValueError(f"direction must be a vector of the model's width {width}, got {tuple(direction.shape)}")
        self.direction = direction.detach().float().to(model.get_input_embeddings().weight.device)
        self.controller = controller
        self.patched: list[list[int]] = []
        self.scalar: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        self._handles: list[Any] = []
        self._captured: dict[int, torch.Tensor] = {}
        self._patch: torch.Tensor | None = None  # (B or 1, L, d): c_l * d per row and block
        self._reading = False

    # -- context manager
    def __enter__(self) -> SteeringHooks:
        if self._handles:
            raise RuntimeError("these SteeringHooks are already active")
        try:
            self._handles.append(self.model.register_forward_pre_hook(self._before_forward, with_kwargs=True))
            for i, block in enumerate(self.blocks):
                self._handles.append(block.register_forward_hook(lambda m, a, out, i=i: self._after_block(i, out)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._patch = None

    # -- the controller
    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """``c = alpha * s * w``, ``(B, L)``, from the controller input ``x`` (``(B, len(input_layers) * d)``)."""
        assert self.controller is not None
        with torch.no_grad():
            s_raw, logits = self.controller(x)
        if logits.shape[-1] != len(self.blocks):
            raise ValueError(
                f"the controller gives {logits.shape[-1]} layer logits for a {len(self.blocks)}-block model"
            )
        self.scalar = s_raw
        self.weights = torch.ones_like(logits) if self.layer_weights == "ones" else torch.sigmoid(logits)
        s = s_raw if self.scalar_kind == "raw" else torch.sigmoid(s_raw)
        return self.alpha * s * self.weights

    def _read(self, args: tuple, kwargs: dict[str, Any]) -> None:
        """An unpatched pass of the same input that captures the input layers, then the controller."""
        cache = kwargs.get("cache")
        length = 0 if cache is None else cache.get_seq_length()
        extra = {"use_cache": True, "cache": cache} if length else {"use_cache": False, "cache": None}
        self._reading, self._captured = True, {}
        try:
            with torch.no_grad():
                self.model(*args, **{**kwargs, **extra, "logits_to_keep": 1})
        finally:
            self._reading = False
        if length:  # roll the cache back (crop takes minus the number of positions to drop)
            cache.crop(length - cache.get_seq_length())
        self._run_controller()

    def _read_prompt(self, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """``prompt`` mode at a generation's prefill: the unpatched pass over the prompt fills the KV cache, which is
        rolled back one position; the real forward then runs on the last position alone (patched, with the cache),
        so the prompt is not run twice. The forward's logits are the last position's only."""
        self._reading, self._captured = True, {}
        try:
            with torch.no_grad():
                cache = self.model(**{**kwargs, "logits_to_keep": 1}).cache
        finally:
            self._reading = False
        cache.crop(-1)
        self._run_controller()
        last = {k: kwargs[k][:, -1:] for k in ("input_ids", "position_ids") if kwargs.get(k) is not None}
        if kwargs.get("cache_position") is not None:
            last["cache_position"] = kwargs["cache_position"][-1:]
        return (), {**kwargs, **last, "cache": cache}

    def _run_controller(self) -> None:
        c = self.coefficients(torch.cat([self._captured[i] for i in self.input_layers], dim=-1))
        self._patch = c[:, :, None] * self.direction

    def _before_forward(
        self, module: nn.Module, args: tuple, kwargs: dict[str, Any]
    ) -> tuple[tuple, dict[str, Any]] | None:
        if self._reading:
            return None
        self._captured = {}
        self.patched.append([])
        if self.controller is None:
            self._patch = (self.alpha * self.direction).expand(1, len(self.blocks), -1)
        elif self.mode == "official":
            self._patch = None
        elif self.mode == "two_pass":
            self._read(args, kwargs)
        else:
            cache = kwargs.get("cache")
            if cache is None and kwargs.get("use_cache") is True and not args and _prompt_ids(kwargs) is not None:
                return self._read_prompt(kwargs)
            if cache is None or cache.get_seq_length() == 0:
                self._read(args, kwargs)
            elif self._patch is None:
                raise RuntimeError("prompt mode: a forward continued a sequence whose prompt was not steered")
        return None

    def _after_block(self, i: int, output: Any) -> Any:
        hidden = _hidden(output)
        if i in self.input_layers and (self._reading or (self.mode == "official" and self._patch is None)):
            self._captured[i] = hidden[:, -1].detach()
        if self._reading:
            return None
        if self._patch is None and self.controller is not None and len(self._captured) == len(self.input_layers):
            self._run_controller()
        if self._patch is None:
            return None
        if self._patch.shape[0] not in (1, hidden.shape[0]):
            raise RuntimeError(f"steering factors for {self._patch.shape[0]} rows, but the batch has {hidden.shape[0]}")
        patch = self._patch[:, i].to(hidden.dtype)
        if hidden.shape[1] == 1:  # a decoding step: the only position is the last
            hidden = hidden + patch[:, None]
        else:
            hidden = torch.cat([hidden[:, :-1], (hidden[:, -1] + patch)[:, None]], dim=1)
        self.patched[-1].append(i)
        return _replace_hidden(output, hidden)
