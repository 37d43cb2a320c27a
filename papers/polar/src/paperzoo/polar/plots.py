"""The figures of POLAR, drawn with ``paperzoo.shared.plotting``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperzoo.shared.plotting import plot_curves

ARM_LABELS = {
    "polar": "POLAR (pre-trained + fine-tuned)",
    "scratch_ref": "(a) reference RM from scratch",
    "scratch_bt": "(b) reference-free BT from scratch",
}


def plot(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Preference accuracy vs fine-tuning pairs (seen and unseen policies); pre-training accuracy vs compute."""
    out = []
    for split, where in (("id", "seen policies"), ("ood", "unseen policies")):
        curves = {
            label: [[r["metrics"][f"{arm}/{split}_accuracy_n{n}"] for n in config.sizes] for r in records]
            for arm, label in ARM_LABELS.items()
        }
        curves["(c) POLAR without fine-tuning"] = [
            [r["metrics"][f"polar_noft/{split}_accuracy"]] * len(config.sizes) for r in records
        ]
        out.append(
            plot_curves(
                folder / f"accuracy_vs_pairs_{split}.png",
                curves,
                x=list(config.sizes),
                title=f"Preference accuracy on held-out prompts ({where})",
                xlabel="preference pairs in fine-tuning",
                ylabel="pairwise accuracy",
                hlines={"chance": 0.5},
            )
        )
    if records and "sweep/compute" in records[0]["series"]:
        out.append(
            plot_curves(
                folder / "pretrain_compute.png",
                {
                    "1 - pre-training accuracy": [
                        [1 - a for a in r["series"]["sweep/pretrain_accuracy"]] for r in records
                    ]
                },
                x=records[0]["series"]["sweep/compute"],
                title="Policy discrimination error vs pre-training compute",
                xlabel="pre-training compute (x smallest)",
                ylabel="1 - same-vs-different accuracy",
                logx=True,
                logy=True,
            )
        )
    return out
