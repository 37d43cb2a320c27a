"""TA-LPG / TA-LPO — Discovering Temporally-Aware Reinforcement Learning Algorithms.
Matthew T. Jackson, Chris Lu, Louis Kirsch, Robert T. Lange, Shimon Whiteson, Jakob N. Foerster. ICLR 2024.
Official code: github.com/EmptyJackson/groove (TA-LPG, ES);
LPO base: github.com/luchris429/discovered-policy-optimisation.

A meta-learned RL objective is conditioned on the agent's training progress (n/N, log N) and meta-trained by
evolution strategies over whole agent lifetimes, so that it can express schedules over the lifetime.
Builds on :mod:`paperzoo.groove` (grid-worlds, LPG, tabular agents).

Public API:

- OpenES (:mod:`~paperzoo.ta_lpg.es`): :class:`ESConfig`, :class:`ESState`, :func:`init_es`, :func:`ask`,
  :func:`pairwise_rank`, :func:`es_gradient`, :func:`tell`;
- lifetime features: :func:`lpg_lifetime_features` ([n/N, log N] or raw [n, N]), :func:`lpo_lifetime_features`;
- (TA-)LPG by ES: :class:`ESTrainConfig`, :func:`train_lifetime`, :func:`lifetime_return`,
  :func:`generation_step`, :func:`make_es_train`, :data:`ES_DISTRIBUTIONS`;
- meta-test: :func:`meta_test`, :func:`held_out_levels` (:func:`select_held_out`: levels with headroom),
  :func:`random_policy_score`;
- (TA-)LPO: :class:`DriftNet`, :func:`lpo_features`, :func:`drift`, :func:`lpo_policy_loss`, :func:`ppo_clip_loss`,
  :class:`PPOConfig`, :func:`make_ppo_train`, :class:`LPOESConfig`, :func:`make_lpo_es_train`.
"""

from paperzoo.ta_lpg.es import ESConfig, ESState, ask, es_gradient, init_es, pairwise_rank, tell
from paperzoo.ta_lpg.evaluate import held_out_levels, meta_test, random_policy_score, select_held_out
from paperzoo.ta_lpg.lifetime_features import lpg_lifetime_features, lpo_lifetime_features
from paperzoo.ta_lpg.lpo import (
    DriftNet,
    LPOESConfig,
    PPOConfig,
    drift,
    init_drift_params,
    lpo_features,
    lpo_policy_loss,
    make_lpo_es_train,
    make_ppo_train,
    ppo_clip_loss,
)
from paperzoo.ta_lpg.meta_es import (
    ES_DISTRIBUTIONS,
    ESTrainConfig,
    compile_jit,
    evaluate_candidates,
    generation_step,
    initial_mean,
    lifetime_return,
    make_es_train,
    pair_tasks,
    train_lifetime,
    unravel_fn,
)

__all__ = [
    "ES_DISTRIBUTIONS",
    "DriftNet",
    "ESConfig",
    "ESState",
    "ESTrainConfig",
    "LPOESConfig",
    "PPOConfig",
    "ask",
    "compile_jit",
    "drift",
    "es_gradient",
    "evaluate_candidates",
    "generation_step",
    "held_out_levels",
    "init_drift_params",
    "init_es",
    "initial_mean",
    "lifetime_return",
    "lpg_lifetime_features",
    "lpo_features",
    "lpo_lifetime_features",
    "lpo_policy_loss",
    "make_es_train",
    "make_lpo_es_train",
    "make_ppo_train",
    "meta_test",
    "pair_tasks",
    "pairwise_rank",
    "ppo_clip_loss",
    "random_policy_score",
    "select_held_out",
    "tell",
    "train_lifetime",
    "unravel_fn",
]
