"""IWOCS: "Solving robust MDPs as a sequence of static RL problems" (Zouitine, Geist, Rachelson, arXiv 2410.06212).

Tabular: :class:`WindyWalk`, :func:`value_iteration`, :func:`policy_evaluation`, :class:`SARectangularSet`
(closed-form inner min, exact ``worst_case``), :func:`robust_value_iteration`, :class:`ParametricSet` (grid or
CMA-ES search) and :func:`iwocs`. Deep: :class:`ParametricPendulum` (gymnasium wrapper, (m, l) per episode),
:class:`BatchedPendulum` (numpy VectorEnv), :class:`ParametricMujoco` (MuJoCo masses / friction per episode,
M2TD3's uncertainty sets in ``M2TD3_SETS``), :func:`train_iwocs` (SB3 TD3 per static problem) and
:func:`pessimistic_actions`.
"""

from paperzoo.iwocs.deep import DeepConfig, DeepIWOCS, TD3Config, pessimistic_actions, train_iwocs, train_td3
from paperzoo.iwocs.iwocs import IWOCSResult, greedy, iwocs, robust_q, should_stop
from paperzoo.iwocs.pendulum import BatchedPendulum, ParametricPendulum, grid_returns
from paperzoo.iwocs.robust_mujoco import M2TD3_SETS, ParametricMujoco, m2td3_set, mujoco_returns
from paperzoo.iwocs.tabular import (
    ParametricSet,
    SARectangularSet,
    WindyWalk,
    policy_evaluation,
    robust_value_iteration,
    value_iteration,
)

__all__ = [
    "M2TD3_SETS",
    "BatchedPendulum",
    "DeepConfig",
    "DeepIWOCS",
    "IWOCSResult",
    "ParametricMujoco",
    "ParametricPendulum",
    "ParametricSet",
    "SARectangularSet",
    "TD3Config",
    "WindyWalk",
    "greedy",
    "grid_returns",
    "iwocs",
    "m2td3_set",
    "mujoco_returns",
    "pessimistic_actions",
    "policy_evaluation",
    "robust_q",
    "robust_value_iteration",
    "should_stop",
    "train_iwocs",
    "train_td3",
    "value_iteration",
]
