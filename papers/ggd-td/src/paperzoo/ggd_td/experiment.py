"""The scale runners of ggd-td (``bench.py`` declares them).

- :func:`run_smoke`: the GGD-head regression toy (y = x + ε with Laplace(0, 1) = GGD(α=1, β=1) and N(0, ½) =
  GGD(α=1, β=2) noise, paper-form NLL) must recover β; one PPO update on NoisyCartPole per value loss.
- :func:`run_full` (also the ``paper`` scale's runner): PPO with each arm's value loss on the configured task;
  every arm uses the run's seed (same env and policy seeds: paired), the uniform random policy as reference.
  Arms are a :data:`~paperzoo.ggd_td.losses.LOSSES` name, with ``_paper`` appended for the paper-form GGD NLL and
  ``sac_`` prepended for SAC instead of PPO (``sac_iev_ggd``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive

if TYPE_CHECKING:
    from paperzoo.ggd_td.bench import FullConfig, SmokeConfig

PAPER_SUFFIX = "_paper"
SAC_PREFIX = "sac_"


def setup_process() -> None:
    """One torch thread, deterministic kernels, quiet third-party warnings; registers the noisy envs."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(gymnasium|stable_baselines3)\..*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with contextlib.redirect_stderr(io.StringIO()):  # SB3 imports the legacy `gym` if present, which prints a banner
        import stable_baselines3  # noqa: F401
    import paperzoo.ggd_td.envs  # noqa: F401  (registers paperzoo/Noisy*)


def arm_loss(arm: str) -> tuple[str, str]:
    """The (loss name, NLL form) an arm name stands for: ``"ggd_paper"`` -> (``"ggd"``, ``"paper"``); the algorithm
    prefix is dropped (``"sac_gd"`` -> (``"gd"``, ``"official"``))."""
    arm = arm.removeprefix(SAC_PREFIX)
    if arm.endswith(PAPER_SUFFIX):
        return arm.removesuffix(PAPER_SUFFIX), "paper"
    return arm, "official"


# ---------------------------------------------------------------------------------------------- smoke
def fit_toy(noise: str, points: int, steps: int, seed: int) -> float:
    """Fit (mean, shape logit) of y = x + ε by the paper-form GGD NLL (α = 1); the mean fitted β."""
    import torch as th

    from paperzoo.ggd_td.ggd import ggd_beta, ggd_nll

    gen = th.Generator().manual_seed(derive(seed, "toy", noise))
    x = th.rand(points, 1, generator=gen) * 4 - 2
    if noise == "laplace":
        eps = th.distributions.Laplace(0.0, 1.0).icdf(th.rand(points, 1, generator=gen).clamp(1e-6, 1 - 1e-6))
    else:
        eps = th.randn(points, 1, generator=gen) * np.sqrt(0.5)
    y = x + eps
    th.manual_seed(derive(seed, "toy-init"))
    net = th.nn.Sequential(th.nn.Linear(1, 32), th.nn.Tanh(), th.nn.Linear(32, 32), th.nn.Tanh(), th.nn.Linear(32, 2))
    opt = th.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        out = net(x)
        loss = ggd_nll(out[:, :1] - y, ggd_beta(out[:, 1:]), "paper").mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with th.no_grad():
        return float(ggd_beta(net(x)[:, 1]).mean())


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """The toy's fitted β for both noises; whether one PPO update per loss gives finite gradients and weights."""
    setup_process()
    import torch as th

    from paperzoo.ggd_td.losses import LOSSES

    metrics = {f"toy/beta_{n}": fit_toy(n, config.toy_points, config.toy_steps, seed) for n in ("laplace", "gaussian")}
    finite = []
    for loss in LOSSES:
        model = _make_ppo(config.ppo, loss, "official", seed, n_steps=config.ppo_steps, n_epochs=1)
        model.learn(config.ppo_steps * config.ppo.n_envs)
        params = th.cat([p.detach().ravel() for p in model.policy.parameters()])
        finite.append(bool(th.isfinite(params).all()) and np.isfinite(model.logger.name_to_value["train/value_loss"]))
    metrics["ppo/all_losses_finite"] = float(all(finite))
    return Result(metrics=metrics)


# ---------------------------------------------------------------------------------------------- full
def _make_env(algo: Any, seed: int, n_envs: int):
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = {"max_noise": algo.max_noise, "noise": algo.noise} if algo.env_id.startswith("paperzoo/") else {}
    return make_vec_env(algo.env_id, n_envs=n_envs, seed=derive(seed, "env"), env_kwargs=kwargs)


def _make_ppo(ppo: Any, loss: str, nll_form: str, seed: int, **overrides: Any):
    from paperzoo.ggd_td.ppo import EnsemblePPO

    kwargs = {
        "n_steps": ppo.n_steps,
        "batch_size": ppo.batch_size,
        "n_epochs": ppo.n_epochs,
        "learning_rate": ppo.learning_rate,
        "gamma": ppo.gamma,
        "gae_lambda": ppo.gae_lambda,
        "policy_kwargs": {"net_arch": list(ppo.net_arch)},
    } | overrides
    return EnsemblePPO(
        "MlpPolicy",
        _make_env(ppo, seed, ppo.n_envs),
        loss=loss,
        ensemble_size=ppo.ensemble_size,
        uncertainty_temperature=ppo.uncertainty_temperature,
        min_batch_size=ppo.min_batch_size,
        nll_form=nll_form,
        seed=derive(seed, "ppo"),
        device=ppo.device,
        **kwargs,
    )


def _make_sac(sac: Any, loss: str, nll_form: str, seed: int):
    from paperzoo.ggd_td.sac import EnsembleSAC

    return EnsembleSAC(
        "MlpPolicy",
        _make_env(sac, seed, sac.n_envs),
        loss=loss,
        ensemble_size=sac.ensemble_size,
        uncertainty_temperature=sac.uncertainty_temperature,
        min_batch_size=sac.min_batch_size,
        nll_form=nll_form,
        learning_rate=sac.learning_rate,
        buffer_size=sac.buffer_size,
        learning_starts=sac.learning_starts,
        batch_size=sac.batch_size,
        tau=sac.tau,
        gamma=sac.gamma,
        train_freq=sac.train_freq,
        gradient_steps=sac.gradient_steps,
        policy_kwargs={"net_arch": list(sac.net_arch)},
        seed=derive(seed, "sac"),
        device=sac.device,
    )


def train_arm(config: FullConfig, arm: str, seed: int) -> dict[str, Any]:
    """Train one arm; per PPO rollout's worth of environment steps, the mean return of the episodes that ended in
    it (the last value carried forward through one in which none ended), and the loss's mechanism statistics."""
    setup_process()
    from stable_baselines3.common.callbacks import BaseCallback

    loss, nll_form = arm_loss(arm)
    if arm.startswith(SAC_PREFIX):
        model = _make_sac(config.sac, loss, nll_form, seed)
    else:
        model = _make_ppo(config.ppo, loss, nll_form, seed)
    curve: list[float] = []
    ended: list[float] = []

    window = config.ppo.n_envs * config.ppo.n_steps  # one PPO rollout: the curve's x step for every algorithm

    class Returns(BaseCallback):
        def _on_step(self) -> bool:
            ended.extend(info["episode"]["r"] for info in self.locals["infos"] if "episode" in info)
            if self.num_timesteps >= window * (len(curve) + 1):
                curve.append(float(np.mean(ended)) if ended else (curve[-1] if curve else 0.0))
                ended.clear()
            return True

    model.learn(config.total_steps, callback=Returns())
    value_loss = model.value_loss
    out: dict[str, Any] = {"curve": curve}
    if value_loss.shape_means:  # the mean over the first and the last 50 minibatches
        out["shape"] = float(np.mean(value_loss.shape_means[-50:]))
        out["shape_first"] = float(np.mean(value_loss.shape_means[:50]))
    if value_loss.weightings:
        batch = (config.sac if arm.startswith(SAC_PREFIX) else config.ppo).batch_size
        out["xi_fraction"] = float(np.mean([w.xi > 0 for w in value_loss.weightings]))
        out["ebs_fraction"] = float(np.mean([w.ebs for w in value_loss.weightings])) / batch
    return out


def random_return(config: FullConfig, seed: int) -> float:
    """The mean return of the uniform random policy over ``config.random_episodes`` episodes."""
    setup_process()
    env = _make_env(config.ppo, seed, 1)
    env.action_space.seed(derive(seed, "random"))
    returns, total = [], 0.0
    env.reset()
    while len(returns) < config.random_episodes:
        _, reward, done, _ = env.step(np.array([env.action_space.sample()]))
        total += float(reward[0])
        if done[0]:
            returns.append(total)
            total = 0.0
    return float(np.mean(returns))


def run_full(config: FullConfig, seed: int) -> Result:
    """Every arm on the same seed (jobs over ``config.workers`` processes), the random policy, the metrics."""
    jobs = [(train_arm, (config, arm, seed)) for arm in config.arms] + [(random_return, (config, seed))]
    *results, random = run_jobs(jobs, config.workers, desc=f"ggd-td seed {seed}")
    metrics: dict[str, float] = {"random/return": random}
    series: dict[str, list[float]] = {}
    for arm, res in zip(config.arms, results, strict=True):
        curve = np.asarray(res["curve"])
        metrics[f"{arm}/final_return"] = float(curve[-config.last_rollouts :].mean())
        metrics[f"{arm}/auc"] = float(curve.mean())
        if "shape_first" in res:  # β (GGD) or σ² (GD): its final mean and how far it moved from the first updates
            metrics[f"{arm}/shape"] = res["shape"]
            metrics[f"{arm}/shape_shift"] = abs(res["shape"] - res["shape_first"])
        for key in ("xi_fraction", "ebs_fraction"):
            if key in res:
                metrics[f"{arm}/{key}"] = res[key]
        series[f"{arm}/return"] = curve.tolist()
    return Result(metrics=metrics, series=series)
