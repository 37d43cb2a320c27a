"""The adaptive budgeted gradient attack on a (smoothed) DQN agent over whole episodes.

Threat model (Kumar et al. 2022, Sec. 3): at step t the adversary adds eps_t to the observation o_t, knowing every
past observation, state, action and the agent's past (noisy) inputs, under a total budget over the episode,
sqrt(sum_t ||eps_t||^2) <= B. The agent's noise at step t is drawn after eps_t is chosen.

Attack (the original attack script, reused by ReCePS): the adversary estimates the smoothed Q-values of the agent's
next input, the agent's past ``frames - 1`` inputs followed by o_t + eps + eta, by averaging the base network over
``samples`` draws of eta (one draw per step, kept through the step's iterations; sigma = 0: the base network),
Qbar(eps). With a* = argmax_a Qbar(0)_a, every action k with Qbar(0)_{a*} - Qbar(0)_k >= lambda (the threshold: spend
budget only where the agent's choice matters, lambda = 0: at every step) is a target; for each, normalised gradient
steps of ``step_size`` down the cross-entropy of softmax(Qbar(eps)) against k,

    eps <- Proj_{||eps|| <= r_t}(eps - step_size g / ||g||),   g = grad_eps CE(Qbar(eps), k),

for int(step_count_multiplier * r_t / step_size) steps or until argmax Qbar(eps) = k, with
r_t = sqrt(B^2 - sum_{s<t} ||eps_s||^2) the budget left. Of the targets reached, the one with the lowest Qbar(0)_k is
played; if none is reached, eps_t = 0 and no budget is spent. The experiment takes the worst return over a grid of
thresholds.

Targeted variant (ours, see the README's deviations): with a forced action k the only target is k, at every step
where a* != k (and the threshold holds): one action forced for the whole episode topples CartPole's pole. The
experiment's grid holds both, and the reported attacked reward is the worst over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.policy_smoothing.policy import SmoothedPolicy, network_input, vector_env
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int

__all__ = ["AttackConfig", "attack_episodes", "perturb"]


@dataclass(frozen=True)
class AttackConfig:
    """The attack's settings (official: step 0.01, int(2 r_t / 0.01) steps, 128 noise samples for smoothed agents).
    ``thresholds`` (lambda >= 0, the Q-gap a target must have) and ``targets`` (``None``: every action the threshold
    admits, official; else the forced action) span the grid the worst return is taken over."""

    step_size: float = 0.01
    step_count_multiplier: float = 2.0
    samples: int = 128
    thresholds: tuple[float, ...] = (0.0,)
    targets: tuple[int | None, ...] = (None,)

    def __post_init__(self) -> None:
        check_positive("step_size", self.step_size)
        check_positive("step_count_multiplier", self.step_count_multiplier)
        check_positive_int("samples", self.samples)
        if not self.thresholds:
            raise ValueError("thresholds must not be empty")
        for value in self.thresholds:
            check_non_negative("thresholds", value)
        if not self.targets or any(t is not None and (not isinstance(t, int) or t < 0) for t in self.targets):
            raise ValueError(f"targets must be None or action indices >= 0, got {self.targets}")


def perturb(
    q_net: nn.Module,
    past: np.ndarray | None,
    obs: np.ndarray,
    frames: int,
    remaining: np.ndarray,
    sigma: float,
    threshold: float,
    config: AttackConfig,
    rng: np.random.Generator,
    target: int | None = None,
) -> np.ndarray:
    """The perturbations eps_t (n, *obs_shape) of the clean observations ``obs`` (n, *obs_shape).

    ``past`` (n, frames - 1, *obs_shape): the agent's previous inputs (noisy, attacked), or ``None`` after a reset
    (the agent's stack is its first input repeated, so eps_t moves every frame). ``remaining`` (n,): the budget left
    r_t; every row has norm <= r_t, and is 0 where no target was reached (or r_t = 0). ``target``: the action to
    force (``None``: every action ``threshold`` admits).
    """
    n, shape = len(obs), tuple(np.shape(obs)[1:])
    samples = config.samples if sigma > 0 else 1
    out = np.zeros((n, *shape))
    live = np.flatnonzero(remaining > 0)
    if live.size == 0:
        return out
    clean = torch.as_tensor(obs[live], dtype=torch.float32)
    noise = torch.as_tensor(rng.standard_normal((live.size, samples, *shape)) * sigma, dtype=torch.float32)
    before = None if past is None else torch.as_tensor(past[live], dtype=torch.float32)

    def smoothed_q(rows: np.ndarray, eps: torch.Tensor) -> torch.Tensor:
        """Qbar(eps) of the ``rows`` of ``live``: the base Q-values averaged over the step's noise draws."""
        newest = (clean[rows, None] + eps[:, None] + noise[rows])[:, :, None]  # (k, samples, 1, *shape)
        if before is None:
            x = newest.expand(-1, -1, frames, *shape)
        else:
            x = torch.cat([before[rows, None].expand(-1, samples, *before.shape[1:]), newest], dim=2)
        q = q_net(network_input(x.reshape(len(rows) * samples, frames, *shape)))
        return q.reshape(len(rows), samples, -1).mean(dim=1)

    with torch.no_grad():
        q0 = smoothed_q(np.arange(live.size), torch.zeros(live.size, *shape))
    chosen = q0.argmax(dim=1)
    actions = torch.arange(q0.shape[1])
    gap = q0.gather(1, chosen[:, None]) - q0  # Qbar(0)_{a*} - Qbar(0)_k
    admitted = ((gap >= threshold) & (actions[None] != chosen[:, None])).numpy()
    if target is not None:
        admitted &= (actions == target).numpy()[None]
    radius = torch.as_tensor(remaining[live], dtype=torch.float32)
    counts = (config.step_count_multiplier * remaining[live] / config.step_size).astype(int)
    best = np.full(live.size, np.inf)
    for k in np.flatnonzero(admitted.any(axis=0)):
        rows = np.flatnonzero(admitted[:, k])
        eps = torch.zeros(rows.size, *shape)
        running, reached = np.ones(rows.size, dtype=bool), np.zeros(rows.size, dtype=bool)
        for i in range(counts[rows].max()):
            act = np.flatnonzero(running & (counts[rows] > i))
            if act.size == 0:
                break
            e = eps[act].clone().requires_grad_(True)
            q = smoothed_q(rows[act], e)
            hit = (q.argmax(dim=1) == k).numpy()
            loss = F.cross_entropy(q, torch.full((act.size,), int(k)), reduction="sum")
            (grad,) = torch.autograd.grad(loss, e)
            with torch.no_grad():
                norm = grad.reshape(act.size, -1).norm(dim=1).clamp_min(1e-12)
                moved = e - config.step_size * grad / norm.reshape(-1, *[1] * len(shape))
                scale = (radius[rows[act]] / moved.reshape(act.size, -1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
                eps[act[~hit]] = (moved * scale.reshape(-1, *[1] * len(shape)))[~hit]
            reached[act[hit]], running[act[hit]] = True, False
        better = reached & (q0[rows, k].numpy() < best[rows])
        out[live[rows[better]]] = eps[better].numpy()
        best[rows[better]] = q0[rows[better], k].numpy()
    return out


def attack_episodes(
    q_net: nn.Module,
    sigma: float,
    budgets: np.ndarray,
    threshold: float,
    config: AttackConfig,
    seed: int,
    frames: int = 5,
    env_id: str = "CartPole-v0",
    target: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Play one attacked episode per entry of ``budgets`` (the total l2 budget B of each); returns (returns, spent).

    ``spent`` is sqrt(sum_t ||eps_t||^2) of each episode; ``spent <= B`` is asserted at every step. The agent is
    :class:`SmoothedPolicy` (noise sigma; 0: undefended); initial states, the agent's noise and the adversary's
    noise samples come from ``seed`` through ``derive``.
    """
    budgets = np.asarray(budgets, dtype=np.float64)
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError(f"budgets must be a non-empty 1-D array, got shape {budgets.shape}")
    for value in budgets:
        check_non_negative("B", float(value))
    check_non_negative("threshold", threshold)
    n = budgets.size
    env = vector_env(env_id, n)
    agent = SmoothedPolicy(q_net, sigma, frames, seed=derive(seed, "agent noise"))
    rng = np.random.default_rng(derive(seed, "adversary noise"))
    obs, _ = env.reset(seed=derive(seed, "initial states"))
    spent_sq = np.zeros(n)
    returns, alive = np.zeros(n), np.ones(n, dtype=bool)
    while alive.any():
        remaining = np.sqrt(np.maximum(budgets**2 - spent_sq, 0.0)) * alive
        past = None if agent.stack is None else agent.stack[:, 1:]
        eps = perturb(q_net, past, obs, frames, remaining, sigma, threshold, config, rng, target)
        spent_sq += (eps**2).reshape(n, -1).sum(axis=1)
        assert np.all(spent_sq <= budgets**2 * (1 + 1e-6) + 1e-10), "the attack overspent its total l2 budget"
        actions = agent.reset(obs, eps) if agent.stack is None else agent.step(obs, eps)
        obs, reward, terminated, truncated, _ = env.step(actions)
        returns += reward * alive
        alive &= ~(terminated | truncated)
    env.close()
    return returns, np.sqrt(spent_sq)
