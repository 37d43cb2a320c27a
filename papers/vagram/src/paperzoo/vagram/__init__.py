"""VaGraM: Value Gradient weighted Model-Based Reinforcement Learning (Voelcker, Liao, Garg, Farahmand; ICLR 2022).

The model of model-based RL is fitted with each state dimension's squared error weighted by the squared gradient
of the agent's value function at the real next state: L = mean Σ_j (∂V/∂s_j(s'))² (ŝ'_j - s'_j)² + (r̂ - r)².

- :func:`vagram_loss`, :func:`mse_loss`, :func:`clip_value_gradients`, :class:`NormScale`: the losses;
  :class:`ValueWeights` (+ ``mse_loss(..., weights=)``): VaGraM as a weighted MSE on per-round precomputed gradients;
- :func:`value_grad`, :func:`sac_values`, :func:`state_gradients`, :class:`GradientCache`: the value gradients of a
  stable-baselines3 SAC and their per-round cache;
- :class:`ModelEnsemble`, :func:`small_model`, :func:`train_model`: the dynamics ensemble and its training round;
- :class:`DistractorWrapper`: distracting observation dimensions (a Gymnasium ``ObservationWrapper``);
- :func:`run_mbpo`, :class:`MBPOConfig`, :class:`PerNetworkSAC`, :class:`MixedReplayBuffer`: MBPO driving SB3's SAC
  on model data (mixed with real data under the official ``model_data_likelihood`` schedule).
"""

from paperzoo.vagram.envs import DistractorWrapper, make_env
from paperzoo.vagram.losses import NormScale, ValueWeights, batch_quantile, clip_value_gradients, mse_loss, vagram_loss
from paperzoo.vagram.mbpo import MBPOConfig, MixedReplayBuffer, PerNetworkSAC, SACConfig, make_sac, run_mbpo
from paperzoo.vagram.models import ModelEnsemble, ModelTrainConfig, small_model, train_model
from paperzoo.vagram.values import GradientCache, sac_values, state_gradients, value_grad

__all__ = [
    "DistractorWrapper",
    "GradientCache",
    "MBPOConfig",
    "MixedReplayBuffer",
    "ModelEnsemble",
    "ModelTrainConfig",
    "NormScale",
    "PerNetworkSAC",
    "SACConfig",
    "ValueWeights",
    "batch_quantile",
    "clip_value_gradients",
    "make_env",
    "make_sac",
    "mse_loss",
    "run_mbpo",
    "sac_values",
    "small_model",
    "state_gradients",
    "train_model",
    "vagram_loss",
    "value_grad",
]
