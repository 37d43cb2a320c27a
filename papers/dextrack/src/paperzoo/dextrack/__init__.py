"""DexTrack: Towards Generalizable Neural Tracking Control for Dexterous Manipulation from Human References
(Liu et al., ICLR 2025), on a MuJoCo fly gripper.

The public API: the tracking env (:class:`HandTrackingEnv`, Gymnasium) and its batched SB3 ``VecEnv``
(:class:`HandTrackingVecEnv`), the official tracking reward (:func:`tracking_reward`), the reference generator, the
RL+IL PPO (:class:`RLILPPO`, L = L_PPO + λ_IL‖μ(o) − a*‖²), specialists, the data flywheel and homotopy optimisation.
"""

from paperzoo.dextrack.flywheel import (
    ChainResult,
    Demo,
    Flywheel,
    FlywheelConfig,
    PPOConfig,
    Specialist,
    evaluate,
    homotopy_candidates,
    homotopy_chain,
    nearest_references,
    rollout,
)
from paperzoo.dextrack.hand_env import HandTrackingEnv, HandTrackingVecEnv, RewardConfig, quat_distance, tracking_reward
from paperzoo.dextrack.refs import Reference, ReferenceGenerator, RefParams, build_reference
from paperzoo.dextrack.rlil import RLILPPO, bc_loss, train_bc

__all__ = [
    "RLILPPO",
    "ChainResult",
    "Demo",
    "Flywheel",
    "FlywheelConfig",
    "HandTrackingEnv",
    "HandTrackingVecEnv",
    "PPOConfig",
    "RefParams",
    "Reference",
    "ReferenceGenerator",
    "RewardConfig",
    "Specialist",
    "bc_loss",
    "build_reference",
    "evaluate",
    "homotopy_candidates",
    "homotopy_chain",
    "nearest_references",
    "quat_distance",
    "rollout",
    "tracking_reward",
    "train_bc",
]
