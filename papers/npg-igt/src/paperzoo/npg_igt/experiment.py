"""The scale runners of npg-igt: each method on the LQR and CartPole-v1, rows = seeds (vectorised).

Every arm spends the same number of sampled trajectories; N-PG-IGT, N-PG and PG(1) use one per iteration,
(N-)HARPG two (one at t = 0), PG(10) ten. The seeds of a config's ``seeds`` run together as rows of one batch,
computed once and cached, so that ``run(config, seed)`` for each of them costs one batched run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.optim import SGD, Optimizer

from paperzoo.npg_igt.envs import LQR, TabularMDP, sample_cartpole
from paperzoo.npg_igt.estimators import gpomdp, hessian_vector
from paperzoo.npg_igt.optim import HARPG, NHARPG, NPGIGT
from paperzoo.npg_igt.policies import LinearGaussianPolicy, SoftmaxPolicy
from paperzoo.npg_igt.sampler import policy_gradient_closure
from paperzoo.shared import Result
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive

LQR_ARMS = ("npg_igt", "nharpg", "harpg", "npg", "pg1", "pg10")
CARTPOLE_ARMS = ("npg_igt", "nharpg", "npg", "pg1")
HESSIAN_ARMS = ("nharpg", "harpg")


def make_optimizer(arm: str, params: list[Tensor], steps: Any, seed: int) -> tuple[Optimizer, int]:
    """The arm's optimizer (``steps``: the config's step sizes) and its trajectories per iteration."""
    if arm == "npg_igt":
        return NPGIGT(params, steps.gamma0, indexing=steps.indexing, batched=True), 1
    if arm == "npg":  # normalised PG: IGT with eta_t = 1 (no transport, no averaging)
        return NPGIGT(params, steps.gamma0_npg, eta0=1.0, eta_power=0.0, batched=True), 1
    if arm == "nharpg":
        return NHARPG(params, steps.gamma0_harpg, batched=True, seed=derive(seed, "q")), 2
    if arm == "harpg":
        return HARPG(params, steps.lr_harpg, steps.eta_harpg, batched=True, seed=derive(seed, "q")), 2
    if arm in ("pg1", "pg10"):
        return SGD(params, lr=steps.lr_pg1 if arm == "pg1" else steps.lr_pg10, maximize=True), 1 if arm == "pg1" else 10
    raise ValueError(f"arm must be one of {LQR_ARMS}, got {arm!r}")


def train(
    arm: str,
    optimizer: Optimizer,
    per_iter: int,
    closure: Callable,
    budget: int,
    checkpoints: np.ndarray,
    evaluate: Callable[[], Tensor],
) -> Tensor:
    """Iterate until ``budget`` trajectories are spent; ``evaluate()`` at each checkpoint: [rows, n_checkpoints]."""
    used, k, values = 0, 0, []
    first = True
    while k < len(checkpoints):
        n = 1 if (first and arm in HESSIAN_ARMS) else per_iter
        if used + n > budget:
            break
        if isinstance(optimizer, SGD):
            optimizer.zero_grad()
        optimizer.step(closure)
        used, first = used + n, False
        while k < len(checkpoints) and used >= checkpoints[k]:
            values.append(evaluate())
            k += 1
    while len(values) < len(checkpoints):  # a last iteration that would overshoot: keep the final value
        values.append(evaluate())
    return torch.stack(values, 1)


def log_checkpoints(budget: int, points: int) -> np.ndarray:
    """Distinct, log-spaced trajectory counts from 1 to ``budget``."""
    return np.unique(np.geomspace(1, budget, points).round().astype(int))


# ------------------------------------------------------------------------------------------------ LQR
@functools.lru_cache(maxsize=2)
def lqr_curves(config: Any, seeds: tuple[int, ...]) -> dict[str, Any]:
    """J* - J(theta) at log-spaced trajectory counts for every arm, rows = seeds (exact J)."""
    env = LQR(config.state_dim, config.action_dim, config.horizon, config.discount, seed=config.instance_seed)
    j_star = env.optimal_return(config.sigma)
    rows = len(seeds)
    checkpoints = log_checkpoints(config.trajectories, config.checkpoints)
    curves = {"j_star": j_star, "checkpoints": checkpoints.tolist()}
    for arm in progress(config.arms, desc="lqr arms"):
        policy = LinearGaussianPolicy(rows, config.state_dim, config.action_dim, config.sigma)
        sigma = policy.sigma().detach()
        gens = [torch.Generator().manual_seed(derive(s, "lqr", "trajectories")) for s in seeds]
        optimizer, per_iter = make_optimizer(arm, [policy.gain], config.steps, seeds[0])
        batch = 10 if arm == "pg10" else 1

        def sample(policy=policy, batch=batch, gens=gens, sigma=sigma):
            gain = policy.gain.detach().repeat_interleave(batch, 0)
            return env.sample(gain, sigma.repeat_interleave(batch, 0), gens)

        def log_prob(traj, policy=policy, batch=batch):
            states = traj.inputs.reshape(rows, -1, config.state_dim)
            actions = traj.actions.reshape(rows, -1, config.action_dim)
            return policy.log_prob(states, actions).reshape(rows * batch, -1) / batch

        closure = policy_gradient_closure([policy.gain], sample, log_prob, config.discount)

        def gap(policy=policy, sigma=sigma):
            with torch.no_grad():
                return j_star - env.exact_return(policy.gain, sigma)

        curves[arm] = train(arm, optimizer, per_iter, closure, config.trajectories, checkpoints, gap)
    return curves


# ------------------------------------------------------------------------------------------------ CartPole
@functools.lru_cache(maxsize=2)
def cartpole_runs(config: Any, seeds: tuple[int, ...]) -> dict[str, Any]:
    """Episode returns of every arm and of the uniform random policy, rows = seeds."""
    rows = len(seeds)
    out: dict[str, Any] = {}
    rngs = [np.random.default_rng(derive(s, "cartpole", "random")) for s in seeds]
    uniform = sample_cartpole(np.zeros((rows * config.random_episodes, 5, 2)), rngs)
    out["random"] = uniform.rewards.sum(-1).reshape(rows, -1).mean(1)
    for arm in progress(config.arms, desc="cartpole arms"):
        policy = SoftmaxPolicy(rows, 5, 2)
        rngs = [np.random.default_rng(derive(s, "cartpole", "episodes")) for s in seeds]
        optimizer, per_iter = make_optimizer(arm, [policy.theta], config.steps, seeds[0])
        returns: list[Tensor] = []

        def sample(policy=policy, rngs=rngs):
            return sample_cartpole(policy.theta.detach().numpy(), rngs)

        def log_prob(traj, policy=policy):
            return policy.log_prob(traj.inputs, traj.actions)

        closure = policy_gradient_closure([policy.theta], sample, log_prob, config.discount, log=returns)
        checkpoints = np.arange(1, config.episodes + 1)
        train(arm, optimizer, per_iter, closure, config.episodes, checkpoints, lambda: torch.zeros(rows))
        out[arm] = torch.stack(returns, 1)  # [rows, episodes]
    return out


# ------------------------------------------------------------------------------------------------ tabular
def tabular_check(config: Any, seed: int) -> dict[str, float]:
    """Monte-Carlo (``config.mc_trajectories`` rows) g^, B^u and v_t against exact grad J, grad^2 J u and
    grad J(theta_t) - grad J(theta_{t-1}) on the tabular MDP: the largest |z| over coordinates."""
    mdp = TabularMDP(config.n_states, config.n_actions, config.horizon, config.discount, seed=derive(seed, "mdp"))
    g = torch.Generator().manual_seed(derive(seed, "mc"))
    n, shape = config.mc_trajectories, (config.n_states, config.n_actions)
    theta = torch.randn(1, *shape, generator=g, dtype=torch.float64)
    prev = theta + 0.3 * torch.randn(1, *shape, generator=g, dtype=torch.float64)
    u = theta - prev

    def exact_grad(th: Tensor) -> Tensor:
        th = th.clone().requires_grad_(True)
        return torch.autograd.grad(mdp.exact_return(th).sum(), th, create_graph=True)[0]

    th = theta.clone().requires_grad_(True)
    grad = torch.autograd.grad(mdp.exact_return(th).sum(), th, create_graph=True)[0]
    hvp = torch.autograd.grad((grad * u).sum(), th)[0]
    diff = exact_grad(theta) - exact_grad(prev)

    def estimate(at: Tensor, direction: Tensor | None) -> Tensor:
        policy = SoftmaxPolicy(n, *shape)
        with torch.no_grad():
            policy.theta.copy_(at.expand(n, -1, -1))
        traj = mdp.sample(policy.theta.detach(), g)
        lp = policy.log_prob(traj.inputs, traj.actions)
        if direction is None:
            return gpomdp([policy.theta], lp, traj.rewards, mdp.discount)[0]
        return hessian_vector([policy.theta], lp, traj.rewards, mdp.discount, [direction.expand(n, -1, -1)])[0]

    q = torch.rand(n, 1, 1, generator=g, dtype=torch.float64)
    policy = SoftmaxPolicy(n, *shape)
    with torch.no_grad():
        policy.theta.copy_(q * theta + (1 - q) * prev)
    traj = mdp.sample(policy.theta.detach(), g)
    lp = policy.log_prob(traj.inputs, traj.actions)
    v = hessian_vector([policy.theta], lp, traj.rewards, mdp.discount, [u.expand(n, -1, -1)])[0]

    def z(samples: Tensor, exact: Tensor) -> float:
        return float(((samples.mean(0) - exact[0].detach()) / (samples.std(0) / n**0.5)).abs().max())

    return {
        "gpomdp_max_z": z(estimate(theta, None), grad),
        "hvp_max_z": z(estimate(theta, u), hvp),
        "v_max_z": z(v, diff),
    }


def tabular_ascent(config: Any, seed: int) -> float:
    """N-PG-IGT for ``config.igt_iterations`` single-trajectory iterations on the tabular MDP from theta = 0:
    the fraction (J_T - J_0) / (J* - J_0) of the gap it closes (J* by L-BFGS on the exact J)."""
    mdp = TabularMDP(config.n_states, config.n_actions, config.horizon, config.discount, seed=derive(seed, "mdp"))
    best = torch.zeros(1, config.n_states, config.n_actions, dtype=torch.float64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([best], max_iter=500, line_search_fn="strong_wolfe")

    def objective() -> Tensor:
        lbfgs.zero_grad()
        loss = -mdp.exact_return(best).sum()
        loss.backward()
        return loss

    lbfgs.step(objective)
    j_star = float(mdp.exact_return(best.detach()))
    policy = SoftmaxPolicy(1, config.n_states, config.n_actions)
    j0 = float(mdp.exact_return(policy.theta.detach()))
    g = torch.Generator().manual_seed(derive(seed, "igt"))
    closure = policy_gradient_closure(
        [policy.theta],
        lambda: mdp.sample(policy.theta.detach(), g),
        lambda t: policy.log_prob(t.inputs, t.actions),
        mdp.discount,
    )
    optimizer = NPGIGT([policy.theta], config.igt_gamma0, batched=True)
    for _ in range(config.igt_iterations):
        optimizer.step(closure)
    return (float(mdp.exact_return(policy.theta.detach())) - j0) / (j_star - j0)


def run_smoke(config: Any, seed: int) -> Result:
    """Estimator unbiasedness on the tabular MDP and N-PG-IGT's ascent there."""
    metrics = {f"estimators/{k}": v for k, v in tabular_check(config, seed).items()}
    metrics["npg_igt/tabular_gap_closed"] = tabular_ascent(config, seed)
    return Result(metrics=metrics)


def batch_seeds(config: Any, seed: int) -> tuple[int, ...]:
    """The rows run together: the config's ``seeds`` when ``seed`` is one of them, else ``seed`` alone."""
    return tuple(config.seeds) if seed in config.seeds else (seed,)


def run_full(config: Any, seed: int) -> Result:
    """LQR gap and CartPole return of every arm for ``seed`` (computed with its batch of seeds)."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    if config.lqr is not None:
        seeds = batch_seeds(config, seed)
        row = seeds.index(seed)
        curves = lqr_curves(config.lqr, seeds)
        series["lqr/checkpoints"] = list(map(float, curves["checkpoints"]))
        for arm in config.lqr.arms:
            gaps = curves[arm][row]
            metrics[f"{arm}/lqr_gap"] = float(gaps[-1])
            metrics[f"{arm}/lqr_gap_ratio"] = float(gaps[-1] / gaps[0])
            series[f"{arm}/lqr_gap"] = gaps.tolist()
        metrics["lqr/j_star"] = curves["j_star"]
    if config.cartpole is not None:
        seeds = batch_seeds(config, seed)
        row = seeds.index(seed)
        runs = cartpole_runs(config.cartpole, seeds)
        metrics["random/cartpole_return"] = float(runs["random"][row])
        tail = max(1, config.cartpole.episodes // 10)
        for arm in config.cartpole.arms:
            returns = runs[arm][row]
            metrics[f"{arm}/cartpole_return"] = float(returns[-tail:].mean())
            bins = returns[: len(returns) // 30 * 30].reshape(30, -1).mean(1)
            series[f"{arm}/cartpole_return"] = bins.tolist()
    return Result(metrics=metrics, series=series)
