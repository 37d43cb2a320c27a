"""Learning-rate grids: name each grid run, and choose each arm's learning rate over all seeds.

A benchmark that tunes the learning rate records each grid run as ``<arm>@<lr>/<metric>`` (see
:func:`grid_key`); its ``aggregate`` step then picks, per arm, the learning rate with the best mean
validation accuracy over the seeds (:func:`select_learning_rates`) and copies the chosen run's metrics
under ``<arm>/<metric>``, where the claims read them; :func:`tuned_arm_guards` are the claims' guards
that such a comparison means something. Framework-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from paperzoo.shared.claims import Compare

# Exact ties (up to float rounding) of a mean number of steps or of accuracies without a declared resolution.
TIE_TOLERANCE = 1e-9


def grid_key(arm: str, lr: float) -> str:
    """The name of one arm's run at one learning rate, e.g. ``adam@0.001``."""
    return f"{arm}@{lr:g}"


def select_learning_rates(
    per_seed: list[dict[str, float]],
    metrics: Sequence[str],
    tie_tolerance: float | Callable[[str], float] = 0.0,
) -> list[dict[str, float]]:
    """Per arm, the learning rate with the best mean validation accuracy over all seeds.

    The arms are every ``<arm>`` of a key ``<arm>@<lr>/<metric>`` in the first seed's metrics; each run
    must record ``val_accuracy`` and ``val_loss``. The tie rule: mean validation accuracies within
    ``tie_tolerance`` (plus :data:`TIE_TOLERANCE`) of the best are tied, and a tie goes to the lower mean
    validation loss, then to the smaller learning rate. Papers pass one validation example (``1/n_val``): a
    choice that one example decides is one that machine noise can flip, and the continuous validation loss
    is the steadier judge. ``tie_tolerance`` is a number, or ``arm -> number`` for arms validated on sets of
    different sizes. Each seed's metrics (copied) gain ``<arm>/lr``,
    ``<arm>/lr_at_edge`` (1 if the choice is the smallest or largest of the grid — a one-point grid
    included: nothing shows that the best learning rate lies inside it) and, for each of ``metrics``, the
    chosen run's ``<arm>/<metric>``.

    Args:
        per_seed: each seed's flat metrics.
        metrics: the metric names to copy from the chosen run.

    Returns:
        The seeds' metrics with the chosen learning rates and runs added, in the same order.
    """
    out = [dict(m) for m in per_seed]
    arms = sorted({k.split("@")[0] for k in per_seed[0] if "@" in k})
    for arm in arms:
        tolerance = tie_tolerance(arm) if callable(tie_tolerance) else tie_tolerance
        if not tolerance >= 0:
            raise ValueError(f"tie_tolerance must be >= 0, got {tolerance!r} for {arm!r}")
        lrs = sorted({float(k.split("@")[1].split("/")[0]) for k in per_seed[0] if k.startswith(f"{arm}@")})

        def mean(metric: str, lr: float, a: str = arm) -> float:
            return float(np.mean([m[f"{grid_key(a, lr)}/{metric}"] for m in per_seed]))

        top = max(mean("val_accuracy", lr) for lr in lrs)
        tied = [i for i, lr in enumerate(lrs) if mean("val_accuracy", lr) >= top - tolerance - TIE_TOLERANCE]
        best = min(tied, key=lambda i: (mean("val_loss", lrs[i]), i))
        chosen = grid_key(arm, lrs[best])
        for m in out:
            m[f"{arm}/lr"] = lrs[best]
            m[f"{arm}/lr_at_edge"] = float(best in (0, len(lrs) - 1))
            for metric in metrics:
                m[f"{arm}/{metric}"] = m[f"{chosen}/{metric}"]
    return out


def chosen_lr_curves(
    records: Sequence[Mapping[str, Any]], chosen: Mapping[str, float], arms: Sequence[str], series: str
) -> dict[str, list[list[float]]]:
    """For plots: each arm's per-seed curve ``series`` at its chosen learning rate, labelled ``"<arm> (lr <lr>)"``.

    ``chosen`` is one seed's metrics after :func:`select_learning_rates` (it holds ``<arm>/lr``); ``records``
    are the seed records, whose ``series`` hold ``<arm>@<lr>/<series>``.
    """
    return {
        f"{arm} (lr {chosen[f'{arm}/lr']:g})": [
            list(r["series"][f"{grid_key(arm, chosen[f'{arm}/lr'])}/{series}"]) for r in records
        ]
        for arm in arms
    }


def tuned_arm_guards(*arms: str, min_test_accuracy: float) -> tuple[Compare, ...]:
    """Non-degeneracy guards for claims over tuned arms: each arm's ``test_accuracy`` above
    ``min_test_accuracy`` (e.g. well above chance) and its chosen learning rate inside its grid
    (``lr_at_edge`` 0, see :func:`select_learning_rates`)."""
    return tuple(
        guard
        for arm in arms
        for guard in (
            Compare(f"{arm}/test_accuracy", ">", min_test_accuracy),
            Compare(f"{arm}/lr_at_edge", "<", 0.5),
        )
    )
