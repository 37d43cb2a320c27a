"""Collecting the inputs of a model's target layers with forward hooks (EVA, step 1), and finding the layers that
receive identical inputs (step 2: e.g. q/k/v of one attention block, gate/up of one MLP).

Only real tokens enter EVA's decomposition: a token position t of sequence b is kept if ``attention_mask[b, t] = 1``
and, with ``use_label_mask``, ``labels[b, t] != label_mask_value`` (-100: prompt and padding positions of a
causal-LM batch). The hook of a layer sees its input x (batch x seq x d_in) and passes on x[mask] (tokens x d_in),
in row-major token order (as peft's ``prepare_layer_inputs_fn_language_modeling``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

Sink = Callable[[str, torch.Tensor], None]


def token_mask(batch: Mapping[str, Any], use_label_mask: bool = True, label_mask_value: int = -100) -> torch.Tensor:
    """The bool mask (batch x seq) of the token positions that enter the decomposition.

    ``attention_mask`` (all ones if absent) AND, if ``use_label_mask`` and the batch has ``labels``,
    ``labels != label_mask_value``.
    """
    if "input_ids" not in batch and "attention_mask" not in batch:
        raise ValueError("batch must hold input_ids or attention_mask to build the token mask")
    ref = batch["attention_mask"] if "attention_mask" in batch else batch["input_ids"]
    mask = batch["attention_mask"].bool() if "attention_mask" in batch else torch.ones_like(ref, dtype=torch.bool)
    if use_label_mask and batch.get("labels") is not None:
        mask = mask & (batch["labels"] != label_mask_value)
    return mask


class ActivationCollector:
    """Forward hooks on named layers of ``model`` that hand each layer's masked input (tokens x d_in) to a sink.

    Args:
        model: any ``nn.Module``.
        layer_names: qualified names of the layers to watch (``model.get_submodule`` names).
        sink: ``sink(name, x)`` called inside the hook with x = the layer's input at the masked positions. Default:
            keep the latest input of each layer in :attr:`collected`.

    Use :meth:`set_mask` before a forward pass (a bool batch x seq mask, e.g. from :func:`token_mask`; ``None``
    keeps every position), :meth:`attach` / :meth:`detach` to choose which layers are hooked, and :meth:`close`
    (or the context manager) to remove every hook.
    """

    def __init__(self, model: nn.Module, layer_names: Iterable[str], sink: Sink | None = None) -> None:
        self.model = model
        self.layer_names = list(layer_names)
        if not self.layer_names:
            raise ValueError("layer_names must name at least one layer")
        for name in self.layer_names:
            model.get_submodule(name)  # raises AttributeError naming a missing layer
        self.collected: dict[str, torch.Tensor] = {}
        self.sink: Sink = sink if sink is not None else self._store
        self.mask: torch.Tensor | None = None
        self._handles: dict[str, torch.utils.hooks.RemovableHandle] = {}

    def _store(self, name: str, x: torch.Tensor) -> None:
        self.collected[name] = x

    def set_mask(self, mask: torch.Tensor | None) -> None:
        """The token mask (batch x seq, bool) applied to the inputs of the next forward passes."""
        self.mask = None if mask is None else mask.bool()

    def select(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch x seq x d) -> x[mask] (tokens x d); other shapes are flattened to (-1, d)."""
        if self.mask is not None and x.ndim == 3 and x.shape[:2] == self.mask.shape:
            return x[self.mask.to(x.device)]
        if self.mask is not None and x.ndim == 3:
            raise ValueError(f"token mask of shape {tuple(self.mask.shape)} does not fit the input {tuple(x.shape)}")
        return x.reshape(-1, x.shape[-1])

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            x = args[0] if isinstance(args, (tuple, list)) else args
            with torch.no_grad():
                self.sink(name, self.select(x.detach()))

        return hook

    @property
    def attached(self) -> set[str]:
        return set(self._handles)

    def attach(self, names: Iterable[str] | None = None) -> None:
        """Hook the given layers (default: all) that are not hooked yet."""
        for name in self.layer_names if names is None else names:
            if name not in self._handles:
                module = self.model.get_submodule(name)
                self._handles[name] = module.register_forward_hook(self._hook(name))

    def detach(self, names: Iterable[str] | None = None) -> None:
        """Remove the hooks of the given layers (default: all)."""
        for name in list(self._handles) if names is None else list(names):
            handle = self._handles.pop(name, None)
            if handle is not None:
                handle.remove()

    def close(self) -> None:
        self.detach()

    def __enter__(self) -> ActivationCollector:
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def input_digest(x: torch.Tensor) -> str:
    """A hash of a tensor's shape, dtype and bytes (equal inputs <=> equal digests, up to hash collisions)."""
    t = x.detach().contiguous().cpu()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{tuple(t.shape)}|{t.dtype}".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def group_equal_inputs(inputs: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """``{member: representative}`` for layers whose inputs are identical to an earlier layer's (EVA step 2).

    Layers are grouped by :func:`input_digest` (and checked with ``torch.equal``); the representative of a group is
    its first layer in the order of ``inputs`` (model order). Layers without a twin do not appear.
    """
    first: dict[str, str] = {}
    out: dict[str, str] = {}
    for name, x in inputs.items():
        key = input_digest(x)
        rep = first.setdefault(key, name)
        if rep != name and torch.equal(inputs[rep], x):
            out[name] = rep
    return out
