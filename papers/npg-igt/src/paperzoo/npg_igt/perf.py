"""Speed figures: wall time per iteration (sampling + estimator + update) on the LQR, as ratios to N-PG.

All arms run in the same process on the same LQR (10 rows = seeds, H = 50); N-PG-IGT samples one trajectory
(at the extrapolated point), N-HARPG two plus one Hessian-vector product (two autograd passes, one double). The
optimizer update alone (a fixed gradient, no sampling) is also timed against ``torch.optim.AdamW(foreach=True)``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from paperzoo.npg_igt.envs import LQR
from paperzoo.npg_igt.experiment import make_optimizer
from paperzoo.npg_igt.policies import LinearGaussianPolicy
from paperzoo.npg_igt.sampler import policy_gradient_closure

ARMS = ("npg", "npg_igt", "nharpg")


def _time(fn: Callable[[], object], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def perf(device: str, repeats: int = 200, rounds: int = 7, rows: int = 10) -> dict[str, float]:
    """Per-iteration time of N-PG-IGT and N-HARPG over N-PG, and update-only time over AdamW(foreach).

    The arms are timed in turn within each of ``rounds`` rounds (``repeats`` iterations each, after a warm-up),
    so contention hits them alike; a ratio is taken per round and the median, min and max over rounds reported."""
    from paperzoo.npg_igt.bench import LQRConfig  # bench imports this module

    config = LQRConfig()
    env = LQR(config.state_dim, config.action_dim, config.horizon, config.discount, seed=config.instance_seed)
    iterations: dict[str, Callable[[], object]] = {}
    for arm in ARMS:
        policy = LinearGaussianPolicy(rows, config.state_dim, config.action_dim, config.sigma)
        sigma, gen = policy.sigma().detach(), torch.Generator().manual_seed(0)
        closure = policy_gradient_closure(
            [policy.gain],
            lambda p=policy, s=sigma, g=gen: env.sample(p.gain.detach(), s, g),
            lambda t, p=policy: p.log_prob(t.inputs, t.actions),
            config.discount,
        )
        optimizer = make_optimizer(arm, [policy.gain], [getattr(config.steps, arm).value], config.steps, 0)
        iterations[arm] = lambda o=optimizer, c=closure: o.step(c)
    gain = torch.nn.Parameter(torch.randn(rows, config.action_dim, config.state_dim, dtype=torch.float64))
    fixed = torch.randn_like(gain)

    def set_grad(direction: object = None) -> None:
        gain.grad = fixed.clone()

    adamw = torch.optim.AdamW([gain], lr=1e-3, foreach=True, maximize=True)
    updates: dict[str, Callable[[], object]] = {"adamw": lambda: (set_grad(), adamw.step())}
    for arm in ARMS:
        optimizer = make_optimizer(arm, [gain], [getattr(config.steps, arm).value], config.steps, 0)
        updates[arm] = lambda o=optimizer: o.step(set_grad)
    for fn in (*iterations.values(), *updates.values()):
        _time(fn, 20)  # warm-up
    ratios: dict[str, list[float]] = {}
    for _ in range(rounds):
        it = {arm: _time(fn, repeats) for arm, fn in iterations.items()}
        up = {arm: _time(fn, repeats) for arm, fn in updates.items()}
        ratios.setdefault("npg/iteration_ms", []).append(1e3 * it["npg"])
        for arm in ARMS[1:]:
            ratios.setdefault(f"{arm}/iteration_over_npg", []).append(it[arm] / it["npg"])
        for arm in ARMS:
            ratios.setdefault(f"{arm}/update_over_adamw", []).append(up[arm] / up["adamw"])
    figures: dict[str, float] = {}
    for name, values in ratios.items():
        figures[name] = statistics.median(values)
        figures[f"{name}_min"], figures[f"{name}_max"] = min(values), max(values)
    return figures
