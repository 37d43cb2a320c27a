"""Hydra's speed figures (``paperzoo bench --perf``): bone's layer benchmark and merged inference."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from paperzoo.hydra.adapter import apply_hydra, hydra_layers, merge_and_unload
from paperzoo.hydra.layer import HydraLinear
from paperzoo.hydra.train import ModelConfig, build_vit
from paperzoo.shared.torch import HF_LIBRARIES, configure


def median_ms(fn: Callable[[], object], device: str, reps: int = 30, warmup: int = 5) -> float:
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def perf(device: str) -> dict[str, float]:
    """Forward+backward (input and adapter gradients) of one 1024 x 1024 layer on 512 tokens: Hydra (rank 16 per
    branch) vs peft's LoRA layer (rank 32) and the frozen layer; forward time of the full-scale tiny ViT (batch 256):
    base, Hydra unmerged, Hydra merged (merge-and-unload: the base architecture again)."""
    from peft import LoraConfig, inject_adapter_in_model

    configure(threads=1, deterministic=False, quiet=HF_LIBRARIES)
    torch.manual_seed(0)
    d, tokens = 1024, 512
    x = torch.randn(tokens, d, device=device)
    holder = nn.Sequential()
    holder.add_module("lin", nn.Linear(d, d).to(device))
    layers: dict[str, nn.Module] = {
        "hydra": HydraLinear(nn.Linear(d, d).to(device), 16),
        "lora": inject_adapter_in_model(LoraConfig(r=32, lora_alpha=32, target_modules=["lin"]), holder),
        "frozen_linear": nn.Linear(d, d).to(device).requires_grad_(False),
    }
    figures: dict[str, float] = {}
    for name, layer in layers.items():
        xin = x.clone().requires_grad_()  # inside a network the input gradient is always needed

        def step(layer: nn.Module = layer, xin: torch.Tensor = xin) -> None:
            layer(xin).sum().backward()

        figures[f"layer_{name}/fwd_bwd_ms"] = median_ms(step, device)
        figures[f"layer_{name}/trainable_params"] = float(sum(p.numel() for p in layer.parameters() if p.requires_grad))
    for name in ("hydra", "frozen_linear"):
        figures[f"layer_{name}/over_lora"] = figures[f"layer_{name}/fwd_bwd_ms"] / figures["layer_lora/fwd_bwd_ms"]

    config = ModelConfig()
    images = torch.rand(256, 1, 8, 8, device=device)
    torch.manual_seed(0)
    base = build_vit(config, 10).to(device).eval()
    adapted = build_vit(config, 10).to(device).eval()
    adapted.load_state_dict(base.state_dict())
    apply_hydra(adapted, rank=4)
    with torch.no_grad():
        for _, layer in hydra_layers(adapted):
            for p in layer.parameters():
                if p.requires_grad:
                    p.normal_(std=0.01)
        figures["model_base/fwd_ms"] = median_ms(lambda: base(pixel_values=images), device)
        figures["model_hydra_unmerged/fwd_ms"] = median_ms(lambda: adapted(pixel_values=images), device)
        merged = merge_and_unload(adapted)
        figures["model_hydra_merged/fwd_ms"] = median_ms(lambda: merged(pixel_values=images), device)
    for name in ("hydra_unmerged", "hydra_merged"):
        figures[f"model_{name}/over_base"] = figures[f"model_{name}/fwd_ms"] / figures["model_base/fwd_ms"]
    figures["model_hydra_merged/parameters_equal_base"] = float(
        sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in base.parameters())
    )
    return figures
