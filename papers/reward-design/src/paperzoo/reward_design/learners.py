"""Tabular learners and the teaching loop that trains them on a teacher's reward.

- :class:`Reinforce` (official ``agent_reinforce_tabular.py``): softmax policy pi = softmax(theta); for a batch of
  episodes with return-to-go G-hat_t of the learner's reward,
  theta[s_t, a_t] += eta G-hat_t / n;  theta[s_t, :] -= eta G-hat_t pi(.|s_t) / n  (n = steps in the batch).
- :class:`QLearning` (official ``q_learning_step.py``): epsilon-greedy around ``argmax Q`` (the first maximiser,
  as ``np.argmax``: no random tie-breaking), Q(s,a) += alpha (r + gamma max_a' Q(s',a') - Q(s,a)) (Q at the sink
  stays 0); evaluated through its greedy policy ``argmax Q``, as the official code.
- :func:`teach` (official ``teaching_*.end_to_end_training``): each episode is rolled out on the teacher's reward
  and kept in a buffer of the last 10; every 5 episodes the teacher updates on the buffer, every 2 the REINFORCE
  learner on the last 5 (Q-learning learns every step); every ``eval_every`` episodes the learner's current
  policy is evaluated *exactly* on the true reward (expected discounted return over the horizon).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from paperzoo.reward_design.mdp import TabularMDP
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

BUFFER, RECENT, TEACHER_EVERY, LEARNER_EVERY = 10, 5, 5, 2  # official teaching_args


class Reinforce:
    """Tabular softmax REINFORCE with the official batch-averaged update (no baseline, no gamma^t factor)."""

    def __init__(self, n_states: int, n_actions: int, gamma: float, eta: float = 0.1) -> None:
        check_positive("eta", eta)
        check_range("gamma", gamma, 0.0, 1.0, high_inclusive=False)
        self.gamma, self.eta = gamma, eta
        self.theta = np.zeros((n_states, n_actions))
        self.policy = np.full((n_states, n_actions), 1.0 / n_actions)

    def update(self, episodes: Sequence[Sequence[tuple]]) -> None:
        """One step from ``episodes`` of ``(s, a, r_hat, ...)`` tuples (G-hat: discounted return-to-go of r_hat)."""
        s = np.array([st[0] for ep in episodes for st in ep], dtype=np.int64)
        a = np.array([st[1] for ep in episodes for st in ep], dtype=np.int64)
        G = np.concatenate([_returns_to_go([st[2] for st in ep], self.gamma) for ep in episodes])
        grad = np.zeros_like(self.theta)
        np.add.at(grad, (s, a), G)
        np.add.at(grad, s, -G[:, None] * self.policy[s])
        self.theta += self.eta * grad / len(s)
        z = np.exp(self.theta - self.theta.max(axis=1, keepdims=True))
        self.policy = z / z.sum(axis=1, keepdims=True)


class QLearning:
    """Tabular epsilon-greedy Q-learning, Q initialised to 0 (EXPRD's rooms runs: epsilon 0.1, alpha 0.5)."""

    def __init__(self, n_states: int, n_actions: int, gamma: float, alpha: float = 0.5, epsilon: float = 0.1) -> None:
        check_range("alpha", alpha, 0.0, 1.0, low_inclusive=False)
        check_range("epsilon", epsilon, 0.0, 1.0)
        check_range("gamma", gamma, 0.0, 1.0, high_inclusive=False)
        self.gamma, self.alpha, self.epsilon = gamma, alpha, epsilon
        self.Q = np.zeros((n_states, n_actions))

    @property
    def policy(self) -> np.ndarray:
        """The greedy policy ``argmax Q`` (first maximiser), as a deterministic (S,) array: what is evaluated."""
        return self.Q.argmax(axis=1)

    def learn(self, s: int, a: int, r: float, s_next: int) -> None:
        target = r + self.gamma * self.Q[s_next].max()  # the sink's Q is never updated: it stays 0
        self.Q[s, a] += self.alpha * (target - self.Q[s, a])


def _returns_to_go(rewards: Sequence[float], gamma: float) -> np.ndarray:
    G, acc = np.empty(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        acc = rewards[t] + gamma * acc
        G[t] = acc
    return G


def _cumulative(mdp: TabularMDP) -> list[list[tuple[list[int], list[float]]]]:
    """Per (s, a): the reachable next states and their cumulative probabilities (for bisect sampling)."""
    table = []
    for s in range(mdp.n_states):
        row = []
        for a in range(mdp.n_actions):
            nxt = np.flatnonzero(mdp.P[s, a] > 0)
            cum = np.cumsum(mdp.P[s, a, nxt])
            cum[-1] = np.inf  # rounding never leaves a gap at the top
            row.append((nxt.tolist(), cum.tolist()))
        table.append(row)
    return table


def teach(
    mdp: TabularMDP,
    learner: Reinforce | QLearning,
    teacher,
    episodes: int,
    eval_every: int,
    rng: np.random.Generator,
    on_episode: Callable[[int, Reinforce | QLearning], None] | None = None,
) -> np.ndarray:
    """Train ``learner`` on ``teacher``'s reward for ``episodes`` episodes; the exact true-reward return of its
    policy before episode 0, eval_every, 2 eval_every, ... (``episodes // eval_every + 1`` points).

    ``on_episode(i, learner)`` runs before episode i (the adaptive teacher re-designs there). A learning teacher
    (ExploRS, SORS) reads pi(.|s) from the episodes: pair it with :class:`Reinforce` (Q-learning's steps carry
    ``None`` there)."""
    check_positive_int("episodes", episodes)
    check_positive_int("eval_every", eval_every)
    table = _cumulative(mdp)
    init_cum = np.cumsum(mdp.init).tolist()
    R, A, H, sink = mdp.R, mdp.n_actions, mdp.horizon, mdp.sink
    q_learning = isinstance(learner, QLearning)
    buffer: deque = deque(maxlen=BUFFER)
    curve = []
    for i in range(episodes):
        if i % eval_every == 0:
            curve.append(mdp.episode_return(learner.policy))
        if on_episode is not None:
            on_episode(i, learner)
        u = rng.random((H + 1, 3)).tolist()
        s = min(bisect_right(init_cum, u[H][0]), mdp.n_states - 1)
        policy = learner.policy if not q_learning else None
        policy_cum = None if q_learning else np.cumsum(policy, axis=1).tolist()
        episode = []
        for t in range(H):
            if q_learning:
                q = learner.Q[s]
                # epsilon-greedy: epsilon / A on every action, 1 - epsilon more on the first maximiser
                a = min(int(u[t][1] * A), A - 1) if u[t][0] < learner.epsilon else int(q.argmax())
                pi_s = None
            else:
                pi_s = policy[s]
                a = min(bisect_right(policy_cum[s], u[t][1]), A - 1)
            nxt, cum = table[s][a]
            s_next = nxt[bisect_right(cum, u[t][2])]
            r_bar = float(R[s, a])
            r_hat = teacher.reward(s, a, r_bar, s_next)
            done = s_next == sink
            if q_learning:
                learner.learn(s, a, r_hat, s_next)
            episode.append((s, a, r_hat, r_bar, pi_s))
            s = s_next
            if done:
                break
        buffer.append(episode)
        if (i + 1) % TEACHER_EVERY == 0:
            teacher.update([[(st[0], st[1], st[3], st[4]) for st in ep] for ep in buffer])
        if not q_learning and (i + 1) % LEARNER_EVERY == 0:
            learner.update(list(buffer)[-RECENT:])
    curve.append(mdp.episode_return(learner.policy))
    return np.array(curve)
