"""Hydra on a whole model: inject :class:`HydraLinear` into named layers of a Hugging Face model, the adapter-only
state dict, merge / unmerge / merge-and-unload, and parameter counts.

Target names follow peft: a tuple matches a module whose qualified name equals an entry or ends with
``"." + entry``; a string is a regular expression that must match the whole qualified name. The paper's targets
are each block's attention output projection and MLP down-projection (fc2): :data:`VIT_TARGETS` for
``transformers``' ViT, :data:`ROBERTA_TARGETS` for RoBERTa. ``rank_pattern`` gives some targets another rank (as
peft's ``rank_pattern``; used to match parameter budgets). Every other parameter of the model is frozen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from paperzoo.hydra.layer import BRANCHES, INITS, HydraLinear, Init, check_branches
from paperzoo.shared.torch.adapters import swap_modules, target_matches
from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

VIT_TARGETS = ("o_proj", "fc2")  # transformers' ViT: attention output projection, MLP down-projection
ROBERTA_TARGETS = r".*\.(attention\.output|layer\.\d+\.output)\.dense"  # RoBERTa's two output projections


@dataclass(frozen=True)
class HydraConfig:
    """What :func:`apply_hydra` injects; the defaults are the official vision code's (rank 2, xavier, biases)."""

    target_modules: tuple[str, ...] | str = VIT_TARGETS
    rank: int = 2
    scale: float = 1.0
    dropout: float = 0.0
    branches: tuple[str, ...] = BRANCHES
    bias: bool = True
    init: Init = "xavier"
    rank_pattern: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_positive_int("rank", self.rank)
        check_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)
        check_one_of("init", self.init, INITS)
        object.__setattr__(self, "branches", check_branches(self.branches))
        if isinstance(self.target_modules, str):
            try:
                re.compile(self.target_modules)
            except re.error as err:
                raise ValueError(f"target_modules is not a valid regex ({err}): {self.target_modules!r}") from err
        elif not self.target_modules or not all(isinstance(t, str) and t for t in self.target_modules):
            raise ValueError(f"target_modules must be a non-empty list of names or a regex, got {self.target_modules}")
        else:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        pattern = self.rank_pattern.items() if isinstance(self.rank_pattern, Mapping) else self.rank_pattern
        pattern = tuple(sorted((str(k), check_positive_int("rank_pattern", int(v))) for k, v in pattern))
        object.__setattr__(self, "rank_pattern", pattern)

    def rank_for(self, name: str) -> int:
        """The rank of the layer named ``name``: the first ``rank_pattern`` key it matches (peft's suffix rule)."""
        return next((k for key, k in self.rank_pattern if target_matches((key,), name)), self.rank)


def apply_hydra(model: nn.Module, config: HydraConfig | None = None, **kwargs: object) -> nn.Module:
    """Wrap every target ``nn.Linear`` of ``model`` in a :class:`HydraLinear`, in place; freeze everything else.

    Args:
        model: any ``nn.Module``, e.g. a ``transformers`` ``ViTForImageClassification``.
        config: a :class:`HydraConfig`; or give its fields as keyword arguments.

    Returns:
        ``model``, whose only trainable parameters are the branches' D and U (unfreeze a new head yourself).

    Raises:
        ValueError: naming ``target_modules`` when nothing matches or a match is not an ``nn.Linear``, when the
            model already carries Hydra layers, or a layer's own argument error (prefixed by the layer's name).
    """
    if config is None:
        config = HydraConfig(**kwargs)  # type: ignore[arg-type]
    elif kwargs:
        raise ValueError("give either config or keyword arguments, not both")
    if any(isinstance(m, HydraLinear) for m in model.modules()):
        raise ValueError("model already carries Hydra layers: merge_and_unload it first")
    targets = [(name, m) for name, m in model.named_modules() if name and target_matches(config.target_modules, name)]
    if not targets:
        raise ValueError(f"target_modules {config.target_modules!r} matched no module of {type(model).__name__}")
    for name, module in targets:
        if not isinstance(module, nn.Linear):
            raise ValueError(f"target_modules matched {name!r}, a {type(module).__name__}; Hydra wraps nn.Linear only")
    swap_modules(
        model,
        targets,
        lambda name, module: HydraLinear(
            module, config.rank_for(name), config.scale, config.dropout, config.branches, config.bias, config.init
        ),
    )
    model.hydra_config = config  # type: ignore[assignment]
    return model


def hydra_layers(model: nn.Module) -> Iterator[tuple[str, HydraLinear]]:
    """``(qualified name, layer)`` of every Hydra layer of ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, HydraLinear):
            yield name, module


def hydra_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter alone: every branch's D and U (``<layer>.par_down.weight``, ...), detached copies."""
    return {
        f"{name}.{key}": value.detach().clone()
        for name, layer in hydra_layers(model)
        for key, value in layer.state_dict().items()
        if not key.startswith("base.")
    }


@torch.no_grad()
def load_hydra_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy a :func:`hydra_state_dict` into ``model``'s Hydra layers; the key sets and shapes must agree.
    A merged layer is unmerged first and merged again with the new branches."""
    expected = hydra_state_dict(model)
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ValueError(f"state does not fit the model's Hydra layers: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, layer in hydra_layers(model):
        was_merged = layer.merged
        layer.unmerge()
        for key, param in layer.state_dict(keep_vars=True).items():
            if key.startswith("base."):
                continue
            value = state[f"{name}.{key}"]
            if value.shape != param.shape:
                raise ValueError(f"state[{name}.{key}] has shape {tuple(value.shape)}, needs {tuple(param.shape)}")
            param.copy_(value)
        if was_merged:
            layer.merge()


def merge_hydra(model: nn.Module) -> None:
    """Merge every Hydra layer (W', b' written into the wrapped base layer)."""
    for _, layer in hydra_layers(model):
        layer.merge()


def unmerge_hydra(model: nn.Module) -> None:
    """Undo :func:`merge_hydra` (W0, b0 restored up to rounding)."""
    for _, layer in hydra_layers(model):
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every Hydra layer and put its base layer back: a plain model of the original class, in place."""
    for name, layer in list(hydra_layers(model)):
        layer.merge()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer.base)
    if hasattr(model, "hydra_config"):
        del model.hydra_config
    return model


def trainable_parameter_count(model: nn.Module) -> int:
    """The number of parameters with ``requires_grad`` (each shared tensor counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())


def target_shapes(model: nn.Module, target_modules: Sequence[str] | str) -> dict[str, tuple[int, int]]:
    """``{name: (d_in, d_out)}`` of the ``nn.Linear`` layers that ``target_modules`` selects."""
    targets = target_modules if isinstance(target_modules, str) else tuple(target_modules)
    return {
        name: (m.in_features, m.out_features)
        for name, m in model.named_modules()
        if name and isinstance(m, nn.Linear) and target_matches(targets, name)
    }
