"""DynaICL's speed figure (``--perf``): k* labelling queries per second through G, prompts batched by length
against one prompt per forward, measured in the same process on the full scale's G (the issue's bound: >= 10x)."""

from __future__ import annotations

import random
import time

from paperzoo.dynaicl.controller import DemoSampler
from paperzoo.dynaicl.experiment import ExperimentConfig, make_items
from paperzoo.dynaicl.generalist import meta_trained_generalist
from paperzoo.dynaicl.tasks import prompt_text
from paperzoo.shared.torch import configure


def perf(device: str, n_inputs: int = 128) -> dict[str, float]:
    """Queries per second of ``GeneralistLM.predict`` on the k* labelling prompts of ``n_inputs`` inputs (one
    draw of every k in 0..K), with the prompts of one length in one forward and with one prompt per forward; the
    same prompts and the same answers (checked), built before the clock starts."""
    configure(threads=1, deterministic=False)
    config = ExperimentConfig()
    items = make_items("perf", "last2", 4, n_inputs // 4, config.pool_size, random.Random(0).randrange(2**31))
    sampler = DemoSampler(0)
    prompts = [
        prompt_text(items.tasks[t], sampler.demos(items.pools[t], key, k, 0), x)
        for k in range(config.K + 1)
        for t, x, key in zip(items.task_of, items.xs, items.keys, strict=True)
    ]
    rates, answers = {}, {}
    for name, batch in (("batched", 512), ("one_per_forward", 1)):
        g, _ = meta_trained_generalist(config.generalist, config.cache_dir, batch=batch)  # the same weights
        g.predict(prompts[:8])  # warm-up
        start = time.perf_counter()
        answers[name] = g.predict(prompts)
        rates[name] = len(prompts) / (time.perf_counter() - start)
    if answers["batched"] != answers["one_per_forward"]:
        raise RuntimeError("batched and one-per-forward answers disagree")
    return {
        "labelling/batched_queries_per_s": rates["batched"],
        "labelling/one_per_forward_queries_per_s": rates["one_per_forward"],
        "labelling/batched_speedup": rates["batched"] / rates["one_per_forward"],
    }
