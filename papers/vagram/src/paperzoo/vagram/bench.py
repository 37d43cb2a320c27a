"""The paperzoo benchmark of VaGraM: a declaration (configs, claims, metric specs); runners in ``experiment.py``,
figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): on 300 random Pendulum-v1 transitions with a fixed random SB3 critic, VaGraM with g ≡ 1 equals
  the MSE, the model loss leaves the critic's .grad empty, 50 Adam steps lower the VaGraM loss, clipped norms stay
  at or below the batch 95th percentile; then a few steps of MBPO with VaGraM (the cache computes gradients).
- full (minutes, 2 CPU cores): (a) value-aware fit test on a frozen SB3 SAC's Pendulum-v1 + 5 distractors data,
  ensembles 1 x 16 and 1 x 64, MSE vs VaGraM (held-out state and value error); (b) MBPO-lite on Pendulum-v1 + 5
  distractors with the 1 x 16 ensemble, MSE vs VaGraM. 3 seeds, paired.
- paper: MBPO on Hopper-v5 with 20 distractors at the official overrides (``mbpo_hopper_distraction``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse
from paperzoo.shared.validate import check_non_negative, check_positive_int, check_range
from paperzoo.vagram import experiment, perf, plots
from paperzoo.vagram.mbpo import MBPOConfig, SACConfig
from paperzoo.vagram.models import ModelTrainConfig

# CPU-scale SAC: 2 x 64 units; rl-zoo's tuned Pendulum SAC rate 1e-3 for all three networks, SB3's defaults for
# the rest (H = -dim(A), alpha_0 = 1, target update every step): the official rates need 40x more updates (README).
CPU_SAC = SACConfig(
    net_arch=(64, 64),
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=1e-3,
    init_temperature=1.0,
    target_entropy=-1.0,
    target_update_interval=1,
)


@dataclass(frozen=True)
class FitConfig:
    """(a): the frozen SAC (trained ``sac_steps`` with SB3's ``learn``) and the fitted small ensembles."""

    env_id: str = "Pendulum-v1"
    distractors: int = 5
    sac: SACConfig = CPU_SAC
    sac_steps: int = 7000
    sac_learning_starts: int = 500
    transitions: int = 20_000
    test_fraction: float = 0.2
    widths: tuple[int, ...] = (16, 64)
    members: int = 7
    elites: int = 5
    epochs: int = 60
    weight_decay: float = 2e-5
    eval_episodes: int = 5

    def __post_init__(self) -> None:
        check_non_negative("distractors", self.distractors)
        for name in ("sac_steps", "sac_learning_starts", "transitions", "members", "elites", "epochs", "eval_episodes"):
            check_positive_int(name, getattr(self, name))
        check_range("test_fraction", self.test_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        if 16 not in self.widths:
            raise ValueError(f"widths must contain 16 (the claim's small model), got {self.widths}")


def lite_mbpo() -> MBPOConfig:
    """MBPO-lite (b): Pendulum-v1 + 5 distractors, the 1 x 16 ensemble, rollout length 1."""
    return MBPOConfig(
        distractors=5,
        steps=2000,
        initial_steps=1000,
        epoch_length=200,
        freq_train_model=50,
        rollouts_per_step=100,
        sac_updates_per_step=5,
        hidden=(16,),
        model=ModelTrainConfig(epochs=50, patience=5),
        sac=CPU_SAC,
        eval_episodes=2,
        final_eval_episodes=5,
    )


@dataclass(frozen=True)
class SmokeConfig:
    """Loss checks on ``transitions`` random Pendulum transitions, then a few MBPO steps."""

    transitions: int = 300
    adam_steps: int = 50
    mbpo: MBPOConfig = field(
        default_factory=lambda: MBPOConfig(
            steps=100,
            initial_steps=100,
            epoch_length=100,
            freq_train_model=50,
            rollouts_per_step=8,
            sac_updates_per_step=2,
            hidden=(16,),
            model=ModelTrainConfig(epochs=2),
            sac=SACConfig(net_arch=(32, 32), batch_size=64),
            final_eval_episodes=1,
        )
    )
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("transitions", self.transitions)
        check_positive_int("adam_steps", self.adam_steps)


@dataclass(frozen=True)
class FullConfig:
    """(a) the fit test and (b) MBPO-lite, one seed's three jobs on ``workers`` processes."""

    fit: FitConfig = field(default_factory=FitConfig)
    mbpo: MBPOConfig = field(default_factory=lite_mbpo)
    workers: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("workers", self.workers)


def paper_config() -> FullConfig:
    """The official ``mbpo_hopper_distraction`` override (ICLR commit) with 20 distractors and the 4 x 200 model."""
    return FullConfig(
        mbpo=MBPOConfig(
            env_id="Hopper-v5",
            distractors=20,
            steps=125_000,
            initial_steps=10_000,
            epoch_length=1000,
            freq_train_model=250,
            rollouts_per_step=400,
            rollout_schedule=(20, 150, 1, 1),
            model_data_likelihood=(0, 50, 0.0, 0.95),  # SAC's batches: real data first, 95 % model data by epoch 50
            sac_updates_per_step=20,
            model=ModelTrainConfig(lr=1e-3, weight_decay=5e-5, batch_size=1024, epochs=1000, patience=10),
            sac=SACConfig(actor_lr=3e-5, critic_lr=3e-4, alpha_lr=3e-4, target_entropy=-1.0),
        ),
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- claims
def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The loss's properties (no threshold depends on the config)."""
    return (
        Claim("VaGraM with g = 1 equals the MSE on the same reduction", Compare("loss/g1_minus_mse", "<=", 1e-6)),
        Claim("The model loss leaves the critic's gradients empty", Compare("loss/critic_grad_abs_sum", "<=", 0.0)),
        Claim("50 Adam steps lower the VaGraM loss", Compare("loss/adam_relative_drop", ">", 0.0)),
        Claim(
            "Clipped value-gradient norms stay at or below the batch quantile",
            Compare("loss/clipped_norm_excess", "<=", 1e-6),
        ),
        Claim("The MBPO loop computes value gradients through the cache", Compare("mbpo/grads_computed", ">", 0.0)),
    )


_SAC_SOLVED = -400.0  # the frozen SAC must swing the pendulum up (the non-degeneracy guard)
_ABOVE_RANDOM = 100.0  # MBPO arms: 100 return above the uniform random policy


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """(a) value error 1 x 16 (VaGraM < MSE) and its state-error trade-off; (b) MBPO return VaGraM >= MSE.

    Guards test the protocol, not the claimed effect: the frozen SAC solves the task and both fitted models beat
    the zero-delta predictor's state error (they fitted something); in (b) the budget lets an arm learn (the best
    arm beats the random policy by 100). An MSE model whose value error stays at the zero-delta predictor's, or an
    MSE agent that stays at random level, is the paper's effect (small model + distractors), not a degenerate
    protocol; both are reported (README).
    """
    fit_guards = (
        Compare("fit/sac_return", ">", _SAC_SOLVED),
        Compare("fit/mse_w16/state_mse", "<", "fit/zero_delta/state_mse"),
        Compare("fit/vagram_w16/state_mse", "<", "fit/zero_delta/state_mse"),
    )
    return (
        Claim(
            "VaGraM's held-out value error is lower than MSE's for the small (1 x 16) model",
            Better("fit/vagram_w16/value_error", "fit/mse_w16/value_error", better="lower"),
            guards=fit_guards,
        ),
        Claim(
            "MSE's held-out state error is lower than VaGraM's for the small (1 x 16) model",
            Better("fit/mse_w16/state_mse", "fit/vagram_w16/state_mse", better="lower"),
            guards=fit_guards,
        ),
        Claim(
            "MBPO-lite with VaGraM returns at least as much as with MSE (small model, 5 distractors)",
            NoWorse("mbpo/vagram/return", "mbpo/mse/return"),
            guards=(Compare(Max("mbpo/*/return"), ">", "mbpo/random/return", margin=_ABOVE_RANDOM),),
            mechanism=(Compare("mbpo/vagram/grads_computed", ">", 0.0),),
        ),
        # The non-degeneracy checks, judged as claims of their own (an arm that stays at random level is
        # reported, not hidden by a guard).
        Claim("The frozen SAC swings Pendulum-v1 up (return above -400)", Compare("fit/sac_return", ">", _SAC_SOLVED)),
        *(
            Claim(
                f"MBPO-lite with {name} beats the random policy (by {_ABOVE_RANDOM:g})",
                Compare(f"mbpo/{arm}/return", ">", "mbpo/random/return", margin=_ABOVE_RANDOM),
            )
            for arm, name in (("vagram", "VaGraM"), ("mse", "MSE"))
        ),
    )


BENCHMARK = Benchmark(
    slug="vagram",
    title="Value Gradient weighted Model-Based Reinforcement Learning (ICLR 2022)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("loss/g1_minus_mse", better="lower", tolerance=1e-6),
        MetricSpec("loss/critic_grad_abs_sum", better="lower", tolerance=0.0),
        MetricSpec("loss/clipped_norm_excess", better="lower", tolerance=1e-6),
        MetricSpec("loss/adam_relative_drop", better="higher", tolerance=0.05),
        MetricSpec("mbpo/grads_computed", better="higher", tolerance=0.0),
        MetricSpec("*value_error", better="lower", tolerance=0.5, relative=True),
        MetricSpec("*/return", better="higher", tolerance=300.0),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="a GPU (125k Hopper steps x 20 SAC updates, 7 x 4 x 200 ensembles retrained every 250 steps)",
)
