"""The figures of AMFT's full scale, drawn with :mod:`paperzoo.shared.plotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperzoo.shared.plotting import plot_curves

if TYPE_CHECKING:
    from paperzoo.amft.bench import FullConfig


def plot_full(config: FullConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """mu(t) of AMFT and its ablations, AMFT's meta and entropy contributions; greedy ID accuracy curves."""
    s = [r["series"] for r in records]
    adaptive = [r for r in config.regimes if r.startswith("amft") and f"{r}/mu" in s[0]]
    paths = [] if "amft" not in config.regimes else [
        plot_curves(folder / "amft_mu.png",
                    {r: [x[f"{r}/mu"] for x in s] for r in adaptive},
                    title="AMFT and its ablations: imitation weight mu(t) (1 = SFT warm-up)", xlabel="step",
                    ylabel="mu"),
        plot_curves(folder / "amft_mu_terms.png",
                    {"meta term": [x["amft/meta_term"] for x in s],
                     "entropy term": [x["amft/entropy_term"] for x in s]},
                    title="AMFT: per-step contributions to mu", xlabel="step after warm-up", ylabel="delta mu"),
    ]  # fmt: skip
    regimes = [r for r in config.regimes if s[0].get(f"{r}/eval_id_accuracy")]
    if regimes:
        curves = {r: [x[f"{r}/eval_id_accuracy"] for x in s] for r in regimes}
        n = len(next(iter(curves.values()))[0])
        every = config.train.eval_every
        paths.append(
            plot_curves(folder / "id_accuracy_curves.png", curves, title="Greedy ID accuracy during training",
                        xlabel="optimizer step", ylabel="accuracy", x=[every * (i + 1) for i in range(n)])
        )  # fmt: skip
    return paths
