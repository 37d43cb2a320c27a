"""CoIN's speed figure (``paperzoo bench --perf``): a dynamic-EMA training step against a plain LoRA step,
measured in the same process on the full scale's tiny Llama (the issue's bound: within 1.15x)."""

from __future__ import annotations

import statistics
import time

import torch

from paperzoo.coin.continual import ContinualConfig, _lora_config
from paperzoo.coin.ema import EMATracker
from paperzoo.coin.tasks import example_batch, make_examples, tokenizer
from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, build_llama, lm_loss
from paperzoo.shared.torch import HF_LIBRARIES, configure


def perf(device: str, reps: int = 40, warmup: int = 5, batch_size: int = 8) -> dict[str, float]:
    """Median step time (forward, backward, clipping, AdamW step, and for CoIN the EMA update) of plain LoRA and
    of dynamic-EMA LoRA at the full scale's batch, interleaved rep by rep so that machine load hits both alike;
    their ratio."""
    from peft import get_peft_model

    configure(threads=1, deterministic=False, quiet=HF_LIBRARIES)
    tok, config = tokenizer(), ContinualConfig()
    torch.manual_seed(0)
    model = get_peft_model(build_llama(ModelConfig(), tok), _lora_config(config)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0, fused=True)  # as continual._train
    tracker = EMATracker(params, "dynamic")
    batch = {k: v.to(device) for k, v in example_batch(tok, make_examples(0, batch_size, (3, 4, 5), 0)).items()}

    def step(ema: bool) -> float:
        start = time.perf_counter()
        loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        opt.step()
        if ema:
            tracker.update()
        return time.perf_counter() - start

    for _ in range(warmup):
        step(False), step(True)
    lora, coin = [], []
    for _ in range(reps):
        lora.append(step(False))
        coin.append(step(True))
    lora_ms, coin_ms = 1000 * statistics.median(lora), 1000 * statistics.median(coin)
    return {"lora/step_ms": lora_ms, "dynamic_ema/step_ms": coin_ms, "dynamic_ema/over_lora": coin_ms / lora_ms}
