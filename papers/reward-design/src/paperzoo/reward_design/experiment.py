"""The scale runners of reward-design: ``run_smoke`` and ``run_full`` (``(config, seed) -> Result``).

The full run is the thesis' three experiments, each arm sharing the seed's learner random stream
(``derive(seed, experiment)``: the same uniforms drive every arm's episodes, so arms are paired):

1. four-room Q-learning (EXPRD's setting): Orig (R-bar), PBRS (potential V*), EXPRD with B = 1, 3, 5 (greedy
   S_active);
2. four-room REINFORCE (the AAMAS setting): Orig, the invariance-only design, EXPRD (every state active, as the
   AAMAS code) and the adaptive design (re-solved every K episodes with the learner's current policy);
3. chain with a distractor, REINFORCE: Orig, ExploB, SelfRS, ExploRS.

Metrics per arm: ``auc`` (mean over the evaluation points of the exact true-reward return / pi*'s return: the
normalised area under the return curve) and ``final`` (the last point); curves go to the series.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from paperzoo.reward_design.design import AdaptiveDesigner, ExprdProblem, exprd, invariance, pbrs
from paperzoo.reward_design.envs import chain, rooms
from paperzoo.reward_design.learners import QLearning, Reinforce, teach
from paperzoo.reward_design.mdp import TabularMDP, action_gaps
from paperzoo.reward_design.shaping import ExploRS, FixedReward, shaping_teacher
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive

CHAIN_ARMS = ("orig", "explob", "selfrs", "explors")


def _rooms(config: Any, experiment: str) -> TabularMDP:
    """The four rooms of an experiment: EXPRD's (``q_``: slip 0.1, 50 steps) or AAMAS's (``pg_``: slip 0.05, 30)."""
    slip, horizon = getattr(config, f"{experiment}_slip"), getattr(config, f"{experiment}_horizon")
    return _rooms_mdp(config.rooms_size, config.rooms_gamma, slip, horizon, config.R_max)


@lru_cache(maxsize=4)
def _rooms_mdp(size: int, gamma: float, slip: float, horizon: int, R_max: float) -> TabularMDP:
    return rooms(size, gamma, slip, horizon, R_max)


def _chain(config: Any) -> TabularMDP:
    c = config
    return chain(c.chain_n1, c.chain_n2, c.chain_subgoal, gamma=c.chain_gamma, slip=c.chain_slip)


@lru_cache(maxsize=8)
def _exprd(mdp: TabularMDP, R_max: float, B: int, H_set: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """EXPRD's design is deterministic: solved once per process, MDP and budget."""
    R, ir, _ = exprd(mdp, R_max, B, goal=_goal(mdp), H_set=H_set)
    return R, ir


def _goal(mdp: TabularMDP) -> int:
    return int(np.flatnonzero(mdp.R.max(axis=1) == mdp.R.max())[0])


def _optimal_return(mdp: TabularMDP) -> float:
    pi, _, _ = action_gaps(mdp)
    return mdp.episode_return(pi)


def _record(metrics: dict, series: dict, arm: str, curve: np.ndarray, optimum: float) -> None:
    normalised = curve / optimum
    metrics[f"{arm}/auc"] = float(normalised.mean())
    metrics[f"{arm}/final"] = float(normalised[-1])
    series[f"{arm}/return"] = normalised.tolist()


def _rooms_q(config: Any, seed: int, metrics: dict, series: dict) -> None:
    mdp = _rooms(config, "q")
    rewards = {"q_orig": mdp.R, "q_pbrs": pbrs(mdp)}
    for B in config.B_values:
        R, ir = _exprd(mdp, config.R_max, B, config.H_set)
        rewards[f"q_exprd_b{B}"] = R
        metrics[f"q_exprd_b{B}/informativeness"] = ir
        metrics[f"q_exprd_b{B}/nonzero_states"] = float(np.count_nonzero(np.abs(R).sum(axis=1)))
    optimum = _optimal_return(mdp)
    for arm, R in rewards.items():
        rng = np.random.default_rng(derive(seed, "rooms_q"))
        learner = QLearning(mdp.n_states, mdp.n_actions, mdp.gamma, config.q_alpha, config.q_epsilon)
        curve = teach(mdp, learner, FixedReward(R), config.q_episodes, config.eval_every, rng)
        _record(metrics, series, arm, curve, optimum)


def _rooms_pg(config: Any, seed: int, metrics: dict, series: dict) -> None:
    mdp = _rooms(config, "pg")
    optimum = _optimal_return(mdp)
    designer = AdaptiveDesigner(mdp, config.R_max, config.teacher_epsilon)
    adaptive = FixedReward(np.zeros_like(mdp.R))
    changes: list[float] = []

    def redesign(i: int, learner: Reinforce) -> None:
        if i % config.K == 0:
            R = designer.design(learner.policy)
            changes.append(float(np.abs(R - adaptive.R).mean()) if i else 0.0)
            adaptive.R = R

    arms = {
        "pg_orig": (FixedReward(mdp.R), None),
        "pg_invariance": (FixedReward(invariance(mdp, config.R_max)), None),
        # the AAMAS code's EXPRD teacher: every state active (s_active = all states)
        "pg_exprd": (FixedReward(ExprdProblem(mdp, config.R_max, config.H_set).solve(range(mdp.n_states))[0]), None),
        "pg_adaptive": (adaptive, redesign),
    }
    for arm, (teacher, hook) in arms.items():
        rng = np.random.default_rng(derive(seed, "rooms_pg"))
        learner = Reinforce(mdp.n_states, mdp.n_actions, mdp.gamma, config.pg_eta)
        curve = teach(mdp, learner, teacher, config.pg_episodes, config.eval_every, rng, on_episode=hook)
        _record(metrics, series, arm, curve, optimum)
    # the adaptive design acted: the mean |R_new - R_old| over re-designs after the first
    metrics["pg_adaptive/reward_change"] = float(np.mean(changes[1:])) if len(changes) > 1 else 0.0


def _chain_pg(config: Any, seed: int, metrics: dict, series: dict) -> None:
    mdp = _chain(config)
    optimum = _optimal_return(mdp)
    for name in CHAIN_ARMS:
        rng = np.random.default_rng(derive(seed, "chain"))
        teacher = shaping_teacher(name, mdp.n_states, mdp.n_actions, mdp.gamma, mdp.sink)
        learner = Reinforce(mdp.n_states, mdp.n_actions, mdp.gamma, config.chain_eta)
        curve = teach(mdp, learner, teacher, config.chain_episodes, config.eval_every, rng)
        _record(metrics, series, f"chain_{name}", curve, optimum)
        metrics[f"chain_{name}/phi_abs_mean"] = float(np.abs(teacher.phi).mean())


def run_full(config: Any, seed: int) -> Result:
    """The three experiments (each toggled by the config's ``experiments``)."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for name, runner in (("rooms_q", _rooms_q), ("rooms_pg", _rooms_pg), ("chain", _chain_pg)):
        if name in config.experiments:
            runner(config, seed, metrics, series)
    return Result(metrics=metrics, series=series)


def run_smoke(config: Any, seed: int) -> Result:
    """EXPRD (B = 1) on a short chain keeps pi* optimal and is zero outside S_active; ExploRS runs, phi moves, the
    bonus stays <= B; Q-learning on the EXPRD reward for a few episodes."""
    mdp = chain(config.chain_n1, config.chain_n2, gamma=config.chain_gamma)
    goal = _goal(mdp)
    R, ir, active = exprd(mdp, config.R_max, config.B, goal=goal)
    _pi_star, optimal, _ = action_gaps(mdp)
    Q_design, _ = mdp.value_iteration(R)
    kept = optimal[np.arange(mdp.n_states), Q_design.argmax(axis=1)]
    outside = np.setdiff1d(np.arange(mdp.n_states), active)
    metrics = {
        "exprd/pi_star_kept": float(kept.all()),
        "exprd/zero_outside_active": float(np.all(R[outside] == 0.0)),
        "exprd/max_abs_reward": float(np.abs(R).max()),
        "exprd/informativeness": ir,
    }
    rng = np.random.default_rng(derive(seed, "smoke"))
    teacher = ExploRS(mdp.n_states, mdp.n_actions, mdp.gamma, sink=mdp.sink)
    bonuses: list[float] = []
    base_reward = teacher.reward

    def reward(s: int, a: int, r_bar: float, s_next: int) -> float:
        bonuses.append(teacher.bonus(s_next))
        return base_reward(s, a, r_bar, s_next)

    teacher.reward = reward  # record every bonus the learner saw
    learner = Reinforce(mdp.n_states, mdp.n_actions, mdp.gamma, config.chain_eta)
    curve = teach(mdp, learner, teacher, config.episodes, config.episodes // 4, rng)
    optimum = _optimal_return(mdp)
    metrics |= {
        "explors/phi_abs_mean": float(np.abs(teacher.phi).mean()),
        "explors/max_bonus": float(max(bonuses)),
        "explors/final": float(curve[-1] / optimum),
    }
    return Result(metrics=metrics, series={"explors/return": (curve / optimum).tolist()})
