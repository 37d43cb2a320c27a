"""The speed figure of guiding-giants (``--perf``): greedy decoding tokens/s with and without steering, in the same
process, on the full scale's model shape (random weights: speed does not depend on them)."""

from __future__ import annotations

import statistics
import time

import torch

from paperzoo.guiding_giants.steering import SteeringController, SteeringHooks
from paperzoo.guiding_giants.tasks import WordTokenizer, make_requests, make_splits
from paperzoo.shared.testbeds.arithmetic_lm import build_llama
from paperzoo.shared.torch import HF_LIBRARIES, configure
from paperzoo.shared.torch.lm import left_pad, sample


def perf(device: str, batch: int = 256, new_tokens: int = 16, reps: int = 7) -> dict[str, float]:
    """Median greedy tokens/s of the unsteered model and of each steering mode (reps interleaved so that machine
    load hits all alike), and each mode's ratio to unsteered (the issue's bound: official, prompt >= 0.8x)."""
    from paperzoo.guiding_giants.bench import ToyConfig  # bench imports this module

    configure(threads=1, deterministic=False, quiet=HF_LIBRARIES)
    config, tok = ToyConfig(), WordTokenizer()
    torch.manual_seed(0)
    model = build_llama(config.model, tok).to(device).eval()
    n = config.model.n_layer
    controller = SteeringController(len(config.input_layers) * config.model.d_model, n).to(device).eval()
    direction = torch.nn.functional.normalize(torch.randn(config.model.d_model), dim=0).to(device)
    reqs = make_requests(make_splits(0).benign_train, False, batch, False, 0)
    ids, mask = (t.to(device) for t in left_pad([tok.encode(r.prompt, bos=True) for r in reqs], tok.pad_id))

    def tokens_per_s(mode: str | None) -> float:
        hooks = SteeringHooks(model, controller, direction, config.input_layers, mode=mode) if mode else None
        start = time.perf_counter()
        with hooks if hooks else torch.no_grad():
            # eos_id = -1: every row decodes all new_tokens
            sample(model, ids, mask, new_tokens, -1, tok.pad_id, temperature=0.0)
        return batch * new_tokens / (time.perf_counter() - start)

    modes = (None, "official", "prompt", "two_pass")
    times: dict[str | None, list[float]] = {m: [] for m in modes}
    for rep in range(reps + 1):
        for m in modes:
            value = tokens_per_s(m)
            if rep:
                times[m].append(value)
    base = statistics.median(times[None])
    out = {"unsteered/tokens_per_s": base}
    for m in modes[1:]:
        out[f"{m}/tokens_per_s"] = statistics.median(times[m])
        out[f"{m}/over_unsteered"] = out[f"{m}/tokens_per_s"] / base
    return out
