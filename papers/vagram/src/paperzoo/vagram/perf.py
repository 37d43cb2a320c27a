"""The speed figure of VaGraM (``python -m paperzoo.vagram --perf``; never run in CI): model-training samples/s
of a VaGraM round (its value gradients included, computed once per round in batched chunks) against an MSE round
on the same data, model and minibatches, in the same process. Target: VaGraM within 1.3x of MSE's time. The
ratio without the once-per-round value gradients (timed on their own) is the per-minibatch cost of the loss."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from paperzoo.vagram.envs import make_env
from paperzoo.vagram.mbpo import SACConfig, make_sac
from paperzoo.vagram.models import ModelEnsemble, ModelTrainConfig, train_model
from paperzoo.vagram.values import GradientCache, ValueFn, sac_values, state_gradients

SIZES = {"small": (16,), "official": (200,) * 4}
REPEATS = 3  # best of 3: the run least disturbed by other load


def _round_time(hidden: tuple[int, ...], loss: str, data: dict, values: ValueFn, config: ModelTrainConfig) -> float:
    """CPU seconds of one fixed-length training round."""
    obs_dim, act_dim = data["obs"].shape[1], data["actions"].shape[1]
    best, config = float("inf"), dataclasses.replace(config, loss=loss)
    for _ in range(REPEATS):
        torch.manual_seed(0)
        model = ModelEnsemble(obs_dim, act_dim, hidden)
        cache = GradientCache(len(data["obs"]), obs_dim)
        start = time.process_time()
        train_model(model, data, config, torch.Generator().manual_seed(0), values, cache)
        best = min(best, time.process_time() - start)
    return best


def perf(device: str) -> dict[str, float]:
    """VaGraM and MSE model-training samples/s (ensemble of 7, batch 256) on 5000 Pendulum + 5 distractor
    transitions with a 2 x 256 SAC critic, for the 1 x 16 and the official 4 x 200 model; their ratios."""
    torch.set_num_threads(1)
    env = make_env("Pendulum-v1", 5, 0)
    values = sac_values(make_sac(env, SACConfig(net_arch=(256, 256)), 0))
    rng = np.random.default_rng(0)
    n = 5000
    obs = rng.normal(size=(n, 8)).astype(np.float32)
    data = {
        "obs": torch.as_tensor(obs),
        "actions": torch.as_tensor(rng.uniform(-1, 1, (n, 1)).astype(np.float32)),
        "rewards": torch.as_tensor(rng.normal(size=n).astype(np.float32)),
        "next_obs": torch.as_tensor(obs + 0.1 * rng.normal(size=(n, 8)).astype(np.float32)),
    }
    grad_time = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        state_gradients(values, data["next_obs"])
        grad_time = min(grad_time, time.process_time() - start)
    figures: dict[str, float] = {"value_gradients_s": grad_time}
    for name, hidden in SIZES.items():
        epochs = 5 if name == "small" else 2
        config = ModelTrainConfig(epochs=epochs, patience=epochs)
        samples = epochs * (n - int(n * config.validation_ratio)) * 7
        times = {loss: _round_time(hidden, loss, data, values, config) for loss in ("mse", "vagram")}
        for loss, seconds in times.items():
            figures[f"{name}/{loss}_samples_per_s"] = samples / seconds
        # time of a VaGraM round over an MSE round's (target <= 1.3), and without the value gradients
        figures[f"{name}/vagram_time_ratio"] = times["vagram"] / times["mse"]
        figures[f"{name}/vagram_train_ratio"] = (times["vagram"] - grad_time) / times["mse"]
    return figures
