"""EVA: Explained Variance Adaptation (Paischer, Hauzenberger, Schmied, Alkin, Deisenroth, Hochreiter, 2024,
arXiv:2410.07170). Data-driven initialisation of LoRA's A matrices and redistribution of the rank budget.

Setup: target linear layers l = 1..L with frozen W_l (d_out x d_in), LoRA rank r_l, alpha_l;
y = W_l x + (alpha_l / r_l) B_l A_l x.

1. Hooks on every target layer collect its input x (tokens x d_in) per batch, keeping the positions with
   attention_mask = 1 and, if ``use_label_mask``, labels != -100 (:mod:`paperzoo.eva.collector`).
2. On the first batch the layers with identical inputs are grouped; one representative per group is decomposed.
3. Per representative, an incremental PCA with k_l = round(rho r_l) components (:mod:`paperzoo.eva.pca`); a
   batch with fewer than k_l tokens is skipped for that layer.
4. Component c of a layer is converged when cos(v_c^(t), v_c^(t-1)) >= tau. A layer stops being updated once its
   first rank_l components (its currently assigned rank) have converged, and is hooked again if that stops
   holding (rank_l grew). The dataloader is cycled until every layer has converged.
5. After every batch (once every layer has components) the budget b = sum_l r_l is redistributed
   (:func:`allocate_ranks`): pool every layer's explained_variance_ratio_[:k_l], take the b largest,
   rank_l = the number of layer l's entries among them (0..k_l). In a group the representative gets the group's
   largest rank (:func:`favour_representatives`).
6. A_l <- components_[:rank_l] (orthonormal rows; if ``whiten``, row c / sqrt(singular_value_c)); B_l = 0, so the
   model output is unchanged; rank_l = 0 removes the adapter. With ``adjust_scaling_factors``,
   alpha_l <- alpha_l rank_l / r_l, keeping alpha_l / rank_l = alpha / r.
7. Ordinary LoRA fine-tuning follows: :func:`init_lora_from_eva` returns a standard ``peft`` LoRA model
   (``rank_pattern`` / ``alpha_pattern``), so the peft workflow (training, ``save_pretrained``, merging) is kept.

Defaults are peft's ``EvaConfig`` (rho 2, tau 0.99, label mask on, no whitening, scaling adjusted) and peft's
randomized SVD (``svd="lowrank"``); where the paper is silent this module follows peft's implementation.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from paperzoo.eva.collector import ActivationCollector, group_equal_inputs, token_mask
from paperzoo.eva.pca import SVD_METHODS, IncrementalPCA, SvdMethod, converged_components
from paperzoo.shared.validate import check_one_of, check_positive_int, check_range

log = logging.getLogger("paperzoo.eva")

ForwardFn = Callable[[nn.Module, Any], Any]


@dataclass(frozen=True)
class EvaConfig:
    """EVA's options (defaults: peft's ``EvaConfig``; ``svd``/``max_batches`` are ours).

    Attributes:
        rho: >= 1; each layer decomposes k_l = round(rho r_l) components, the most rank it can receive
            (rho = 1: no redistribution).
        tau: in [0, 1]; the cosine-similarity threshold of convergence.
        use_label_mask: drop positions with ``labels == label_mask_value`` (besides padding).
        label_mask_value: the ignored label (-100).
        whiten: divide each component by the square root of its singular value.
        adjust_scaling_factors: alpha_l <- alpha rank_l / r so that alpha_l / rank_l = alpha / r.
        svd: ``"lowrank"`` (randomized, seed 42: peft) or ``"full"`` (exact).
        max_batches: stop after this many batches even if some layer has not converged (``None``: never stop, as
            peft); the state then records ``converged = False``.
    """

    rho: float = 2.0
    tau: float = 0.99
    use_label_mask: bool = True
    label_mask_value: int = -100
    whiten: bool = False
    adjust_scaling_factors: bool = True
    svd: SvdMethod = "lowrank"
    max_batches: int | None = None

    def __post_init__(self) -> None:
        check_range("rho", self.rho, 1.0, float("inf"))
        check_range("tau", self.tau, 0.0, 1.0)
        check_one_of("svd", self.svd, SVD_METHODS)
        if self.max_batches is not None:
            check_positive_int("max_batches", self.max_batches)


@dataclass
class EvaState:
    """The result of :func:`compute_eva_state`.

    Attributes:
        components: layer name -> A_l (rank_l x d_in), the rows EVA initialises A with (absent if rank_l = 0).
        ranks: layer name -> rank_l (the redistributed ranks; they sum to the budget).
        base_ranks: layer name -> r_l (the ranks before redistribution).
        max_components: layer name -> k_l.
        groups: member -> representative, for layers with identical inputs.
        explained_variance_ratio: representative -> its explained_variance_ratio_ (k_l).
        batches: the number of batches run (after the first, hashing, forward pass).
        converged: whether every layer converged (False only when ``max_batches`` stopped the loop).
    """

    components: dict[str, torch.Tensor]
    ranks: dict[str, int]
    base_ranks: dict[str, int]
    max_components: dict[str, int]
    groups: dict[str, str]
    explained_variance_ratio: dict[str, torch.Tensor]
    batches: int
    converged: bool
    config: EvaConfig = field(default_factory=EvaConfig)

    @property
    def budget(self) -> int:
        return sum(self.base_ranks.values())


# ------------------------------------------------------------------------------------------- step 5: ranks
def allocate_ranks(
    ratios_per_layer: Mapping[str, torch.Tensor], budget: int, max_components: Mapping[str, int] | int
) -> dict[str, int]:
    """EVA's rank redistribution: the ``budget`` largest explained-variance ratios over all layers.

    Pool (layer l, ratio_l[c]) for c < k_l, sort by ratio (descending; ties go to the earlier layer, then the
    earlier component), keep the first ``budget``; rank_l = the count of layer l among them.

    Args:
        ratios_per_layer: layer -> its explained_variance_ratio_ (normalised by the layer's own variance), in
            model order.
        budget: the total rank b = sum_l r_l (>= 0, at most the number of pooled entries).
        max_components: k_l per layer (or one k for all): only ratio_l[:k_l] compete.

    Returns:
        layer -> rank_l (every layer present, possibly 0); the ranks sum to ``budget``.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    keys: list[str] = []
    values: list[torch.Tensor] = []
    for name, ratios in ratios_per_layer.items():
        k = max_components if isinstance(max_components, int) else max_components[name]
        if k < 0:
            raise ValueError(f"max_components must be >= 0, got {k} for {name!r}")
        v = torch.as_tensor(ratios).reshape(-1)[:k].double()
        keys += [name] * len(v)
        values.append(v)
    pooled = torch.cat(values) if values else torch.zeros(0, dtype=torch.float64)
    if budget > len(pooled):
        raise ValueError(f"budget={budget} exceeds the {len(pooled)} pooled components (raise rho or max_components)")
    order = torch.sort(pooled, descending=True, stable=True).indices[:budget]
    counts = Counter(keys[i] for i in order.tolist())
    return {name: counts.get(name, 0) for name in ratios_per_layer}


def favour_representatives(ranks: Mapping[str, int], groups: Mapping[str, str]) -> dict[str, int]:
    """Give each group's representative (the hooked layer) the group's largest rank, by swapping (peft/official):
    for each member in turn, if it holds more rank than its representative, the two exchange ranks. The total is
    unchanged."""
    out = dict(ranks)
    for member, rep in groups.items():
        if out[rep] < out[member]:
            out[rep], out[member] = out[member], out[rep]
    return out


# ------------------------------------------------------------------------------------------- targets
def matches_target(name: str, target_modules: Sequence[str] | str) -> bool:
    """peft's rule: a list matches a name equal to an entry or ending in ``"." + entry``; a string is a regex that
    must match the whole name."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def target_layers(model: nn.Module, target_modules: Sequence[str] | str) -> list[str]:
    """Names (model order) of the ``nn.Linear`` (or transformers ``Conv1D``) layers that ``target_modules`` selects."""
    names = []
    for name, module in model.named_modules():
        if name and matches_target(name, target_modules):
            if not (isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"):
                raise ValueError(f"target_modules matched {name!r}, a {type(module).__name__}; EVA needs linear layers")
            names.append(name)
    if not names:
        raise ValueError(f"target_modules {target_modules!r} matched no layer of {type(model).__name__}")
    return names


def _in_features(module: nn.Module) -> int:
    """The input width d_in of a target layer (``nn.Linear``, or transformers' ``Conv1D`` with weight d_in x d_out)."""
    return module.in_features if isinstance(module, nn.Linear) else int(module.weight.shape[0])


def _rank_of(name: str, r: int, rank_pattern: Mapping[str, int] | None) -> int:
    """r_l from a peft-style rank_pattern (a key matches a name equal to it or ending in ``.key``; regex keys too)."""
    for key, value in (rank_pattern or {}).items():
        if re.fullmatch(rf"(.*\.)?{key}", name):
            return value
    return r


# ------------------------------------------------------------------------------------------- steps 1-6
def _cycle(loader: Iterable[Any]) -> Iterator[Any]:
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("dataloader is empty")


def forward_dict(model: nn.Module, batch: Mapping[str, Any]) -> Any:
    """The default forward: ``model(**batch)`` without ``labels`` (no loss is needed)."""
    return model(**{k: v for k, v in batch.items() if k != "labels"})


def _to_device(batch: Any, device: torch.device | None) -> Any:
    if device is None:
        return batch
    if isinstance(batch, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch


@torch.no_grad()
def compute_eva_state(
    model: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    target_modules: Sequence[str] | str,
    r: int,
    config: EvaConfig | None = None,
    rank_pattern: Mapping[str, int] | None = None,
    forward_fn: ForwardFn = forward_dict,
    progress: bool = False,
) -> EvaState:
    """Run EVA on ``model`` (not modified; its train/eval mode is restored): steps 1-6 of the module docstring.

    Args:
        model: a model whose target layers are plain linear layers (apply EVA before attaching adapters).
        dataloader: re-iterable batches (dicts with ``input_ids``, ``attention_mask``, ``labels``); cycled until
            every layer has converged. Its first batch is also used to find layers with equal inputs.
        target_modules: peft-style target names (list: exact or suffix; str: regex).
        r: the LoRA rank r (``rank_pattern`` may override it per layer, peft-style).
        config: :class:`EvaConfig` (rho, tau, masks, whitening, scaling, SVD kind).
        forward_fn: ``forward_fn(model, batch)``; default ``model(**batch)`` without labels.
        progress: log each batch's convergence count at INFO level.

    Returns:
        The :class:`EvaState`: per-layer ranks (summing to sum_l r_l) and A initialisations.
    """
    config = config or EvaConfig()
    check_positive_int("r", r)
    layers = target_layers(model, target_modules)
    base_ranks = {name: _rank_of(name, r, rank_pattern) for name in layers}
    for name, rank in base_ranks.items():
        check_positive_int(f"rank of {name}", rank)
    budget = sum(base_ranks.values())
    max_components = {name: round(config.rho * base_ranks[name]) for name in layers}
    for name in layers:
        width = _in_features(model.get_submodule(name))
        if max_components[name] > width:
            raise ValueError(
                f"rank {base_ranks[name]} of layer {name!r} (x rho={config.rho:g}: {max_components[name]} components) "
                f"exceeds its width: {width} input features give at most {width} components; lower r (or rank_pattern) "
                f"or rho"
            )
    device = next((p.device for p in model.parameters()), None)
    training = model.training
    model.eval()

    def mask_of(batch: Mapping[str, Any]) -> torch.Tensor:
        return token_mask(batch, config.use_label_mask, config.label_mask_value)

    # Step 2: one forward pass of the first batch, hashing every target layer's (masked) input.
    first = next(iter(dataloader), None)
    if first is None:
        raise ValueError("dataloader is empty")
    first = _to_device(first, device)
    collector = ActivationCollector(model, layers)
    try:
        collector.set_mask(mask_of(first))
        with collector:
            forward_fn(model, first)
        groups = group_equal_inputs({name: collector.collected[name] for name in layers})
    finally:
        collector.close()
    collector.collected.clear()
    for rep in set(groups.values()):
        members = [rep] + [m for m, g in groups.items() if g == rep]
        k = max(max_components[m] for m in members)
        for m in members:
            max_components[m] = k
    reps = [name for name in layers if name not in groups]
    rep_of = {name: groups.get(name, name) for name in layers}

    pcas = {name: IncrementalPCA(max_components[name], svd=config.svd) for name in reps}
    flags = {name: torch.zeros(max_components[name], dtype=torch.bool) for name in reps}

    # Steps 3-4, inside the hook: fold the batch into the layer's PCA, then test convergence.
    def sink(name: str, x: torch.Tensor) -> None:
        pca = pcas[name]
        if x.shape[0] < pca.n_components:
            log.debug("EVA: skipping %s, %d tokens < %d components", name, x.shape[0], pca.n_components)
            return
        previous = None if pca.components_ is None else pca.components_.clone()
        pca.partial_fit(x)
        if previous is not None:
            flags[name] = converged_components(pca.components_, previous, config.tau).cpu()

    collector = ActivationCollector(model, reps, sink=sink)
    ranks = dict(max_components)
    done = dict.fromkeys(reps, False)
    batches = 0
    converged = False
    collector.attach()
    try:
        for batch in _cycle(dataloader):
            for name in reps:
                ok = bool(flags[name][: ranks[name]].all())
                if ok and not done[name]:
                    collector.detach([name])
                    done[name] = True
                elif done[name] and not ok:
                    collector.attach([name])
                    done[name] = False
            if all(done.values()):
                converged = True
                break
            if config.max_batches is not None and batches >= config.max_batches:
                log.warning("EVA: stopped after max_batches=%d with layers not converged", config.max_batches)
                break
            batch = _to_device(batch, device)
            collector.set_mask(mask_of(batch))
            forward_fn(model, batch)
            batches += 1
            if progress:
                log.info("EVA batch %d: %d/%d layers converged", batches, sum(done.values()), len(reps))
            if all(pcas[name].fitted for name in reps):
                # Step 5: redistribute the budget over every layer (a group's members share its ratios).
                ratios = {name: pcas[rep_of[name]].explained_variance_ratio_ for name in layers}
                ranks = favour_representatives(allocate_ranks(ratios, budget, max_components), groups)
    finally:
        collector.close()
        model.train(training)

    if not all(p.fitted for p in pcas.values()):
        raise ValueError("EVA saw too few tokens for some layer: every batch had fewer tokens than its k_l")
    # Step 6: A_l = the first rank_l components (optionally whitened).
    components = {}
    for name in layers:
        rank = ranks[name]
        if rank == 0:
            continue
        pca = pcas[rep_of[name]]
        a = pca.components_[:rank].float().clone()
        if config.whiten:
            a = a / pca.singular_values_[:rank].float().sqrt()[:, None]
        components[name] = a
    return EvaState(
        components=components,
        ranks=dict(ranks),
        base_ranks=base_ranks,
        max_components=max_components,
        groups=groups,
        explained_variance_ratio={name: pcas[name].explained_variance_ratio_.clone() for name in reps},
        batches=batches,
        converged=converged,
        config=config,
    )


# ------------------------------------------------------------------------------------------- steps 6-7: peft
def eva_lora_config(state: EvaState, lora_config: Any) -> Any:
    """A copy of a peft ``LoraConfig`` that describes the EVA model: rank-0 layers dropped from
    ``target_modules``, ``rank_pattern`` = the redistributed ranks, ``alpha_pattern`` = alpha_l rank_l / r_l
    (with ``adjust_scaling_factors``), and ``init_lora_weights=True`` (B = 0; A is then overwritten by
    :func:`load_eva_weights`). Layer names are the base model's qualified names.
    """
    r0, alpha0 = lora_config.r, lora_config.lora_alpha
    rank_pattern: dict[str, int] = {}
    alpha_pattern: dict[str, float] = {}
    targets = []
    for name, rank in state.ranks.items():
        if rank == 0:
            continue
        targets.append(name)
        r_l = state.base_ranks[name]
        alpha_l = _alpha_of(name, alpha0, lora_config.alpha_pattern)
        if state.config.adjust_scaling_factors and rank != r_l:
            alpha_l = alpha_l * rank / r_l
        if rank != r0:
            rank_pattern[name] = rank
        if alpha_l != alpha0:
            alpha_pattern[name] = alpha_l
    return dataclasses.replace(
        lora_config,
        target_modules=targets,
        rank_pattern=rank_pattern,
        alpha_pattern=alpha_pattern,
        init_lora_weights=True,
        eva_config=None,
    )


def _alpha_of(name: str, alpha: float, alpha_pattern: Mapping[str, float] | None) -> float:
    for key, value in (alpha_pattern or {}).items():
        if re.fullmatch(rf"(.*\.)?{key}", name):
            return value
    return alpha


@torch.no_grad()
def load_eva_weights(peft_model: nn.Module, state: EvaState, adapter_name: str = "default") -> None:
    """Copy A_l into each LoRA layer of a peft model built from :func:`eva_lora_config` and zero B_l."""
    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    for name, a in state.components.items():
        layer = base.get_submodule(name)
        lora_a, lora_b = layer.lora_A[adapter_name].weight, layer.lora_B[adapter_name].weight
        if lora_a.shape != a.shape:
            raise ValueError(f"{name}: the LoRA A has shape {tuple(lora_a.shape)}, EVA gives {tuple(a.shape)}")
        lora_a.copy_(a)
        lora_b.zero_()


def init_lora_from_eva(model: nn.Module, state: EvaState, lora_config: Any, adapter_name: str = "default") -> Any:
    """Wrap ``model`` in a standard peft LoRA model initialised by EVA (``get_peft_model`` with
    :func:`eva_lora_config`, then :func:`load_eva_weights`). The frozen weights are untouched; B = 0, so the
    output equals the base model's at initialisation."""
    from peft import get_peft_model

    peft_model = get_peft_model(model, eva_lora_config(state, lora_config), adapter_name=adapter_name)
    load_eva_weights(peft_model, state, adapter_name)
    return peft_model


def get_eva_model(
    model: nn.Module,
    lora_config: Any,
    dataloader: Iterable[Mapping[str, Any]],
    config: EvaConfig | None = None,
    forward_fn: ForwardFn = forward_dict,
    adapter_name: str = "default",
) -> Any:
    """EVA end to end: :func:`compute_eva_state` with the LoraConfig's targets, r and rank_pattern, then
    :func:`init_lora_from_eva`. Returns the peft model (train it as any LoRA model)."""
    state = compute_eva_state(
        model, dataloader, lora_config.target_modules, lora_config.r, config, lora_config.rank_pattern, forward_fn
    )
    return init_lora_from_eva(model, state, lora_config, adapter_name)
