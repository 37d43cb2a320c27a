"""Environments: an exact tabular MDP, a discounted LQR with exact J, and a batched CartPole-v1.

Samplers roll out one trajectory per row (a loop over time: the dynamics are sequential); the estimators that
consume the trajectories are vectorised over time (:mod:`paperzoo.npg_igt.estimators`). Randomness comes from
one ``torch.Generator`` for all rows, or one per row (``list``) so that each row (seed) has its own stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from paperzoo.npg_igt.estimators import check_discount
from paperzoo.shared.validate import check_positive_int

Generators = torch.Generator | list[torch.Generator]


def draw(generators: Generators, rows: int, shape: tuple[int, ...], normal: bool = False) -> Tensor:
    """[rows, *shape] float64 uniforms (or normals) from one generator, or consecutive equal blocks of rows from
    each of ``generators`` (one block per seed)."""
    fn = torch.randn if normal else torch.rand
    if isinstance(generators, torch.Generator):
        return fn((rows, *shape), generator=generators, dtype=torch.float64)
    if rows % len(generators):
        raise ValueError(f"rows ({rows}) must be a multiple of the number of generators ({len(generators)})")
    k = rows // len(generators)
    return torch.cat([fn((k, *shape), generator=g, dtype=torch.float64) for g in generators])


@dataclass
class Trajectories:
    """One trajectory per row: inputs the policy reads [R, H, ...], actions [R, H], rewards [R, H], alive [R, H]."""

    inputs: Tensor
    actions: Tensor
    rewards: Tensor
    alive: Tensor


# ------------------------------------------------------------------------------------------------ tabular
class TabularMDP:
    """A random finite MDP: P(s'|s,a) ~ Dirichlet(1), r(s,a) ~ U[0,1], rho uniform; horizon H, discount gamma."""

    def __init__(self, n_states: int, n_actions: int, horizon: int, discount: float, seed: int) -> None:
        check_positive_int("n_states", n_states)
        check_positive_int("n_actions", n_actions)
        check_positive_int("horizon", horizon)
        self.discount = check_discount(discount)
        g = torch.Generator().manual_seed(seed)
        e = -torch.log(torch.rand(n_states, n_actions, n_states, generator=g, dtype=torch.float64))
        self.P = e / e.sum(-1, keepdim=True)
        self.R = torch.rand(n_states, n_actions, generator=g, dtype=torch.float64)
        self.rho = torch.full((n_states,), 1.0 / n_states, dtype=torch.float64)
        self.n_states, self.n_actions, self.horizon = n_states, n_actions, horizon

    def exact_return(self, theta: Tensor) -> Tensor:
        """J_H(theta) = sum_{h<H} gamma^h mu_h . r_pi for a tabular softmax theta [R, S, A]; differentiable."""
        pi = torch.softmax(theta, -1)
        p_pi = torch.einsum("rsa,sat->rst", pi, self.P)
        r_pi = (pi * self.R).sum(-1)
        mu = self.rho.expand(theta.shape[0], -1)
        total = torch.zeros(theta.shape[0], dtype=torch.float64)
        for h in range(self.horizon):
            total = total + self.discount**h * (mu * r_pi).sum(-1)
            mu = torch.einsum("rs,rst->rt", mu, p_pi)
        return total

    @torch.no_grad()
    def sample(self, theta: Tensor, generators: Generators) -> Trajectories:
        """One trajectory per row of the tabular softmax theta [R, S, A]; inputs are one-hot states."""
        rows, horizon = theta.shape[0], self.horizon
        u = draw(generators, rows, (horizon + 1, 2))
        pi = torch.softmax(theta, -1)
        idx = torch.arange(rows)
        s = (self.rho.cumsum(0)[None] < u[:, 0, :1]).sum(-1).clamp_max(self.n_states - 1)
        states, actions = [], []
        for h in range(horizon):
            a = (pi[idx, s].cumsum(-1) < u[:, h, 1:]).sum(-1).clamp_max(self.n_actions - 1)
            states.append(s)
            actions.append(a)
            s = (self.P[s, a].cumsum(-1) < u[:, h + 1, :1]).sum(-1).clamp_max(self.n_states - 1)
        s_t, a_t = torch.stack(states, 1), torch.stack(actions, 1)
        inputs = torch.nn.functional.one_hot(s_t, self.n_states).double()
        return Trajectories(inputs, a_t, self.R[s_t, a_t], torch.ones(rows, horizon, dtype=torch.bool))


# ------------------------------------------------------------------------------------------------ LQR
class LQR:
    """s' = A s + B a + w, a ~ N(K s, sigma^2 I), reward -(s^T Q s + a^T R a), s_0 ~ N(0, I), w ~ N(0, noise^2 I).

    The instance (A with spectral radius ``radius``, B) is drawn from ``seed``; Q = I, R = ``action_cost`` I.
    """

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        horizon: int,
        discount: float,
        seed: int,
        radius: float = 1.0,
        action_cost: float = 0.1,
        noise: float = 0.1,
    ) -> None:
        check_positive_int("state_dim", state_dim)
        check_positive_int("action_dim", action_dim)
        check_positive_int("horizon", horizon)
        self.discount = check_discount(discount)
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(state_dim, state_dim, generator=g, dtype=torch.float64)
        self.A = radius * a / torch.linalg.eigvals(a).abs().max()
        self.B = torch.randn(state_dim, action_dim, generator=g, dtype=torch.float64) / state_dim**0.5
        self.Q = torch.eye(state_dim, dtype=torch.float64)
        self.R = action_cost * torch.eye(action_dim, dtype=torch.float64)
        self.noise, self.horizon = noise, horizon
        self.state_dim, self.action_dim = state_dim, action_dim

    def exact_return(self, gain: Tensor, sigma: Tensor) -> Tensor:
        """J(K, sigma) by the finite-horizon Lyapunov recursion Sigma_{h+1} = M Sigma_h M^T + sigma^2 B B^T + W.

        E[r_h] = -tr((Q + K^T R K) Sigma_h) - tr(R diag(sigma^2)); gain [R, da, ds], sigma [R, da].
        """
        rows = gain.shape[0]
        m = self.A + torch.einsum("ia,rad->rid", self.B, gain)
        cost = self.Q + torch.einsum("rai,ab,rbj->rij", gain, self.R, gain)
        action_noise = torch.einsum("ia,ra,ja->rij", self.B, sigma**2, self.B)
        w = self.noise**2 * torch.eye(self.state_dim, dtype=torch.float64)
        cov = torch.eye(self.state_dim, dtype=torch.float64).expand(rows, -1, -1)
        per_step_noise_cost = (torch.diagonal(self.R) * sigma**2).sum(-1)
        total = torch.zeros(rows, dtype=torch.float64)
        for h in range(self.horizon):
            total = total - self.discount**h * (torch.einsum("rij,rji->r", cost, cov) + per_step_noise_cost)
            cov = m @ cov @ m.transpose(1, 2) + action_noise + w
        return total

    def optimal_return(self, sigma: float, iterations: int = 200) -> float:
        """J* over stationary gains K (fixed sigma): L-BFGS on the exact J from K = 0."""
        gain = torch.zeros(1, self.action_dim, self.state_dim, dtype=torch.float64, requires_grad=True)
        sig = torch.full((1, self.action_dim), sigma, dtype=torch.float64)
        opt = torch.optim.LBFGS(
            [gain], max_iter=iterations, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            opt.zero_grad()
            loss = -self.exact_return(gain, sig).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return float(self.exact_return(gain.detach(), sig))

    @torch.no_grad()
    def sample(self, gain: Tensor, sigma: Tensor, generators: Generators) -> Trajectories:
        """One trajectory per row; inputs are the states [R, H, ds], actions [R, H, da].

        s_{h+1} = M s_h + x_{h+1} with M = A + B K and x_{h+1} = B eps_h + w_h is solved without a loop over time
        steps: a parallel prefix scan (Hillis-Steele) over x_0 = s_0, x_1, ..., x_{H-1} doubles the lag each round,
        x_h <- x_h + M^lag x_{h-lag}, so after ceil(log2 H) rounds x_h = sum_{j<=h} M^{h-j} x_j = s_h."""
        rows, horizon, ds, da = gain.shape[0], self.horizon, self.state_dim, self.action_dim
        z = draw(generators, rows, (ds + horizon * (ds + da),), normal=True)
        eps = z[:, ds : ds + horizon * da].reshape(rows, horizon, da) * sigma[:, None, :]
        w = z[:, ds + horizon * da :].reshape(rows, horizon, ds) * self.noise
        states = torch.cat([z[:, None, :ds], (eps @ self.B.T + w)[:, :-1]], 1)
        power, lag = self.A + self.B @ gain, 1  # M^lag, one per row
        while lag < horizon:
            states = torch.cat([states[:, :lag], states[:, lag:] + states[:, :-lag] @ power.transpose(1, 2)], 1)
            power, lag = power @ power, 2 * lag
        actions = torch.einsum("rad,rhd->rha", gain, states) + eps
        reward = -(states.square().sum(-1) + torch.einsum("rha,ab,rhb->rh", actions, self.R, actions))
        return Trajectories(states, actions, reward, torch.ones(rows, horizon, dtype=torch.bool))


# ------------------------------------------------------------------------------------------------ CartPole
GRAVITY, MASS_CART, MASS_POLE, HALF_LENGTH, FORCE, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
THETA_LIMIT, X_LIMIT, CARTPOLE_STEPS = 12 * 2 * np.pi / 360, 2.4, 500


def cartpole_step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gymnasium CartPole-v1's Euler step for a batch of float64 states [R, 4]; returns (state, terminated)."""
    x, x_dot, theta, theta_dot = state.T
    total_mass, pml = MASS_POLE + MASS_CART, MASS_POLE * HALF_LENGTH
    force = np.where(action == 1, FORCE, -FORCE)
    cos, sin = np.cos(theta), np.sin(theta)
    temp = (force + pml * np.square(theta_dot) * sin) / total_mass
    theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * np.square(cos) / total_mass))
    x_acc = temp - pml * theta_acc * cos / total_mass
    new = np.stack((x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc), axis=1)
    done = (new[:, 0] < -X_LIMIT) | (new[:, 0] > X_LIMIT) | (new[:, 2] < -THETA_LIMIT) | (new[:, 2] > THETA_LIMIT)
    return new, done


def cartpole_features(obs: np.ndarray) -> np.ndarray:
    """phi(s) = [s (float32 observation), 1]."""
    return np.concatenate([obs.astype(np.float32).astype(np.float64), np.ones((*obs.shape[:-1], 1))], -1)


def sample_cartpole(
    theta: np.ndarray, rngs: list[np.random.Generator], max_steps: int = CARTPOLE_STEPS
) -> Trajectories:
    """One CartPole-v1 episode per row under the linear softmax policy theta [R, 5, 2].

    Rows step in lockstep until all end; consecutive equal blocks of rows draw from each of ``rngs`` (a fixed
    number of draws per episode, so a row's stream does not depend on how long the other rows live); rewards
    are 1 per step up to and including the terminal one, 0 after; episodes are truncated at 500 steps."""
    rows = theta.shape[0]
    if rows % len(rngs):
        raise ValueError(f"rows ({rows}) must be a multiple of the number of generators ({len(rngs)})")
    k = rows // len(rngs)
    state = np.concatenate([rng.uniform(-0.05, 0.05, size=(k, 4)) for rng in rngs])
    uniforms = np.concatenate([rng.random((k, max_steps)) for rng in rngs])  # a fixed draw per episode and row
    alive = np.ones(rows, dtype=bool)
    feats, acts, alives = [], [], []
    for step in range(max_steps):
        phi = cartpole_features(state)
        logits = np.einsum("rfa,rf->ra", theta, phi)
        p1 = np.exp(-np.logaddexp(0.0, logits[:, 0] - logits[:, 1]))  # sigmoid, no overflow
        action = (uniforms[:, step] < p1).astype(np.int64)
        feats.append(phi)
        acts.append(action)
        alives.append(alive.copy())
        state, done = cartpole_step(state, action)
        alive &= ~done
        if not alive.any():
            break
    alive_t = torch.from_numpy(np.stack(alives, 1))
    return Trajectories(
        torch.from_numpy(np.stack(feats, 1)), torch.from_numpy(np.stack(acts, 1)), alive_t.double(), alive_t
    )
