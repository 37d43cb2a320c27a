"""TA-LPG's speed figures (``make perf-ta-lpg``): agent lifetimes per second during ES, LPG against TA-LPG."""

from __future__ import annotations

import dataclasses

from paperzoo.ta_lpg.experiment import ARMS, es_train


def perf(device: str) -> dict[str, float]:
    """Agent lifetimes evaluated per second during ES (population x whole lifetime under one jit) for LPG and
    TA-LPG at the full scale's sizes (4 generations each), compile time separately; the ratio TA-LPG / LPG."""
    from paperzoo.ta_lpg.bench import FullConfig  # bench declares perf: imported here, not at module level

    full = FullConfig()
    figures: dict[str, float] = {}
    for arm, conditioning in ARMS.items():
        train = dataclasses.replace(full.train, conditioning=conditioning, generations=4)
        _, _, timings = es_train(train, 0, chunks=2)
        figures |= {f"{arm}/{k}": v for k, v in timings.items()}
    figures["ta_lpg_over_lpg/lifetimes_per_s"] = figures["ta_lpg/lifetimes_per_s"] / figures["lpg/lifetimes_per_s"]
    return figures
