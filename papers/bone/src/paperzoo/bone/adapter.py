"""Bone on a whole model: inject :class:`BoneLinear` into named layers of any (Hugging Face) model, save and
load the adapter alone, merge, unmerge, and merge-and-unload to a plain model.

Target names follow peft: a list matches a module whose qualified name equals an entry or ends with
``"." + entry`` (``["q_proj", "v_proj"]``); a string is a regular expression that must match the whole
qualified name. Every parameter of the model that is not a Bone block is frozen.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from paperzoo.bone.layer import VARIANTS, BoneLinear, Variant, in_out_features, is_conv1d
from paperzoo.shared.torch.adapters import swap_modules, target_matches
from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

# The paper's targets on LLaMA-2 (the official llama/bone.py: every projection of attention and MLP).
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_KEY = "bone_block"


@dataclass(frozen=True)
class BoneConfig:
    """What :func:`apply_bone` injects (defaults: peft's ``r=64``, dropout 0; the paper's ``bat`` variant)."""

    target_modules: tuple[str, ...] | str = LLAMA_TARGETS
    r: int = 64
    variant: Variant = "bat"
    mini_r: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("r", self.r)
        check_one_of("variant", self.variant, VARIANTS)
        check_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)
        if isinstance(self.target_modules, str):
            try:
                re.compile(self.target_modules)
            except re.error as err:
                raise ValueError(f"target_modules is not a valid regex ({err}): {self.target_modules!r}") from err
        elif not self.target_modules or not all(isinstance(t, str) and t for t in self.target_modules):
            raise ValueError(f"target_modules must be a non-empty list of names or a regex, got {self.target_modules}")
        else:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

    def matches(self, name: str) -> bool:
        """Whether the module named ``name`` is a target (peft's rule: exact/suffix for a list, regex for a str)."""
        return target_matches(self.target_modules, name)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not isinstance(self.target_modules, str):
            d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BoneConfig:
        tm = d["target_modules"]
        return cls(**{**d, "target_modules": tm if isinstance(tm, str) else tuple(tm)})


def apply_bone(model: nn.Module, config: BoneConfig | None = None, **kwargs: Any) -> nn.Module:
    """Wrap every target layer of ``model`` in a :class:`BoneLinear`, in place; freeze everything else.

    Args:
        model: any ``nn.Module``, e.g. a ``transformers`` causal LM (Llama's ``nn.Linear`` or GPT-2's ``Conv1D``).
        config: a :class:`BoneConfig`; or give its fields as keyword arguments.

    Returns:
        ``model``, whose only trainable parameters are the Bone blocks.

    Raises:
        ValueError: naming ``target_modules`` when nothing matches, when a match is neither ``nn.Linear`` nor
            ``Conv1D`` (e.g. a whole attention block), or when the model already carries Bone layers; any
            ``BoneLinear`` argument error (e.g. ``r`` not dividing a ``bat`` layer's shape) names the layer.
    """
    if config is None:
        config = BoneConfig(**kwargs)
    elif kwargs:
        raise ValueError("give either config or keyword arguments, not both")
    if any(isinstance(m, BoneLinear) for m in model.modules()):
        raise ValueError("model already carries Bone layers: merge_and_unload it first")
    targets = [(name, m) for name, m in model.named_modules() if name and config.matches(name)]
    if not targets:
        raise ValueError(f"target_modules {config.target_modules!r} matched no module of {type(model).__name__}")
    for name, module in targets:
        if not (isinstance(module, nn.Linear) or is_conv1d(module)):
            raise ValueError(
                f"target_modules matched {name!r}, a {type(module).__name__}; Bone wraps torch.nn.Linear "
                "and transformers Conv1D layers only"
            )
    swap_modules(
        model, targets, lambda _, module: BoneLinear(module, config.r, config.variant, config.mini_r, config.dropout)
    )
    model.bone_config = config  # type: ignore[assignment]
    return model


def bone_layers(model: nn.Module) -> Iterator[tuple[str, BoneLinear]]:
    """``(qualified name, layer)`` of every Bone layer of ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, BoneLinear):
            yield name, module


def bone_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter alone: ``{"<layer>.bone_block": B}`` (detached copies), a tiny fraction of the model."""
    return {f"{name}.{ADAPTER_KEY}": layer.bone_block.detach().clone() for name, layer in bone_layers(model)}


@torch.no_grad()
def load_bone_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy saved Bone blocks into ``model``'s Bone layers; the key sets must agree exactly.

    A merged layer is unmerged first (its merge used the old B) and merged again with the new one.
    """
    layers = dict(bone_layers(model))
    expected = {f"{name}.{ADAPTER_KEY}" for name in layers}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"state does not fit the model's Bone layers: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, layer in layers.items():
        value = state[f"{name}.{ADAPTER_KEY}"]
        if value.shape != layer.bone_block.shape:
            raise ValueError(f"state[{name}.{ADAPTER_KEY}] has shape {tuple(value.shape)}, "
                             f"the layer needs {tuple(layer.bone_block.shape)}")  # fmt: skip
        was_merged = layer.merged
        layer.unmerge()
        layer.bone_block.copy_(value)
        if was_merged:
            layer.merge()


def save_bone(model: nn.Module, path: str | Path) -> Path:
    """Write the adapter (its :class:`BoneConfig` and Bone blocks, nothing of the base model) to ``path``."""
    config = getattr(model, "bone_config", None)
    if config is None:
        raise ValueError("model carries no Bone adapter (apply_bone it first)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"config": config.to_dict(), "state": bone_state_dict(model)}, tmp)
    tmp.replace(path)
    return path


def load_bone(model: nn.Module, path: str | Path) -> nn.Module:
    """Apply the adapter saved by :func:`save_bone` to a fresh base ``model`` and load its blocks."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    apply_bone(model, BoneConfig.from_dict(saved["config"]))
    load_bone_state_dict(model, saved["state"])
    return model


def merge_bone(model: nn.Module) -> None:
    """Merge every Bone layer (``W <- W + Delta``); forwards then run the plain base layers."""
    for _, layer in bone_layers(model):
        layer.merge()


def unmerge_bone(model: nn.Module) -> None:
    """Undo :func:`merge_bone` (``bat``: the exact block inverse)."""
    for _, layer in bone_layers(model):
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every Bone layer and put its base layer back: a plain model of the original class, in place.

    The model's parameters keep the ``requires_grad`` flags set by :func:`apply_bone` (all frozen).
    """
    for name, layer in list(bone_layers(model)):
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, layer.base)
    if hasattr(model, "bone_config"):
        del model.bone_config
    return model


def trainable_parameter_count(model: nn.Module) -> int:
    """The number of parameters with ``requires_grad`` (each shared tensor counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def target_shapes(model: nn.Module, target_modules: Sequence[str] | str) -> dict[str, tuple[int, int]]:
    """``{name: (d_in, d_out)}`` of the layers that ``target_modules`` selects (for parameter matching)."""
    config = BoneConfig(target_modules=target_modules if isinstance(target_modules, str) else tuple(target_modules))
    return {name: in_out_features(m) for name, m in model.named_modules() if name and config.matches(name)}
