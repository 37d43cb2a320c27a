"""Agent-driven reward shaping: ExploRS (NeurIPS 2022) and its baselines ExploB, SelfRS, Orig, and SORS.

Every *teacher* here turns a step into the reward the learner sees, ``reward(s, a, r_bar, s_next)``, and may learn
from a batch of episodes, ``update(episodes)``; an episode is a sequence of ``(s, a, r_bar, pi(.|s))`` tuples.

ExploRS (official ``code_tabular/env_generic_with_teacher.py``) feeds the learner

    r_hat = R-bar(s, a) + phi(s, a) + R_explore(s'),   R_explore(s') = lambda / sqrt((lambda / B)^2 + N(s'))

(``N`` counts visits of the state the agent acts in, incremented every step; 0 at the sink). After a batch D,
with G-bar_t the discounted return-to-go of R-bar alone and the critic V:

    g[s_t, a_t] += pi(a_t|s_t) (G-bar_t - V(s_t));   g[s_t, :] -= pi(.|s_t) pi(a_t|s_t) (G-bar_t - V(s_t))
    phi += eta_phi g;        V(s) += eta_c (sum over visits of (G-bar - V(s))) / (number of visits in D)

(the official code divides the critic step by the number of all steps in D, not per state: so here too).
ExploB is ExploRS with ``eta_phi = 0``; SelfRS is ExploRS with ``lambda = 0``; Orig has both 0 (bit for bit the
true reward). SORS learns phi from pairwise return preferences (Bradley-Terry on discounted phi-returns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range

Episode = Sequence[tuple[int, int, float, np.ndarray]]


def _unpack(episodes: Sequence[Episode], gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """States, actions, pi(.|s) rows and the discounted return-to-go of r_bar of all steps of ``episodes``."""
    s, a, pi, g = [], [], [], []
    for episode in episodes:
        r = np.array([step[2] for step in episode], dtype=np.float64)
        G = np.empty_like(r)
        acc = 0.0
        for t in range(len(r) - 1, -1, -1):  # G_t = r_t + gamma G_{t+1}
            acc = r[t] + gamma * acc
            G[t] = acc
        s += [step[0] for step in episode]
        a += [step[1] for step in episode]
        pi += [step[3] for step in episode]
        g.append(G)
    return np.array(s, dtype=np.int64), np.array(a, dtype=np.int64), np.array(pi), np.concatenate(g)


class ExploRS:
    """ExploRS's reward: R-bar + the self-supervised phi(s, a) + the count bonus R_explore(s').

    Defaults are the official ``parameters.py``: lambda = B = 1 (``ExploB_lmbd``, ``ExploB_max``), eta_phi =
    eta_c = 0.01, no clipping for REINFORCE. ``sink``: the absorbing state, where the bonus is 0.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        gamma: float,
        lam: float = 1.0,
        B: float = 1.0,
        eta_phi: float = 0.01,
        eta_c: float = 0.01,
        sink: int | None = None,
    ) -> None:
        check_positive_int("n_states", n_states)
        check_positive_int("n_actions", n_actions)
        check_range("gamma", gamma, 0.0, 1.0, high_inclusive=False)
        check_non_negative("lam", lam)
        check_positive("B", B)
        check_non_negative("eta_phi", eta_phi)
        check_non_negative("eta_c", eta_c)
        self.gamma, self.lam, self.B, self.eta_phi, self.eta_c, self.sink = gamma, lam, B, eta_phi, eta_c, sink
        self.phi = np.zeros((n_states, n_actions))
        self.V = np.zeros(n_states)
        self.N = np.zeros(n_states)

    def bonus(self, s: int) -> float:
        """``lambda / sqrt((lambda / B)^2 + N(s))``: B at N = 0, falling as 1/sqrt(N); 0 at the sink or lambda = 0."""
        if self.lam == 0.0 or s == self.sink:
            return 0.0
        return self.lam / np.sqrt((self.lam / self.B) ** 2 + self.N[s])

    def reward(self, s: int, a: int, r_bar: float, s_next: int) -> float:
        """The learner's reward of step (s, a, s'); counts the visit of s (the official order: bonus, then count)."""
        r_hat = r_bar + self.phi[s, a] + self.bonus(s_next)
        self.N[s] += 1.0
        return r_hat

    def update(self, episodes: Sequence[Episode]) -> None:
        """One SelfRS step on phi and one critic step on V from the batch ``episodes`` (see the module docstring)."""
        s, a, pi, G = _unpack(episodes, self.gamma)
        adv = G - self.V[s]
        weight = pi[np.arange(len(s)), a] * adv  # pi(a_t|s_t)(G_t - V(s_t))
        g = np.zeros_like(self.phi)
        np.add.at(g, (s, a), weight)
        np.add.at(g, s, -pi * weight[:, None])
        self.phi += self.eta_phi * g
        critic = np.zeros_like(self.V)
        np.add.at(critic, s, adv)
        self.V += self.eta_c * critic / len(s)


class SORS:
    """SORS (with R-bar): r_hat = R-bar + phi(s, a), phi fit to the pairwise order of the episodes' R-bar returns.

    Per update: all ordered pairs (i, j) with G-bar_i > G-bar_j in the batch, ``n_pairs`` of them drawn uniformly
    with replacement (official ``sors_n_pairs`` = 10); with psi_i the discounted (s, a) visitation of episode i
    and x_i = psi_i . phi, gradient ascent on log sigma(x_i - x_j): phi += eta (1 - sigma(x_i - x_j))(psi_i - psi_j)
    averaged over the pairs.
    """

    def __init__(
        self, n_states: int, n_actions: int, gamma: float, eta_phi: float = 0.01, n_pairs: int = 10, seed: int = 0
    ) -> None:
        check_range("gamma", gamma, 0.0, 1.0, high_inclusive=False)
        check_non_negative("eta_phi", eta_phi)
        check_positive_int("n_pairs", n_pairs)
        self.gamma, self.eta_phi, self.n_pairs = gamma, eta_phi, n_pairs
        self.phi = np.zeros((n_states, n_actions))
        self.rng = np.random.default_rng(seed)

    def reward(self, s: int, a: int, r_bar: float, s_next: int) -> float:
        return r_bar + self.phi[s, a]

    def update(self, episodes: Sequence[Episode]) -> None:
        psi = np.zeros((len(episodes), *self.phi.shape))
        returns = np.empty(len(episodes))
        for i, episode in enumerate(episodes):
            disc = self.gamma ** np.arange(len(episode))
            np.add.at(psi[i], ([st[0] for st in episode], [st[1] for st in episode]), disc)
            returns[i] = disc @ np.array([st[2] for st in episode])
        pairs = np.argwhere(returns[:, None] > returns[None, :])
        if len(pairs) == 0:
            return
        if len(pairs) > self.n_pairs:
            pairs = pairs[self.rng.integers(len(pairs), size=self.n_pairs)]
        x = (psi * self.phi).sum(axis=(1, 2))
        diff = x[pairs[:, 0]] - x[pairs[:, 1]]
        coef = 1.0 - 1.0 / (1.0 + np.exp(-diff))  # 1 - sigma(x_i - x_j)
        grad = (coef[:, None, None] * (psi[pairs[:, 0]] - psi[pairs[:, 1]])).mean(axis=0)
        self.phi += self.eta_phi * grad


class FixedReward:
    """A designed reward that replaces R-bar: r_hat = R(s, a) (EXPRD, PBRS, invariance); ``R`` may be swapped."""

    def __init__(self, R: np.ndarray) -> None:
        self.R = np.asarray(R, dtype=np.float64)

    def reward(self, s: int, a: int, r_bar: float, s_next: int) -> float:
        return float(self.R[s, a])

    def update(self, episodes: Sequence[Episode]) -> None:
        """A fixed design does not learn."""


def shaping_teacher(name: str, n_states: int, n_actions: int, gamma: float, sink: int | None) -> ExploRS:
    """Orig, ExploB, SelfRS or ExploRS as configurations of :class:`ExploRS` (official defaults)."""
    settings = {"orig": (0.0, 0.0), "explob": (1.0, 0.0), "selfrs": (0.0, 0.01), "explors": (1.0, 0.01)}
    if name not in settings:
        raise ValueError(f"name must be one of {sorted(settings)}, got {name!r}")
    lam, eta_phi = settings[name]
    return ExploRS(n_states, n_actions, gamma, lam=lam, eta_phi=eta_phi, sink=sink)
