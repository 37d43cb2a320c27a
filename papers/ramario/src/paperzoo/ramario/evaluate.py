"""Few-shot evaluation on a held-out task: distance before and after k adaptation updates.

A task is a sequence of environments (a level's mini-levels, or the whole level as one environment). An
evaluation plays ``rounds`` rounds of one episode on every environment of the task (in lockstep) and averages
over the ``rounds * len(task)`` episodes: the progress ``max x - start x``, the max ``x_pos`` and the return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium
import numpy as np

from paperzoo.ramario.policy_gradient import PolicyGradientInner
from paperzoo.ramario.rollout import Forward, run_episodes
from paperzoo.shared.validate import check_positive_int


@dataclass
class Evaluation:
    """Means over the episodes of the progress (max x - start x), the max x position and the return."""

    progress: float
    max_x: float
    reward: float
    steps: int
    per_episode_progress: list[int] = field(default_factory=list)


def evaluate(
    envs: Sequence[gymnasium.Env],
    forward: Forward,
    rounds: int,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.0,
) -> Evaluation:
    """``rounds`` episodes on each environment (actions sampled from the softmax, or epsilon-greedy on Q if
    ``epsilon``)."""
    check_positive_int("rounds", rounds)
    episodes = [e for _ in range(rounds) for e in run_episodes(envs, forward, rng, greedy=epsilon > 0, epsilon=epsilon)]
    return Evaluation(
        float(np.mean([e.progress for e in episodes])),
        float(np.mean([e.max_x for e in episodes])),
        float(np.mean([e.total_reward for e in episodes])),
        sum(e.length for e in episodes),
        [e.progress for e in episodes],
    )


@dataclass
class Adaptation:
    """Few-shot result: evaluation at 0 and after k updates, the adaptation episodes' progress and steps."""

    before: Evaluation
    after: Evaluation
    adapt_progress: list[int]
    adapt_steps: int


def adapt_and_evaluate(
    inner: PolicyGradientInner, task: Sequence[gymnasium.Env], rounds: int, rng: np.random.Generator
) -> Adaptation:
    """From the model's current weights: evaluate on ``task``, run the inner loop (k updates) on it, evaluate
    again."""
    before = evaluate(task, inner.forward, rounds, rng)
    episodes = inner(task, rng)
    after = evaluate(task, inner.forward, rounds, rng)
    return Adaptation(before, after, [e.progress for e in episodes], sum(e.length for e in episodes))
