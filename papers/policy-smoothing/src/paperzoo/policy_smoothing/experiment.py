"""The scale runners of policy-smoothing (``bench.py`` declares them).

- :func:`run_smoke`: the certificate on synthetic returns against statsmodels (B = 0, always-T, monotone in B);
  SB3 DQN trains a few thousand steps on the noisy frame-stacked CartPole, its smoothed policy is certified and
  attacked within budget.
- :func:`run_full` (also the ``paper`` scale's runner): per sigma, SB3 DQN trained with noise sigma (sigma = 0: the
  undefended agent), best checkpoint chosen on model-selection episodes, certified on N other episodes over the B
  grid; the attack agents attacked with the adaptive attack on the attack B grid, worst over the thresholds.

Seeding (paired arms): every sigma's DQN gets ``derive(seed, "dqn")`` (the same initial weights and exploration
draws), model selection ``derive(seed, "model selection")``, certification ``derive(seed, "certification")``, the
attack ``derive(seed, "attack")``: the certification episodes are never the model-selection episodes.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive

if TYPE_CHECKING:
    from paperzoo.policy_smoothing.bench import FullConfig, SmokeConfig

log = logging.getLogger("paperzoo.policy_smoothing")

PURPOSES = ("dqn", "model selection", "certification", "attack")


def seeds(seed: int) -> dict[str, int]:
    """The sub-seed of each purpose of a run seeded ``seed``."""
    return {purpose: derive(seed, purpose) for purpose in PURPOSES}


def setup_process() -> None:
    """One torch thread, deterministic kernels, gymnasium's deprecation notes silenced."""
    import warnings

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"gymnasium\..*")


def arm(sigma: float) -> str:
    """The metric prefix of the agent smoothed with ``sigma`` (``sigma0``: undefended)."""
    return f"sigma{sigma:g}"


def tag(budget: float) -> str:
    """The metric suffix of a budget B."""
    return f"B{budget:g}"


# ---------------------------------------------------------------------------------------------- jobs
def train_and_certify(sigma: float, config: Any, seed: int) -> dict[str, Any]:
    """Train the base DQN with noise ``sigma``, keep the best model-selection checkpoint, certify on N episodes."""
    setup_process()
    from paperzoo.policy_smoothing.policy import SmoothedPolicy, rollout, train_dqn

    s = seeds(seed)
    start = time.perf_counter()
    model, selector = train_dqn(sigma, config.dqn, s["dqn"], s["model selection"], config.frames, config.env_id)
    train_s = time.perf_counter() - start
    policy = SmoothedPolicy(model.q_net, sigma, config.frames, seed=derive(s["certification"], "noise"))
    returns = rollout(policy, config.certify_episodes, s["certification"], config.env_id)
    return {
        "q_net": model.q_net,
        "returns": returns,
        "select_best": selector.best_return,
        "select_history": [r for _, r in selector.history],
        "train_s": train_s,
    }


def attack_job(
    q_net: Any, sigma: float, threshold: float, target: int | None, config: Any, seed: int
) -> dict[str, Any]:
    """Attack ``config.attack_episodes`` episodes at every budget of ``config.attack_budgets`` with one threshold and
    target."""
    setup_process()
    from paperzoo.policy_smoothing.attack import attack_episodes

    budgets = np.repeat(np.asarray(config.attack_budgets, dtype=np.float64), config.attack_episodes)
    start = time.perf_counter()
    returns, spent = attack_episodes(
        q_net, sigma, budgets, threshold, config.attack, seeds(seed)["attack"], config.frames, config.env_id, target
    )
    shape = (len(config.attack_budgets), config.attack_episodes)
    return {"returns": returns.reshape(shape), "spent": spent.reshape(shape), "attack_s": time.perf_counter() - start}


# ---------------------------------------------------------------------------------------------- runners
def run_full(config: FullConfig, seed: int) -> Result:
    """Train, certify and attack every sigma of ``config``; the worst attack over the thresholds per budget."""
    from paperzoo.policy_smoothing.certify import certified_reward

    trained = run_jobs(
        [(train_and_certify, (sigma, config, seed)) for sigma in config.sigmas], config.workers, desc="train"
    )
    agents = dict(zip(config.sigmas, trained, strict=True))
    grid = [(lam, k) for lam in config.attack.thresholds for k in config.attack.targets]
    pairs = [(sigma, lam, k) for sigma in config.attack_sigmas for lam, k in grid]
    attacked = run_jobs(
        [(attack_job, (agents[sigma]["q_net"], sigma, lam, k, config, seed)) for sigma, lam, k in pairs],
        config.workers,
        desc="attack",
    )
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    budgets = np.asarray(config.budgets)
    for sigma, agent in agents.items():
        name = arm(sigma)
        cert = certified_reward(agent["returns"], sigma, budgets, config.alpha, config.horizon, config.reward_shift)
        metrics |= {
            f"{name}/clean_reward": float(agent["returns"].mean()),
            f"{name}/select_reward": agent["select_best"],
            f"{name}/train_s": agent["train_s"],
            **{f"{name}/cert_{tag(b)}": float(c) for b, c in zip(budgets, cert, strict=True)},
        }
        if sigma > 0:
            metrics[f"{name}/cert_ratio"] = float(cert[-1] / cert[0]) if cert[0] > 0 else 0.0
        series[f"{name}/cert"] = cert.tolist()
        series[f"{name}/select_history"] = agent["select_history"]
    for sigma in config.attack_sigmas:
        name = arm(sigma)
        runs = [a for (s, _, _), a in zip(pairs, attacked, strict=True) if s == sigma]
        means = np.stack([r["returns"].mean(axis=1) for r in runs])  # (thresholds x targets, budgets)
        worst = means.min(axis=0)
        metrics |= {f"{name}/attacked_{tag(b)}": float(v) for b, v in zip(config.attack_budgets, worst, strict=True)}
        metrics[f"{name}/attack_spent"] = float(max(r["spent"][-1].mean() for r in runs))
        metrics[f"{name}/attack_s"] = float(sum(r["attack_s"] for r in runs))
        series[f"{name}/attacked"] = worst.tolist()
        for (lam, k), m in zip(grid, means, strict=True):
            series[f"{name}/attacked_lambda{lam:g}_target{k}"] = m.tolist()
    # attacked - certified at the attack budgets B > 0 (at B = 0 nothing is attacked, and a mean over
    # attack_episodes episodes may fall below the bound by sampling error alone)
    attacked_budgets = [b for b in config.attack_budgets if b > 0]
    for sigma in config.attack_sigmas:
        if sigma > 0 and attacked_budgets:
            name = arm(sigma)
            gaps = [metrics[f"{name}/attacked_{tag(b)}"] - metrics[f"{name}/cert_{tag(b)}"] for b in attacked_budgets]
            metrics[f"{name}/attacked_minus_cert_min"] = float(min(gaps))
    if 0.0 in config.attack_sigmas and config.reference_sigma in config.sigmas:
        ref = arm(config.reference_sigma)
        gaps = [metrics[f"{ref}/cert_{tag(b)}"] - metrics[f"sigma0/attacked_{tag(b)}"] for b in config.attack_budgets]
        metrics[f"sigma0/cert_minus_attacked_max_vs_{ref}"] = float(max(gaps))
    return Result(metrics=metrics, series=series)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """Synthetic-return certificate checks against statsmodels, and a short DQN train / certify / attack."""
    from statsmodels.stats.proportion import proportion_confint

    from paperzoo.policy_smoothing.certify import certified_reward

    rng = np.random.default_rng(derive(seed, "synthetic returns"))
    T, n, alpha = config.horizon, config.synthetic_episodes, config.alpha
    returns = np.minimum(rng.geometric(1.0 / 150.0, size=n), T)
    k = (returns[None, :] > np.arange(T)[:, None]).sum(axis=1)
    reference = np.nan_to_num(proportion_confint(k, n, alpha=2 * alpha / T, method="beta")[0]).sum()
    grid = np.linspace(0.0, 2.0, 21)
    cert = certified_reward(returns, config.sigma, grid, alpha, T)
    always = certified_reward(np.full(n, T), config.sigma, 0.0, alpha, T)
    metrics = {
        "synthetic/b0_error": float(abs(cert[0] - reference)),
        "synthetic/always_t_error": float(abs(always - T * (alpha / T) ** (1 / n))),
        "synthetic/non_increasing": float(np.all(np.diff(cert) <= 1e-12) and cert[-1] < cert[0]),
        "synthetic/cert_b0": float(cert[0]),
    }
    agent = train_and_certify(config.sigma, config, seed)
    attack = attack_job(agent["q_net"], config.sigma, 0.0, None, config, seed)
    limit = np.asarray(config.attack_budgets)[:, None]
    metrics |= {
        "dqn/clean_reward": float(agent["returns"].mean()),
        "dqn/attack_within_budget": float(np.all(attack["spent"] <= limit * (1 + 1e-6))),
        "dqn/attack_spent": float(attack["spent"][-1].mean()),
    }
    return Result(metrics=metrics, series={"synthetic/cert": cert.tolist()})
