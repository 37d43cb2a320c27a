"""Speed figures: wall time per iteration (sampling + estimator + update) on the LQR, as ratios to N-PG.

All arms run in the same process on the same LQR (10 rows = seeds, H = 50); N-PG-IGT samples one trajectory
(at the extrapolated point), N-HARPG two plus one Hessian-vector product (one double backward). The optimizer
update alone (a fixed gradient, no sampling) is also timed against ``torch.optim.AdamW(foreach=True)``.
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


def _median(fn: Callable[[], object], repeats: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def perf(device: str, repeats: int = 300, rows: int = 10) -> dict[str, float]:
    """Per-iteration time of N-PG-IGT and N-HARPG over N-PG, and update-only time over AdamW(foreach)."""
    from paperzoo.npg_igt.bench import LQRConfig  # bench imports this module

    config = LQRConfig()
    env = LQR(config.state_dim, config.action_dim, config.horizon, config.discount, seed=config.instance_seed)
    figures: dict[str, float] = {}
    for arm in ARMS:
        policy = LinearGaussianPolicy(rows, config.state_dim, config.action_dim, config.sigma)
        sigma, gen = policy.sigma().detach(), torch.Generator().manual_seed(0)
        closure = policy_gradient_closure(
            [policy.gain],
            lambda p=policy, s=sigma, g=gen: env.sample(p.gain.detach(), s, g),
            lambda t, p=policy: p.log_prob(t.inputs, t.actions),
            config.discount,
        )
        optimizer, _ = make_optimizer(arm, [policy.gain], config.steps, 0)
        figures[f"{arm}/iteration_ms"] = 1e3 * _median(lambda o=optimizer, c=closure: o.step(c), repeats)
    for arm in ARMS[1:]:
        figures[f"{arm}/iteration_over_npg"] = figures[f"{arm}/iteration_ms"] / figures["npg/iteration_ms"]
    gain = torch.nn.Parameter(torch.randn(rows, config.action_dim, config.state_dim, dtype=torch.float64))
    fixed = torch.randn_like(gain)

    def set_grad(direction: object = None) -> None:
        gain.grad = fixed.clone()

    adamw = torch.optim.AdamW([gain], lr=1e-3, foreach=True, maximize=True)
    adamw_s = _median(lambda: (set_grad(), adamw.step()), repeats)
    for arm in ARMS:
        optimizer, _ = make_optimizer(arm, [gain], config.steps, 0)
        figures[f"{arm}/update_over_adamw"] = _median(lambda o=optimizer: o.step(set_grad), repeats) / adamw_s
    return figures
