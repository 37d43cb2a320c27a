"""Few-shot evaluation on a held-out level: distance (max ``x_pos``) before and after k adaptation updates."""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium
import numpy as np

from paperzoo.ramario.policy_gradient import PolicyGradientInner
from paperzoo.ramario.rollout import Forward, run_episode
from paperzoo.shared.validate import check_positive_int


@dataclass
class Evaluation:
    """Mean over ``n`` episodes of the max x position and of the episode reward, and the steps they took."""

    max_x: float
    reward: float
    steps: int
    per_episode_max_x: list[int] = field(default_factory=list)


def evaluate(
    env: gymnasium.Env, forward: Forward, n_episodes: int, rng: np.random.Generator, *, epsilon: float = 0.0
) -> Evaluation:
    """Play ``n_episodes`` with the policy (sampled from the softmax, or epsilon-greedy on Q if ``epsilon``)."""
    check_positive_int("n_episodes", n_episodes)
    episodes = [run_episode(env, forward, rng, greedy=epsilon > 0, epsilon=epsilon) for _ in range(n_episodes)]
    return Evaluation(
        float(np.mean([e.max_x for e in episodes])),
        float(np.mean([e.total_reward for e in episodes])),
        sum(e.length for e in episodes),
        [e.max_x for e in episodes],
    )


@dataclass
class Adaptation:
    """Few-shot result: evaluation at 0 and after k updates, and the k adaptation episodes' distances."""

    before: Evaluation
    after: Evaluation
    adapt_max_x: list[int]
    adapt_steps: int


def adapt_and_evaluate(
    inner: PolicyGradientInner, env: gymnasium.Env, n_eval: int, rng: np.random.Generator
) -> Adaptation:
    """From the model's current weights: evaluate, run the inner loop (k updates) on ``env``, evaluate again."""
    before = evaluate(env, inner.forward, n_eval, rng)
    episodes = inner(env, rng)
    after = evaluate(env, inner.forward, n_eval, rng)
    return Adaptation(before, after, [e.max_x for e in episodes], sum(e.length for e in episodes))
