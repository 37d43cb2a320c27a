"""Meta-World's success-rate protocols (Yu et al., CoRL 2019, Sec. 5; metaworld 3.1.1 ``metaworld.evaluation``).

Multi-task (MT1/MT10/MT50), :func:`evaluate_mt`. One sub-env per task, terminate-on-success switched on, episodes
of at most 500 steps; every sub-env keeps running episodes (auto-reset to a new random train variation) until each
task has ``N`` finished episodes. With terminate-on-success an episode's final ``info["success"]`` is 1 iff the
success predicate held at some step, so each episode counts at most once:

    success(task)  = (1/N) · Σ_{e=1..N} 1[episode e of task ended in success]      (the first N episodes per task)
    mean_success   = (1/|tasks|) · Σ_task success(task)                              (tasks weighted equally)
    mean_return    = mean over tasks and their first N episodes of the undiscounted episodic return

Meta-learning (ML1/ML10/ML45 meta-test), :func:`evaluate_meta`. Task sampling on reset and terminate-on-success
off; repeat ``num_evals`` times: draw a new test variation per sub-env (``sample_tasks``), ``agent.init()``; for
each of ``adaptation_steps`` rounds run ``adaptation_episodes`` episodes per sub-env with ``agent.adapt_action``,
feeding every transition to ``agent.step`` and then calling ``agent.adapt()``; then the MT protocol above with
``N = evaluation_episodes`` on the same variations. Success and return are averaged over the repeats.

Both functions return the same numbers as the package's ``evaluation`` / ``metalearning_evaluation`` on the same
envs and agent (tested), including its bookkeeping: only the first ``N`` finished episodes of a task count, in
sub-env index order within a step, however many more its sub-envs finish while other tasks catch up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from paperzoo.metaworld.envs import task_names as _task_names
from paperzoo.shared.validate import check_positive_int

__all__ = [
    "SCHEMA",
    "Agent",
    "MTResult",
    "MetaLearningAgent",
    "MetaResult",
    "Timestep",
    "evaluate_meta",
    "evaluate_mt",
]

SCHEMA = "paperzoo.metaworld/success-rate/v1"


@runtime_checkable
class Agent(Protocol):
    """What the MT protocol needs: deterministic actions for a batch of observations, and episode resets."""

    def eval_action(self, observations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Actions, one row per sub-env."""
        ...

    def reset(self, env_mask: npt.NDArray[np.bool_]) -> None:
        """Forget the per-episode state of the sub-envs where ``env_mask`` is True (their episode just ended)."""
        ...


class Timestep(NamedTuple):
    """One vectorised transition of the adaptation phase (the package's ``metaworld.evaluation.Timestep``)."""

    observation: npt.NDArray
    action: npt.NDArray
    reward: npt.NDArray
    terminated: npt.NDArray
    truncated: npt.NDArray
    aux_policy_outputs: dict[str, npt.NDArray]


@runtime_checkable
class MetaLearningAgent(Agent, Protocol):
    """What the meta-test protocol needs on top of :class:`Agent`."""

    def init(self) -> None:
        """Reset to the meta-learned initialisation (before each new set of test variations)."""
        ...

    def adapt_action(self, observations: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], dict]:
        """Exploration actions during adaptation, and any policy outputs the update needs (log-probs, ...)."""
        ...

    def step(self, timestep: Timestep) -> None:
        """Record one transition of every sub-env."""
        ...

    def adapt(self) -> None:
        """Adapt to the recorded episodes (one round of ``adaptation_steps``)."""
        ...


@dataclass
class MTResult:
    """The MT protocol's numbers (JSON-ready through :meth:`to_dict`)."""

    mean_success: float
    mean_return: float
    success_per_task: dict[str, float]
    returns_per_task: dict[str, list[float]]
    num_episodes: int
    seed: int | None = None
    schema: str = field(default=SCHEMA + "/mt")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MetaResult:
    """The meta-test protocol's numbers (JSON-ready through :meth:`to_dict`)."""

    mean_success: float
    mean_return: float
    success_per_task: dict[str, float]
    num_evals: int
    adaptation_steps: int
    adaptation_episodes: int
    evaluation_episodes: int
    seed: int | None = None
    schema: str = field(default=SCHEMA + "/meta")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_envs(envs: Any) -> None:
    if not isinstance(envs, gym.vector.VectorEnv):
        raise ValueError(f"envs must be a gymnasium VectorEnv (one sub-env per task), got {type(envs).__name__}")
    mode = envs.metadata.get("autoreset_mode")
    if mode is not None and gym.vector.AutoresetMode(mode) != gym.vector.AutoresetMode.SAME_STEP:
        raise ValueError(f"envs must auto-reset in SAME_STEP mode (episode ends are read from final_info), got {mode}")


def evaluate_mt(agent: Agent, envs: gym.vector.VectorEnv, num_episodes: int = 50, seed: int | None = None) -> MTResult:
    """Success rate per task over its first ``num_episodes`` episodes, with terminate-on-success on.

    ``envs`` is an MT vector env (:func:`paperzoo.metaworld.make_mt_envs`, or the package's own); its
    terminate-on-success setting is restored afterwards. ``seed`` is only recorded in the result.
    """
    _check_envs(envs)
    check_positive_int("num_episodes", num_episodes)
    saved = bool(np.all(envs.get_attr("terminate_on_success")))
    envs.call("toggle_terminate_on_success", True)
    names = _task_names(envs)
    tasks = list(dict.fromkeys(names))  # first-appearance order
    returns: dict[str, list[float]] = {t: [] for t in tasks}
    successes = dict.fromkeys(tasks, 0)

    obs, _ = envs.reset()
    agent.reset(np.ones(envs.num_envs, dtype=np.bool_))
    while min(len(r) for r in returns.values()) < num_episodes:
        obs, _, terminated, truncated, infos = envs.step(agent.eval_action(obs))
        done = np.logical_or(terminated, truncated)
        agent.reset(done)
        if not done.any():
            continue
        final = infos["final_info"]
        for i in np.flatnonzero(done):  # sub-env order: decides which episodes are a task's first N
            episodes = returns[names[i]]
            episodes.append(float(final["episode"]["r"][i]))
            # With terminate-on-success the final flag is 1 iff the episode succeeded at some step: one count.
            if len(episodes) <= num_episodes:
                successes[names[i]] += int(final["success"][i])
    envs.call("toggle_terminate_on_success", saved)

    kept = {t: r[:num_episodes] for t, r in returns.items()}
    per_task = {t: successes[t] / num_episodes for t in tasks}
    # Means taken in the package's task order (a set's), so that the float rounding is the same to the last bit.
    order = list(set(names))
    return MTResult(
        mean_success=float(np.mean([per_task[t] for t in order])),
        mean_return=float(np.mean([kept[t] for t in order])),
        success_per_task=per_task,
        returns_per_task=kept,
        num_episodes=num_episodes,
        seed=seed,
    )


def evaluate_meta(
    agent: MetaLearningAgent,
    envs: gym.vector.VectorEnv,
    num_evals: int = 10,
    adaptation_episodes: int = 10,
    adaptation_steps: int = 1,
    evaluation_episodes: int = 3,
    seed: int | None = None,
) -> MetaResult:
    """Meta-test success rate: adapt on ``adaptation_episodes`` episodes per new test variation, then evaluate.

    ``envs`` are ML test envs (:func:`paperzoo.metaworld.make_ml1_envs` with ``split="test"``, or the package's).
    Defaults are the package's (``num_evals=10``, 10 adaptation episodes, 1 adaptation round, 3 evaluation
    episodes). The envs are left with task sampling on reset and terminate-on-success off.
    """
    _check_envs(envs)
    for name, value in (
        ("num_evals", num_evals),
        ("adaptation_episodes", adaptation_episodes),
        ("adaptation_steps", adaptation_steps),
        ("evaluation_episodes", evaluation_episodes),
    ):
        check_positive_int(name, value)
    envs.call("toggle_sample_tasks_on_reset", False)
    envs.call("toggle_terminate_on_success", False)
    tasks = list(dict.fromkeys(_task_names(envs)))
    success = np.zeros((num_evals, len(tasks)))
    total_success = total_return = 0.0
    for k in range(num_evals):
        envs.call("sample_tasks")  # a new test variation per sub-env
        agent.init()
        for _ in range(adaptation_steps):
            obs, _ = envs.reset()
            finished = np.zeros(envs.num_envs, dtype=np.int64)
            while (finished < adaptation_episodes).any():
                actions, aux = agent.adapt_action(obs)
                next_obs, rewards, terminated, truncated, _ = envs.step(actions)
                agent.step(Timestep(obs, actions, rewards, terminated, truncated, aux))
                finished += np.logical_or(terminated, truncated)
                obs = next_obs
            agent.adapt()
        result = evaluate_mt(agent, envs, evaluation_episodes)
        success[k] = [result.success_per_task[t] for t in tasks]
        total_success += result.mean_success
        total_return += result.mean_return
    return MetaResult(
        mean_success=total_success / num_evals,
        mean_return=total_return / num_evals,
        success_per_task=dict(zip(tasks, success.mean(axis=0).tolist(), strict=True)),
        num_evals=num_evals,
        adaptation_steps=adaptation_steps,
        adaptation_episodes=adaptation_episodes,
        evaluation_episodes=evaluation_episodes,
        seed=seed,
    )
