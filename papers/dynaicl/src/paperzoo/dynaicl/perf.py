"""DynaICL's speed figure (``--perf``): k* labelling queries per second through G, batched against one prompt per
forward, measured in the same process on the full scale's G (the issue's bound: >= 10x).

Three ways through the same ``GeneralistLM.predict`` code and the same weights: the default batching (prompts
packed into prefix-tree rows, 32 rows per forward: the labelling prompts of one input share their
demonstrations), batching by prompt length alone (all the prompts of one length in one forward), and one prompt
per forward (the reference). CPU time (``time.process_time``) of the best of ``repeats`` passes each."""

from __future__ import annotations

import random
import time

from paperzoo.dynaicl.controller import DemoSampler
from paperzoo.dynaicl.experiment import ExperimentConfig, make_items
from paperzoo.dynaicl.generalist import meta_trained_generalist
from paperzoo.dynaicl.tasks import prompt_text
from paperzoo.shared.torch import configure


def perf(device: str, n_inputs: int = 128, repeats: int = 3) -> dict[str, float]:
    """Queries per second of ``GeneralistLM.predict`` on the k* labelling prompts of ``n_inputs`` inputs (one
    draw of every k in 0..K, in one call, as the experiment's labelling sends them), with the default
    prefix-tree batching, with batching by length only and with one prompt per forward; the same prompts (built
    before the clock starts) and the same answers (checked)."""
    configure(threads=1, deterministic=False)
    config = ExperimentConfig()
    items = make_items("perf", "last2", 4, n_inputs // 4, config.pool_size, random.Random(0).randrange(2**31))
    sampler = DemoSampler(0)
    prompts = [
        prompt_text(items.tasks[t], sampler.demos(items.pools[t], key, k, 0), x)
        for k in range(config.K + 1)
        for t, x, key in zip(items.task_of, items.xs, items.keys, strict=True)
    ]
    ways = {"batched": (32, True), "by_length": (len(prompts), False), "one_per_forward": (1, False)}
    rates, answers = {}, {}
    for name, (batch, share) in ways.items():
        g, _ = meta_trained_generalist(config.generalist, config.cache_dir, batch, share)  # the same weights
        g.predict(prompts[: 2 * (config.K + 1)])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            answers[name] = g.predict(prompts)
            best = min(best, time.process_time() - start)
        rates[name] = len(prompts) / best
    if not answers["batched"] == answers["by_length"] == answers["one_per_forward"]:
        raise RuntimeError("the batched and one-per-forward answers disagree")
    return {
        "labelling/batched_queries_per_s": rates["batched"],
        "labelling/by_length_queries_per_s": rates["by_length"],
        "labelling/one_per_forward_queries_per_s": rates["one_per_forward"],
        "labelling/batched_speedup": rates["batched"] / rates["one_per_forward"],
        "labelling/by_length_speedup": rates["by_length"] / rates["one_per_forward"],
    }
