"""The figures of reward-design, drawn with ``paperzoo.shared.plotting``: the normalised true-reward return
against training episodes, one panel per experiment (mean over seeds, +-1 std)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared.plotting import plot_panels

_PANELS = {
    "rooms_q": ("Four rooms, Q-learning", "q_", "q_episodes"),
    "rooms_pg": ("Four rooms, REINFORCE", "pg_", "pg_episodes"),
    "chain": ("Chain, REINFORCE", "chain_", "chain_episodes"),
}


def plot_full(config: Any, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One panel per experiment that ran: each arm's return / pi*'s return against episodes."""
    panels: dict[str, dict[str, list[list[float]]]] = {}
    xs: dict[str, list[float]] = {}
    for name, (title, prefix, episodes) in _PANELS.items():
        if name not in config.experiments:
            continue
        keys = sorted(k for k in records[0]["series"] if k.startswith(prefix) and k.endswith("/return"))
        panels[title] = {k[len(prefix) : -len("/return")]: [r["series"][k] for r in records] for k in keys}
        n = len(records[0]["series"][keys[0]])
        xs[title] = np.linspace(0, getattr(config, episodes), n).tolist()
    path = folder / "return_curves.png"
    return [plot_panels(path, panels, title="True-reward return / optimal", xlabel="episode", ylabel="return", x=xs)]
