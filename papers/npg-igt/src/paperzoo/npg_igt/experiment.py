"""The scale runners of npg-igt: each method on the LQR and CartPole-v1, rows = seeds (vectorised).

Every arm spends the same number of sampled trajectories; N-PG-IGT, N-PG and PG(1) use one per iteration,
(N-)HARPG two (one at t = 0), PG(10) ten. The seeds of a config's ``seeds`` run together as rows of one batch,
computed once and cached, so that ``run(config, seed)`` for each of them costs one batched run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.optim import SGD, Optimizer

from paperzoo.npg_igt.envs import LQR, TabularMDP, Trajectories, sample_cartpole
from paperzoo.npg_igt.estimators import gpomdp, hessian_vector
from paperzoo.npg_igt.optim import HARPG, NHARPG, NPGIGT
from paperzoo.npg_igt.policies import LinearGaussianPolicy, SoftmaxPolicy
from paperzoo.npg_igt.sampler import policy_gradient_closure
from paperzoo.shared import Result
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive_int

LQR_ARMS = ("npg_igt", "nharpg", "harpg", "npg", "pg1", "pg10")
CARTPOLE_ARMS = ("npg_igt", "nharpg", "npg", "pg1")
HESSIAN_ARMS = ("nharpg", "harpg")
NORMALISED_ARMS = ("npg_igt", "nharpg", "npg")


def best_value(grid: Sequence[float], losses: Sequence[float]) -> float:
    """The grid value of least loss (a non-finite loss counts as +inf; the first of equal losses)."""
    finite = [loss if math.isfinite(loss) else math.inf for loss in losses]
    return grid[finite.index(min(finite))]


def grid(lowest: float, points: int = 10, factor: float = 2.0) -> tuple[float, ...]:
    """A step-size grid lowest * factor**k, k < points (6 significant digits, so the values print exactly)."""
    if not lowest > 0:
        raise ValueError(f"lowest must be > 0, got {lowest}")
    check_positive_int("points", points)
    return tuple(float(f"{lowest * factor**k:.6g}") for k in range(points))


def make_optimizer(arm: str, blocks: list[Tensor], values: Sequence[float], steps: Any, seed: int) -> Optimizer:
    """The arm's optimizer over ``blocks`` (one param group each, with the step size of ``values`` at the same
    index: gamma0 for the normalised arms, lr for the others); ``steps``: the config's other settings."""
    key = "gamma0" if arm in NORMALISED_ARMS else "lr"
    groups = [{"params": [b], key: v} for b, v in zip(blocks, values, strict=True)]
    if arm == "npg_igt":
        return NPGIGT(groups, values[0], indexing=steps.indexing, batched=True)
    if arm == "npg":  # normalised PG: IGT with eta_t = 1 (no transport, no averaging)
        return NPGIGT(groups, values[0], eta0=1.0, eta_power=0.0, batched=True)
    if arm == "nharpg":
        return NHARPG(groups, values[0], batched=True, seed=derive(seed, "q"))
    if arm == "harpg":
        return HARPG(groups, values[0], steps.eta_harpg, batched=True, seed=derive(seed, "q"))
    if arm in ("pg1", "pg10"):
        return SGD(groups, lr=values[0], maximize=True)
    raise ValueError(f"arm must be one of {LQR_ARMS}, got {arm!r}")


def trajectories_per_iteration(arm: str) -> int:
    """Sampled trajectories per iteration: two for (N-)HARPG (one at t = 0), ten for PG(10), else one."""
    return 2 if arm in HESSIAN_ARMS else 10 if arm == "pg10" else 1


def train(
    arm: str, optimizer: Optimizer, closure: Callable, budget: int, checkpoints: np.ndarray, evaluate: Callable
) -> Tensor:
    """Iterate until ``budget`` trajectories are spent; ``evaluate()`` at each checkpoint: [rows, n_checkpoints]."""
    used, k, values = 0, 0, []
    first = True
    while k < len(checkpoints):
        n = 1 if (first and arm in HESSIAN_ARMS) else trajectories_per_iteration(arm)
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


def blocks_of_zeros(values: Sequence[float], seeds: Sequence[int], shape: tuple[int, ...]) -> list[Tensor]:
    """One zero-initialised parameter block [len(seeds), *shape] per step size (rows: value-major, then seed)."""
    return [torch.zeros(len(seeds), *shape, dtype=torch.float64, requires_grad=True) for _ in values]


# ------------------------------------------------------------------------------------------------ LQR
@functools.lru_cache(maxsize=4)
def lqr_problem(config: Any) -> tuple[LQR, float]:
    """The LQR instance and J* (best stationary gain at the config's sigma)."""
    env = LQR(config.state_dim, config.action_dim, config.horizon, config.discount, seed=config.instance_seed)
    return env, env.optimal_return(config.sigma)


def lqr_arm(config: Any, arm: str, values: Sequence[float], seeds: Sequence[int]) -> Tensor:
    """J* - J(theta) at the log-spaced checkpoints of ``arm`` run with each step size of ``values`` and each
    seed, all as rows of one batch: [len(values), len(seeds), checkpoints]. Rows of one seed share its
    trajectory stream (common random numbers across step sizes)."""
    env, j_star = lqr_problem(config)
    rows, batch = len(values) * len(seeds), 10 if arm == "pg10" else 1
    policy = LinearGaussianPolicy(rows, config.state_dim, config.action_dim, config.sigma)
    sigma = policy.sigma().detach()
    blocks = blocks_of_zeros(values, seeds, (config.action_dim, config.state_dim))
    gens = [torch.Generator().manual_seed(derive(s, "lqr", "trajectories")) for _ in values for s in seeds]
    optimizer = make_optimizer(arm, blocks, values, config.steps, seeds[0])

    def sample() -> Trajectories:
        gain = torch.cat(blocks).detach().repeat_interleave(batch, 0)
        return env.sample(gain, sigma.repeat_interleave(batch, 0), gens)

    def log_prob(traj: Trajectories) -> Tensor:
        states = traj.inputs.reshape(rows, -1, config.state_dim)
        actions = traj.actions.reshape(rows, -1, config.action_dim)
        return policy.log_prob(states, actions, torch.cat(blocks)).reshape(rows * batch, -1) / batch

    closure = policy_gradient_closure(blocks, sample, log_prob, config.discount)

    def gap() -> Tensor:
        with torch.no_grad():
            return j_star - env.exact_return(torch.cat(blocks), sigma)

    checkpoints = log_checkpoints(config.trajectories, config.checkpoints)
    curves = train(arm, optimizer, closure, config.trajectories, checkpoints, gap)
    return curves.reshape(len(values), len(seeds), -1)


@functools.lru_cache(maxsize=2)
def lqr_curves(config: Any, seeds: tuple[int, ...]) -> dict[str, Any]:
    """J* - J(theta) at log-spaced trajectory counts for every arm at its chosen step size, rows = seeds."""
    curves: dict[str, Any] = {"j_star": lqr_problem(config)[1]}
    curves["checkpoints"] = log_checkpoints(config.trajectories, config.checkpoints).tolist()
    for arm in progress(config.arms, desc="lqr arms"):
        curves[arm] = lqr_arm(config, arm, (getattr(config.steps, arm).value,), seeds)[0]
    return curves


# ------------------------------------------------------------------------------------------------ CartPole
def cartpole_arm(config: Any, arm: str, values: Sequence[float], seeds: Sequence[int]) -> Tensor:
    """Episode returns of ``arm`` with each step size of ``values`` and each seed, rows of one batch:
    [len(values), len(seeds), episodes] (common random numbers across step sizes, as for the LQR)."""
    rows = len(values) * len(seeds)
    policy = SoftmaxPolicy(rows, 5, 2)
    blocks = blocks_of_zeros(values, seeds, (5, 2))
    rngs = [np.random.default_rng(derive(s, "cartpole", "episodes")) for _ in values for s in seeds]
    optimizer = make_optimizer(arm, blocks, values, config.steps, seeds[0])
    returns: list[Tensor] = []
    closure = policy_gradient_closure(
        blocks,
        lambda: sample_cartpole(torch.cat(blocks).detach().numpy(), rngs),
        lambda traj: policy.log_prob(traj.inputs, traj.actions, torch.cat(blocks)),
        config.discount,
        log=returns,
    )
    checkpoints = np.arange(1, config.episodes + 1)
    train(arm, optimizer, closure, config.episodes, checkpoints, lambda: torch.zeros(rows))
    return torch.stack(returns, 1).reshape(len(values), len(seeds), -1)


@functools.lru_cache(maxsize=2)
def cartpole_runs(config: Any, seeds: tuple[int, ...]) -> dict[str, Any]:
    """Episode returns of every arm at its chosen step size and of the uniform random policy, rows = seeds."""
    rows = len(seeds)
    rngs = [np.random.default_rng(derive(s, "cartpole", "random")) for s in seeds]
    uniform = sample_cartpole(np.zeros((rows * config.random_episodes, 5, 2)), rngs)
    out: dict[str, Any] = {"random": uniform.rewards.sum(-1).reshape(rows, -1).mean(1)}
    for arm in progress(config.arms, desc="cartpole arms"):
        out[arm] = cartpole_arm(config, arm, (getattr(config.steps, arm).value,), seeds)[0]
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
            metrics[f"{arm}/lqr_tuned_interior"] = float(getattr(config.lqr.steps, arm).interior)
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
            metrics[f"{arm}/cartpole_tuned_interior"] = float(getattr(config.cartpole.steps, arm).interior)
            bins = returns[: len(returns) // 30 * 30].reshape(30, -1).mean(1)
            series[f"{arm}/cartpole_return"] = bins.tolist()
    return Result(metrics=metrics, series=series)
