"""The figures of policy smoothing, drawn with ``paperzoo.shared.plotting``.

- ``certificate.png``: the certified reward R_cert(B) per sigma (mean over seeds, +-1 std), the paper's Fig. 2 style;
- ``attack.png``: per attacked agent, the reward under the adaptive attack (worst over thresholds) against the
  certificate of the sigma it is compared with, on the attack budgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.policy_smoothing.experiment import arm, tag
from paperzoo.shared.plotting import plot_curves, plot_panels


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The certificate curves and the attacked-vs-certified panels from the seed records."""
    certs = {f"sigma = {s:g}": [r["series"][f"{arm(s)}/cert"] for r in records] for s in config.sigmas if s > 0}
    paths = [
        plot_curves(
            folder / "certificate.png",
            certs,
            title="Certified expected reward (CartPole-v0, N episodes, alpha = 0.05)",
            xlabel="total l2 budget B",
            ylabel="certified reward",
            x=list(config.budgets),
            markers=True,
        )
    ]
    ref = arm(config.reference_sigma)
    panels = {}
    for sigma in config.attack_sigmas:
        cert_arm = arm(sigma) if sigma > 0 else ref
        panels[f"attacked sigma = {sigma:g}"] = {
            "attacked (worst of the grid)": [r["series"][f"{arm(sigma)}/attacked"] for r in records],
            f"certificate sigma = {float(cert_arm[5:]):g}": [
                [r["metrics"][f"{cert_arm}/cert_{tag(b)}"] for b in config.attack_budgets] for r in records
            ],
        }
    paths.append(
        plot_panels(
            folder / "attack.png",
            panels,
            title="Adaptive attack vs certificate",
            xlabel="total l2 budget B",
            ylabel="reward",
            x=list(config.attack_budgets),
        )
    )
    return paths
