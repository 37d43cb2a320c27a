"""The speed figure of VaGraM (``python -m paperzoo.vagram --perf``; never run in CI): model-training samples/s
of a VaGraM round (its value gradients included, computed once per round in batched chunks) against an MSE round
on the same data, model and minibatches, in the same process. Target: VaGraM within 1.3x of MSE's time."""

from __future__ import annotations

import time

import numpy as np
import torch

from paperzoo.vagram.envs import make_env
from paperzoo.vagram.mbpo import SACConfig, make_sac
from paperzoo.vagram.models import ModelEnsemble, ModelTrainConfig, train_model
from paperzoo.vagram.values import GradientCache, sac_values

SIZES = {"small": (16,), "official": (200,) * 4}


def _round_rate(hidden: tuple[int, ...], loss: str, data: dict, sac, epochs: int) -> float:
    """Samples/s of one fixed-length training round (best of 3: the least disturbed by other load)."""
    obs_dim, act_dim = data["obs"].shape[1], data["actions"].shape[1]
    config = ModelTrainConfig(loss=loss, epochs=epochs, patience=epochs)
    best = float("inf")
    for _ in range(3):
        torch.manual_seed(0)
        model = ModelEnsemble(obs_dim, act_dim, hidden)
        cache = GradientCache(len(data["obs"]), obs_dim)
        start = time.perf_counter()
        stats = train_model(model, data, config, torch.Generator().manual_seed(0), sac_values(sac), cache)
        best = min(best, time.perf_counter() - start)
    n_train = len(data["obs"]) - int(len(data["obs"]) * config.validation_ratio)
    return stats.epochs * n_train * model.members / best


def perf(device: str) -> dict[str, float]:
    """VaGraM and MSE model-training samples/s (ensemble of 7, batch 256) on 5000 Pendulum + 5 distractor
    transitions with a 2 x 256 SAC critic, for the 1 x 16 and the official 4 x 200 model; their ratio."""
    torch.set_num_threads(1)
    env = make_env("Pendulum-v1", 5, 0)
    sac = make_sac(env, SACConfig(net_arch=(256, 256)), 0)
    rng = np.random.default_rng(0)
    n = 5000
    obs = rng.normal(size=(n, 8)).astype(np.float32)
    data = {
        "obs": torch.as_tensor(obs),
        "actions": torch.as_tensor(rng.uniform(-1, 1, (n, 1)).astype(np.float32)),
        "rewards": torch.as_tensor(rng.normal(size=n).astype(np.float32)),
        "next_obs": torch.as_tensor(obs + 0.1 * rng.normal(size=(n, 8)).astype(np.float32)),
    }
    figures: dict[str, float] = {}
    for name, hidden in SIZES.items():
        epochs = 5 if name == "small" else 2
        for loss in ("mse", "vagram"):
            figures[f"{name}/{loss}_samples_per_s"] = _round_rate(hidden, loss, data, sac, epochs)
        # time of a VaGraM round over an MSE round's (target <= 1.3)
        figures[f"{name}/vagram_time_ratio"] = (
            figures[f"{name}/mse_samples_per_s"] / figures[f"{name}/vagram_samples_per_s"]
        )
    return figures
