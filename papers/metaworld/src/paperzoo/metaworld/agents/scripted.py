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
from paperzoo.metaworld.envs import OBS_DIM, _check_task_names

__all__ = ["RandomAgent", "ScriptedAgent"]


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
    """Actions uniform on [-1, 1]^4, from its own seeded generator (the benchmark's floor)."""

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
