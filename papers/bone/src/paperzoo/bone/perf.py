"""Bone's speed figures (``paperzoo bench --perf``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from paperzoo.bone.adapter import apply_bone, bone_layers, merge_and_unload
from paperzoo.bone.layer import BoneLinear
from paperzoo.shared.testbeds.arithmetic_lm import CharTokenizer, ModelConfig, build_llama, lm_batch, make_problems
from paperzoo.shared.torch import configure


def median_ms(fn: Callable[[], object], reps: int = 30, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def perf(device: str) -> dict[str, float]:
    """Forward+backward time (input and adapter gradients) of one 1024 x 1024 layer on 512 tokens with bat and
    bone (r = 64), peft LoRA at matched parameters (rank 32) and the frozen layer alone; forward time of the
    full-scale tiny Llama (batch 64, r = 8): base, bat unmerged, bat merged (must equal the base)."""
    from peft import LoraConfig, inject_adapter_in_model

    configure(threads=1, deterministic=False)
    torch.manual_seed(0)
    d, tokens, r = 1024, 512, 64
    x = torch.randn(tokens, d, device=device)
    layers: dict[str, nn.Module] = {}
    for variant in ("bat", "bone"):
        layers[variant] = BoneLinear(nn.Linear(d, d).to(device), r, variant)
    holder = nn.Sequential()
    holder.add_module("lin", nn.Linear(d, d).to(device))
    layers["lora"] = inject_adapter_in_model(LoraConfig(r=r // 2, lora_alpha=r // 2, target_modules=["lin"]), holder)
    layers["frozen_linear"] = nn.Linear(d, d).to(device).requires_grad_(False)
    figures: dict[str, float] = {}
    for name, layer in layers.items():
        xin = x.clone().requires_grad_()  # inside a network the input gradient is always needed

        def step(layer: nn.Module = layer, xin: torch.Tensor = xin) -> None:
            layer(xin).sum().backward()

        figures[f"layer_{name}/fwd_bwd_ms"] = median_ms(step)
    for name in ("bat", "bone", "frozen_linear"):
        figures[f"layer_{name}/over_lora"] = figures[f"layer_{name}/fwd_bwd_ms"] / figures["layer_lora/fwd_bwd_ms"]
    figures["layer_bat/trainable_params"] = float(sum(p.numel() for p in layers["bat"].parameters() if p.requires_grad))
    figures["layer_lora/trainable_params"] = float(sum(p.numel() for p in holder.parameters() if p.requires_grad))

    tok = CharTokenizer()
    model_config = ModelConfig()  # the full scale's model
    ids = lm_batch(tok, make_problems(64, "-", (1, 2), 0))["input_ids"].to(device)
    torch.manual_seed(0)
    base = build_llama(model_config, tok).to(device).eval()
    adapted = build_llama(model_config, tok).to(device).eval()
    adapted.load_state_dict(base.state_dict())
    apply_bone(adapted, r=8)
    with torch.no_grad():
        for _, layer in bone_layers(adapted):
            layer.bone_block.normal_(std=0.01)
        figures["model_base/fwd_ms"] = median_ms(lambda: base(input_ids=ids))
        figures["model_bat_unmerged/fwd_ms"] = median_ms(lambda: adapted(input_ids=ids))
        merged = merge_and_unload(adapted)
        figures["model_bat_merged/fwd_ms"] = median_ms(lambda: merged(input_ids=ids))
    figures["model_bat_unmerged/over_base"] = figures["model_bat_unmerged/fwd_ms"] / figures["model_base/fwd_ms"]
    figures["model_bat_merged/over_base"] = figures["model_bat_merged/fwd_ms"] / figures["model_base/fwd_ms"]
    figures["model_bat_merged/parameters_equal_base"] = float(
        sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in base.parameters())
    )
    return figures
