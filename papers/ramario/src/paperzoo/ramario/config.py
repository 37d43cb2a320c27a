"""The hyperparameter configs (plain frozen dataclasses, no TensorFlow): the inner loop, PPO and DQN.

Defaults and their sources are in the docstrings of :mod:`~paperzoo.ramario.policy_gradient`,
:mod:`~paperzoo.ramario.baselines.ppo` and :mod:`~paperzoo.ramario.baselines.dqn`.
"""

from __future__ import annotations

from dataclasses import dataclass

from paperzoo.shared.validate import check_non_negative, check_positive, check_positive_int, check_range


@dataclass(frozen=True)
class InnerConfig:
    """Inner-loop settings: ``k`` updates of REINFORCE, each on ``episodes`` episodes played in lockstep on as many
    different environments of the task; the optimiser and the loss."""

    k: int = 3
    episodes: int = 1
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    gamma: float = 0.99
    entropy_coef: float = 0.01

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 0:
            raise ValueError(f"k must be an integer >= 0, got {self.k!r}")
        check_positive_int("episodes", self.episodes)
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        check_positive("learning_rate", self.learning_rate)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_non_negative("entropy_coef", self.entropy_coef)


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (see the module docstring for their sources)."""

    rollout: int = 128
    epochs: int = 4
    minibatch: int = 32
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.1
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    learning_rate: float = 2.5e-4
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        for name in ("rollout", "epochs", "minibatch"):
            check_positive_int(name, getattr(self, name))
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("lam", self.lam, 0.0, 1.0)
        check_positive("clip", self.clip)
        for name in ("vf_coef", "ent_coef"):
            check_non_negative(name, getattr(self, name))
        check_positive("learning_rate", self.learning_rate)
        check_positive("max_grad_norm", self.max_grad_norm)


@dataclass(frozen=True)
class DQNConfig:
    """DQN hyperparameters (see the module docstring for their sources)."""

    buffer_size: int = 5000
    learning_starts: int = 500
    batch_size: int = 32
    train_freq: int = 4
    target_update: int = 500
    gamma: float = 0.99
    learning_rate: float = 1e-4
    exploration_fraction: float = 0.3
    final_epsilon: float = 0.01
    max_grad_norm: float = 10.0

    def __post_init__(self) -> None:
        for name in ("buffer_size", "learning_starts", "batch_size", "train_freq", "target_update"):
            check_positive_int(name, getattr(self, name))
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_positive("learning_rate", self.learning_rate)
        check_range("exploration_fraction", self.exploration_fraction, 0.0, 1.0, low_inclusive=False)
        check_range("final_epsilon", self.final_epsilon, 0.0, 1.0)
        check_positive("max_grad_norm", self.max_grad_norm)
