"""Meta-World: A Benchmark and Evaluation for Multi-Task and Meta Reinforcement Learning.

Tianhe Yu, Deirdre Quillen, Zhanpeng He, Ryan Julian, Karol Hausman, Chelsea Finn, Sergey Levine. CoRL 2019
(arXiv:1910.10897). The benchmark itself is the ``metaworld`` package (v3 tasks, MuJoCo); this package holds its
evaluation protocols and baselines:

- :mod:`~paperzoo.metaworld.envs`: seeded MT1 / MT-k (one-hot task id) / ML1 / held-out-task split constructors.
- :mod:`~paperzoo.metaworld.protocol`: :func:`evaluate_mt` and :func:`evaluate_meta`, the success-rate protocols
  (identical to ``metaworld.evaluation``), the agent protocols and the JSON result records.
- :mod:`~paperzoo.metaworld.agents`: scripted experts and random (``random_policy_success``), SAC / MT-SAC with
  one temperature per task (Stable-Baselines3), first-order MAML with VPG.

Import note: this package is ``paperzoo.metaworld``; ``import metaworld`` is always the benchmark package.
"""

from paperzoo.metaworld.agents import (
    MTSAC,
    MAMLConfig,
    MAMLVPGAgent,
    RandomAgent,
    SACConfig,
    SB3Agent,
    ScriptedAgent,
    make_sac,
    random_policy_success,
    train_maml,
    train_sac,
)
from paperzoo.metaworld.envs import (
    TASK_NAMES,
    make_ml1_envs,
    make_ml_envs,
    make_mt_env_fns,
    make_mt_envs,
    task_names,
    task_variations,
)
from paperzoo.metaworld.protocol import (
    Agent,
    MetaLearningAgent,
    MetaResult,
    MTResult,
    Timestep,
    evaluate_meta,
    evaluate_mt,
)

__all__ = [
    "MTSAC",
    "TASK_NAMES",
    "Agent",
    "MAMLConfig",
    "MAMLVPGAgent",
    "MTResult",
    "MetaLearningAgent",
    "MetaResult",
    "RandomAgent",
    "SACConfig",
    "SB3Agent",
    "ScriptedAgent",
    "Timestep",
    "evaluate_meta",
    "evaluate_mt",
    "make_ml1_envs",
    "make_ml_envs",
    "make_mt_env_fns",
    "make_mt_envs",
    "make_sac",
    "random_policy_success",
    "task_names",
    "task_variations",
    "train_maml",
    "train_sac",
]
