"""Reward Design for Reinforcement Learning Agents (R. Devidze, PhD thesis, Saarland University / MPI-SWS), its
three methods on tabular MDPs:

- EXPRD, "Explicable Reward Design for Reinforcement Learning Agents" (Devidze, Radanovic, Kamalaruban, Singla,
  NeurIPS 2021): :func:`exprd`, :class:`ExprdProblem`;
- the adaptive learner-aware design of "Informativeness of Reward Functions in Reinforcement Learning" (Devidze,
  Kamalaruban, Singla, AAMAS 2024): :class:`AdaptiveDesigner`, with the invariance-only baseline :func:`invariance`;
- ExploRS, "Exploration-Guided Reward Shaping for Reinforcement Learning under Sparse Rewards" (Devidze,
  Kamalaruban, Singla, NeurIPS 2022): :class:`ExploRS` (ExploB, SelfRS, Orig as its settings), :class:`SORS`;

with potential-based shaping (:func:`pbrs`), the tabular MDP (:class:`TabularMDP`), the chain and four-room
environments, and tabular REINFORCE / Q-learning learners trained by :func:`teach`.
"""

from paperzoo.reward_design.design import AdaptiveDesigner, ExprdProblem, exprd, invariance, pbrs
from paperzoo.reward_design.envs import chain, rooms
from paperzoo.reward_design.learners import QLearning, Reinforce, teach
from paperzoo.reward_design.mdp import TabularMDP, action_gaps
from paperzoo.reward_design.shaping import SORS, ExploRS, FixedReward, shaping_teacher

__all__ = [
    "SORS",
    "AdaptiveDesigner",
    "ExploRS",
    "ExprdProblem",
    "FixedReward",
    "QLearning",
    "Reinforce",
    "TabularMDP",
    "action_gaps",
    "chain",
    "exprd",
    "invariance",
    "pbrs",
    "rooms",
    "shaping_teacher",
    "teach",
]
