"""Reference agents for the protocols: the package's scripted expert policies, and the uniform random policy.

The scripted experts (``metaworld.policies``) are hand-written controllers that read object and goal positions
from the 39-dim observation; they are the benchmark's sanity check (success close to 1 on most tasks) and the
random policy is its floor. Both ignore a one-hot task id appended to the observation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from metaworld.policies import ENV_POLICY_MAP
from paperzoo.metaworld.envs import OBS_DIM, _check_task_names, make_mt_envs
from paperzoo.metaworld.protocol import Timestep, evaluate_mt

__all__ = ["RandomAgent", "ScriptedAgent", "random_policy_success"]


class ScriptedAgent:
    """The package's scripted expert of each sub-env's task (``ENV_POLICY_MAP[name]``), one per sub-env.

    Args:
        task_names: the task of every sub-env, in sub-env order (:func:`paperzoo.metaworld.task_names`).
    """

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        if not self.task_names:
            raise ValueError("task_names must name at least one task, got an empty list")
        _check_task_names(list(dict.fromkeys(self.task_names)))
        self.policies = [ENV_POLICY_MAP[name]() for name in self.task_names]

    def eval_action(self, observations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The expert's action a_i = π_task(i)(o_i[:39]) of every sub-env (the one-hot id is dropped)."""
        obs = np.asarray(observations, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[0] != len(self.policies) or obs.shape[1] < OBS_DIM:
            raise ValueError(f"observations must have shape ({len(self.policies)}, >= {OBS_DIM}), got {obs.shape}")
        return np.stack([p.get_action(o[:OBS_DIM]) for p, o in zip(self.policies, obs, strict=True)]).astype(np.float64)

    def reset(self, env_mask: npt.NDArray[np.bool_]) -> None:
        """The experts are memoryless."""


class RandomAgent:
    """Actions uniform on [-1, 1]^4, from its own seeded generator (the benchmark's floor).

    It implements both agent protocols (adaptation leaves it unchanged), so the meta-test protocol can run it too.
    """

    def __init__(self, num_envs: int, seed: int = 0, action_dim: int = 4) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs, self.action_dim = num_envs, action_dim
        self.rng = np.random.default_rng(seed)

    def eval_action(self, observations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """a ~ U([-1, 1]^4) for every sub-env."""
        return self.rng.uniform(-1.0, 1.0, size=(self.num_envs, self.action_dim))

    def reset(self, env_mask: npt.NDArray[np.bool_]) -> None:
        """Memoryless."""

    def init(self) -> None:
        """Nothing to reset."""

    def adapt_action(self, observations: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], dict]:
        """The same uniform actions as :meth:`eval_action`."""
        return self.eval_action(observations), {}

    def step(self, timestep: Timestep) -> None:
        """Nothing to record."""

    def adapt(self) -> None:
        """Nothing to adapt."""


def random_policy_success(task_names: Sequence[str], seed: int, num_episodes: int = 50) -> dict[str, float]:
    """How often the uniform random policy solves each task: the MT protocol's success rate per task,

        success(task) = (1/N) Σ_{e=1..N} 1[episode e reached info["success"] at some step]   (N = ``num_episodes``)

    on the MT envs of ``task_names`` seeded as :func:`~paperzoo.metaworld.make_mt_envs` seeds them (task i: seed + i),
    with the random policy's generator seeded with ``seed``. Used to choose tasks that chance does not solve.
    """
    envs = make_mt_envs(task_names, seed)
    result = evaluate_mt(RandomAgent(envs.num_envs, seed=seed), envs, num_episodes, seed=seed)
    envs.close()
    return result.success_per_task
