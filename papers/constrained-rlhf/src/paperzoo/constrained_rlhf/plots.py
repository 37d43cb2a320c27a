"""The figures of constrained-rlhf, drawn with ``paperzoo.shared.plotting``: held-out E over training per arm,
the components against their proxy points, and the multipliers of constrained PPO."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.constrained_rlhf.experiment import STEP2
from paperzoo.constrained_rlhf.ppo import COMPONENTS
from paperzoo.shared.plotting import plot_curves, plot_panels


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """E vs iteration (every arm), V_i vs iteration (with theta), lambda_i vs iteration (constrained "kl")."""
    x = [config.eval_every * i for i in range(config.iterations // config.eval_every + 1)]
    arms = [f"fixed_{i}" for i in range(len(config.fixed_weights))] + list(STEP2)
    series = [r["series"] for r in records]
    paths = [
        plot_curves(
            folder / "evaluation_score.png",
            {arm: [s[f"{arm}/E"] for s in series] for arm in arms},
            x=x,
            title="Held-out evaluation score E (sampled replies)",
            xlabel="PPO iteration",
            ylabel="E",
        )
    ]
    panels = {
        f"V_{n} (theta {sum(r['metrics'][f'theta/{n}'] for r in records) / len(records):.3f})": {
            arm: [s[f"{arm}/V_{n}"] for s in series] for arm in arms
        }
        for n in COMPONENTS
    }
    paths.append(plot_panels(folder / "components.png", panels, title="Component rewards", xlabel="PPO iteration",
                             ylabel="mean episode reward", x=x, sharey=False))  # fmt: skip
    lambdas = {f"{arm} lambda_{n}": [s[f"{arm}/lambda_{n}"] for s in series] for arm in ("mu_kl", "mu_all", "nm")
               for n in COMPONENTS}  # fmt: skip
    paths.append(plot_curves(folder / "multipliers.png", lambdas, title="Lagrange multipliers", xlabel="PPO iteration",
                             ylabel="lambda"))  # fmt: skip
    return paths
