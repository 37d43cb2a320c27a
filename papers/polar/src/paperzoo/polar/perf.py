"""POLAR's speed figure (``make perf-polar``): RM training throughput against next-token training of the same
backbone on the same tokens, measured in the same process."""

from __future__ import annotations

import random
import time

import torch
from torch.nn import functional as F

from paperzoo.polar.encoding import PolarTokenizer, encode_polar
from paperzoo.polar.model import PolarRM, RMConfig, build_llama_rm
from paperzoo.polar.policies import PolicyPool, draw_prompts, sample_triplets
from paperzoo.polar.training import ranking_loss
from paperzoo.shared.torch import configure
from paperzoo.shared.torch.lm import left_pad, position_ids


def perf(device: str, steps: int = 20, warmup: int = 3, batch: int = 32) -> dict[str, float]:
    """Median step time of RM training (ranking loss at the reward token) and of causal-LM training (next-token
    loss on every position) of the full scale's 2-layer d=128 Llama on the same left-padded POLAR batches
    (1 thread); tokens/s counts the non-pad tokens of a step."""
    configure(threads=1, quiet=("transformers",))
    from transformers import LlamaForCausalLM

    tok = PolarTokenizer()
    rng = random.Random(0)
    trips = sample_triplets(PolicyPool(32), range(24), draw_prompts(500, rng), batch * (steps + warmup), rng)
    pairs = [encode_polar(t.prompt, t.reference, [t.chosen, t.rejected], tok) for t in trips]
    batches = []
    for i in range(steps + warmup):
        chunk = pairs[i * batch : (i + 1) * batch]
        ids, mask = left_pad([c for c, _ in chunk] + [r for _, r in chunk], tok.pad_token_id)
        batches.append((ids.to(device), mask.to(device)))
    torch.manual_seed(0)
    rm = PolarRM(build_llama_rm(RMConfig(), len(tok), tok.pad_token_id)).to(device)
    lm = LlamaForCausalLM(rm.backbone.config).to(device)

    def rm_loss(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = rm(ids, mask)
        return ranking_loss(scores[: len(scores) // 2], scores[len(scores) // 2 :])

    def lm_loss(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = lm(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits
        labels = ids.masked_fill(mask == 0, -100)
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)

    figures = {}
    for name, model, loss_fn in (("rm", rm, rm_loss), ("lm", lm, lm_loss)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
        times = []
        for i, (ids, mask) in enumerate(batches):
            start = time.perf_counter()
            loss = loss_fn(ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - start, int(mask.sum())))
        figures[f"{name}/tokens_per_s"] = sum(n for _, n in times) / sum(t for t, _ in times)
    figures["rm_over_lm_tokens_per_s"] = figures["rm/tokens_per_s"] / figures["lm/tokens_per_s"]
    return figures
