"""The figures of FedAU, drawn with ``paperzoo.shared.plotting``: the objective per round for every pattern (the
paper's training-loss curves) and FedAU's learned weights against the true 1/p_n."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.fedau.experiment import pattern_key
from paperzoo.shared.plotting import plot_curves, plot_panels

LABELS = {
    "fedau": "FedAU (K = inf)",
    "fedau_k50": "FedAU (K = 50)",
    "known_prob": "known 1/p_n",
    "avg_participating": "FedAvg (avg participating)",
    "avg_all": "avg all",
    "fedvarp": "FedVarp",
    "mifa": "MIFA",
}


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Loss per round (one panel per pattern, mean and std over seeds) and omega_n vs 1/p_n (Bernoulli, seed 0)."""
    rounds = records[0]["series"]["rounds"]
    panels = {
        pattern: {
            LABELS[a]: [r["series"][f"{a}/{pattern_key(pattern)}/train_loss"] for r in records] for a in config.arms
        }
        for pattern in config.patterns
    }
    out = [
        plot_panels(
            folder / "loss_per_round.png",
            panels,
            title="Objective (1/N) sum_n F_n(x_t) of the global model",
            xlabel="round",
            ylabel="training loss",
            x=rounds,
        )
    ]
    series = records[0]["series"]
    key = pattern_key(config.patterns[0])
    if f"fedau/{key}/omega" in series:
        order = sorted(range(len(series["inverse_p"])), key=lambda n: series["inverse_p"][n])
        out.append(
            plot_curves(
                folder / "weights_vs_inverse_p.png",
                {
                    "FedAU's omega_n (end of training)": [[series[f"fedau/{key}/omega"][n] for n in order]],
                    "true 1/p_n": [[series["inverse_p"][n] for n in order]],
                },
                title=f"FedAU's learned weights, {config.patterns[0]} (seed {records[0]['seed']})",
                xlabel="client (sorted by 1/p_n)",
                ylabel="aggregation weight",
                logy=True,
            )
        )
    return out
