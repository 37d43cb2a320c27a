"""EVA's speed figures (``paperzoo bench --perf``)."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable

import torch

from paperzoo.eva.eva import EvaConfig, compute_eva_state
from paperzoo.eva.train import TARGETS, eva_batches, lora_config
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    build_llama,
    lm_batch,
    lm_loss,
    pretrained_base,
    subtraction_splits,
)
from paperzoo.shared.torch import configure, warmup_cosine_schedule


def median_s(fn: Callable[[], object], reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def perf(device: str) -> dict[str, float]:
    """EVA's initialisation on the full-scale base model (pretrained; read from the cache, trained if absent) and
    the subtraction training set (batches of 16), against one fine-tuning epoch of LoRA (2,000 problems in
    batches of 16 = 125 AdamW steps) and against peft's own EVA (``get_eva_state_dict``, same batches and config)."""
    import peft
    from peft import get_peft_model
    from peft.tuners.lora.eva import get_eva_state_dict

    from paperzoo.eva.bench import FullConfig  # the full scale's model, data and rank

    warnings.filterwarnings("ignore")
    configure(threads=1, deterministic=False)
    tok = CharTokenizer()
    cfg = FullConfig()
    f = cfg.finetune
    base_state, _ = pretrained_base(cfg.pretrain, tok, cfg.cache_dir)
    splits = subtraction_splits(f.n_train, f.n_val, f.n_test, f.digits, 0)
    base = build_llama(cfg.pretrain.model, tok).to(device)
    base.load_state_dict(base_state)
    base.eval()
    loader = [{k: v.to(device) for k, v in b.items()} for b in eva_batches(tok, splits.train, f.eva_batch_size, 0)]
    figures: dict[str, float] = {}
    for name, rho in (("rho1", 1.0), ("rho2", 2.0)):
        state = compute_eva_state(base, loader, TARGETS, f.r, EvaConfig(rho=rho))
        figures[f"eva_{name}/batches"] = float(state.batches)
        figures[f"eva_{name}/init_s"] = median_s(lambda rho=rho: compute_eva_state(base, loader, TARGETS, f.r,
                                                                                   EvaConfig(rho=rho)))  # fmt: skip
        peft_config = peft.LoraConfig(r=f.r, target_modules=list(TARGETS), init_lora_weights="eva",
                                      eva_config=peft.EvaConfig(rho=rho))  # fmt: skip
        figures[f"peft_eva_{name}/init_s"] = median_s(
            lambda c=peft_config: get_eva_state_dict(base, loader, c, show_progress_bar=False)
        )
        figures[f"eva_{name}/over_peft_eva"] = figures[f"eva_{name}/init_s"] / figures[f"peft_eva_{name}/init_s"]

    # One epoch of LoRA fine-tuning (what EVA's one-off cost is compared with).
    torch.manual_seed(0)
    model = build_llama(cfg.pretrain.model, tok).to(device)
    model.load_state_dict(base_state)
    peft_model = get_peft_model(model, lora_config(f.r))
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    sched = warmup_cosine_schedule(opt, f.steps)
    steps = f.n_train // f.batch_size
    chunks = [splits.train[i * f.batch_size : (i + 1) * f.batch_size] for i in range(steps)]
    batches = [{k: v.to(device) for k, v in lm_batch(tok, chunk).items()} for chunk in chunks]
    model.train()
    start = time.perf_counter()
    for batch in batches:
        loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    figures["lora_epoch/s"] = time.perf_counter() - start
    figures["lora_epoch/steps"] = float(steps)
    for name in ("rho1", "rho2"):
        figures[f"eva_{name}/over_epoch"] = figures[f"eva_{name}/init_s"] / figures["lora_epoch/s"]
    return figures
