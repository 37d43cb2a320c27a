"""The paper's baselines, PPO and DQN, in tf.keras (our own minimal code: no maintained TF RL library)."""

from paperzoo.ramario.baselines.dqn import DQNConfig, dqn_targets, train_dqn
from paperzoo.ramario.baselines.ppo import PPOConfig, gae, ppo_clip_loss, train_ppo

__all__ = ["DQNConfig", "PPOConfig", "dqn_targets", "gae", "ppo_clip_loss", "train_dqn", "train_ppo"]
