"""The step-size sweep behind the full scale's step sizes (``python -m paperzoo.npg_igt --tune``).

Every arm gets the same procedure: a grid of ``POINTS`` step sizes a factor 2 apart (gamma0 for the normalised
arms, lr for the others), each run at ``FRACTION`` of the full scale's budget (LQR trajectories, CartPole
episodes; the schedules are those of the shorter run) on the tuning seeds (never the evaluation seeds), all grid
points and seeds as rows of one batch. The loss of a value is the mean over the tuning seeds of the
final LQR gap, or minus the mean CartPole return over the last tenth of the episodes (inf if a seed diverged).
While the best value is at an edge of the grid, the grid is widened by one more factor-2 point on that side (at
most ``MAX_WIDEN`` times), so the chosen value ends interior to its grid unless the widening ran out; a
diverged neighbour bounds it as well as a finite one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paperzoo.npg_igt.bench import CartPoleConfig, LQRConfig, Sweep
from paperzoo.npg_igt.experiment import best_value, cartpole_arm, grid, lqr_arm
from paperzoo.shared.progress import progress
from paperzoo.shared.runtime import apply_run_environment, configure_framework

POINTS, FACTOR, MAX_WIDEN, FRACTION = 10, 2.0, 3, 1.0
TUNING_SEEDS = (100, 101, 102, 103, 104)
# The smallest value of each arm's starting grid (the grid is LOWEST * FACTOR**k, k < POINTS).
LOWEST = {
    "lqr": {"npg_igt": 0.0025, "nharpg": 0.0025, "npg": 0.0025, "harpg": 1e-8, "pg1": 1e-8, "pg10": 1e-8},
    "cartpole": {"npg_igt": 0.0125, "nharpg": 0.0125, "npg": 0.0125, "pg1": 3.125e-5},
}


def losses(experiment: str, config: Any, arm: str, values: Sequence[float], seeds: Sequence[int]) -> list[float]:
    """The tuning loss of each value (lower is better; inf where any tuning seed gave a non-finite result)."""
    if experiment == "lqr":
        final = lqr_arm(config, arm, values, seeds)[..., -1]
    else:
        returns = cartpole_arm(config, arm, values, seeds)
        final = -returns[..., -max(1, config.episodes // 10) :].mean(-1)
    out = []
    for row in final:
        out.append(float(row.mean()) if bool(row.isfinite().all()) else math.inf)
    return out


def sweep(experiment: str, config: Any, arm: str, lowest: float, seeds: Sequence[int]) -> Sweep:
    """The arm's sweep from ``grid(lowest)``, widened while its best value is at an edge (see module doc)."""
    values = list(grid(lowest, POINTS, FACTOR))
    scores = losses(experiment, config, arm, values, seeds)
    for _ in range(MAX_WIDEN):
        best = values.index(best_value(values, scores))
        if 0 < best < len(values) - 1:
            break
        new = float(f"{values[0] / FACTOR:.6g}") if best == 0 else float(f"{values[-1] * FACTOR:.6g}")
        loss = losses(experiment, config, arm, [new], seeds)[0]
        values, scores = ([new, *values], [loss, *scores]) if best == 0 else ([*values, new], [*scores, loss])
    return Sweep(best_value(values, scores), tuple(values), tuple(scores))


def tune(
    lqr: LQRConfig | None, cartpole: CartPoleConfig | None, seeds: Sequence[int], arms: Sequence[str] | None = None
) -> dict[str, dict[str, Sweep]]:
    """Every (requested) arm's sweep on the LQR and on CartPole-v1."""
    out: dict[str, dict[str, Sweep]] = {}
    for experiment, config in (("lqr", lqr), ("cartpole", cartpole)):
        if config is None:
            continue
        chosen = [a for a in config.arms if arms is None or a in arms]
        out[experiment] = {
            arm: sweep(experiment, config, arm, LOWEST[experiment][arm], seeds)
            for arm in progress(chosen, desc=f"tuning {experiment}")
        }
    return out


def main(argv: Sequence[str]) -> int:
    """``--tune [--tune-seeds ...] [--experiments lqr cartpole] [--arms ...] [--tune-out FILE]``: run the sweeps
    at the full scale's budgets, print each arm's Sweep (to paste into bench.py) and a table; save JSON."""
    parser = argparse.ArgumentParser(prog="python -m paperzoo.npg_igt --tune")
    parser.add_argument("--tune", action="store_true", required=True)
    parser.add_argument("--tune-seeds", type=int, nargs="+", default=list(TUNING_SEEDS))
    parser.add_argument("--experiments", nargs="+", choices=("lqr", "cartpole"), default=["lqr", "cartpole"])
    parser.add_argument("--arms", nargs="+", default=None)
    parser.add_argument("--tune-out", type=Path, default=None)
    parser.add_argument("--tune-fraction", type=float, default=FRACTION, help="of the full scale's budgets")
    args = parser.parse_args(argv)
    apply_run_environment()
    configure_framework("torch")  # one thread, deterministic algorithms: as the benchmark runs
    if not 0 < args.tune_fraction <= 1:
        raise ValueError(f"--tune-fraction must be in (0, 1], got {args.tune_fraction}")
    lqr, cartpole = LQRConfig(), CartPoleConfig()
    lqr = dataclasses.replace(lqr, trajectories=round(lqr.trajectories * args.tune_fraction))
    cartpole = dataclasses.replace(cartpole, episodes=round(cartpole.episodes * args.tune_fraction))
    result = tune(
        lqr if "lqr" in args.experiments else None,
        cartpole if "cartpole" in args.experiments else None,
        args.tune_seeds,
        args.arms,
    )
    for experiment, sweeps in result.items():
        for arm, s in sweeps.items():
            print(f"{experiment} {arm}: Sweep({s.value!r}, {s.grid!r}, {s.losses!r})  interior={s.interior}")
            print("  " + " | ".join(f"{v:.4g}: {loss:.4g}" for v, loss in zip(s.grid, s.losses, strict=True)))
    if args.tune_out is not None:
        payload = {e: {a: vars(s) for a, s in sweeps.items()} for e, sweeps in result.items()}
        meta = {"seeds": args.tune_seeds, "fraction": args.tune_fraction}
        args.tune_out.write_text(json.dumps({**meta, "sweeps": payload}, indent=1) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
