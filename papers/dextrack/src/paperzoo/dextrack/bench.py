"""The paperzoo benchmark of DexTrack: a declaration (configs, claims, metric specs, ``BENCHMARK``).

- smoke (seconds): Tier B (the gymnasium-robotics Shadow hand with a fly base) loads offline and gives a finite
  tracking reward; Tier A: zero residual gives the reference PD targets exactly, the reward prefers the object on its
  reference to 5 cm away, one specialist PPO iteration, and its rollout replays bit for bit.
- full: Tier A (the fly gripper), flywheel rounds 0 and 1, RL+IL vs PPO-only vs BC-only generalists at equal env steps
  and demos, evaluated on held-out test references (unseen object sizes); zero-residual playback as the floor.
- paper: the paper's setting (fly Allegro on GRAB, official PPO sizes) as a validated config; not runnable here
  (Isaac Gym), so its runner is the full runner on whatever this config holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from paperzoo.dextrack import experiment, perf, plots
from paperzoo.dextrack.flywheel import FlywheelConfig, PPOConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, NoWorse
from paperzoo.shared.validate import check_positive_int


@dataclass(frozen=True)
class SmokeConfig:
    """Tier B load + reward for ``shadow_steps`` steps; Tier A one specialist iteration on ``n_envs`` envs."""

    shadow_steps: int = 20
    horizon: int = 40
    n_envs: int = 8
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("shadow_steps", self.shadow_steps)
        check_positive_int("n_envs", self.n_envs)
        if self.horizon < 2:
            raise ValueError(f"horizon must be >= 2, got {self.horizon}")


@dataclass(frozen=True)
class FullConfig:
    """The Tier A flywheel experiment: ``n_train`` / ``n_test`` references of ``horizon`` steps."""

    n_train: int = 8
    n_test: int = 16
    horizon: int = 40
    flywheel: FlywheelConfig = field(default_factory=FlywheelConfig)
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_positive_int("n_train", self.n_train)
        check_positive_int("n_test", self.n_test)
        if self.horizon < 2:
            raise ValueError(f"horizon must be >= 2, got {self.horizon}")


def paper_config() -> FullConfig:
    """The official generalist setting as config (``cfg/train/HumanoidPPOSupervised.yaml`` and the GRAB launch script:
    40000 envs, horizon 32 per update, minibatch 4000, 5 epochs, lr 5e-4, gamma 0.99, tau 0.95, clip 0.2, critic
    coefficient 4, grad norm 1, fixed log-std 0, MLP 8192-4096-2048-1024-512-256-128, supervised (IL) coefficient
    5e-4 on rewards scaled by 0.01; ~300-frame GRAB references). Isaac Gym, the Allegro hand and GRAB are not available
    here, so this stands for the setting on the fly gripper and is run by the full runner."""
    ppo = PPOConfig(
        n_envs=40000,
        updates=10000,
        n_epochs=5,
        batch_size=4000,
        learning_rate=5e-4,
        vf_coef=4.0,
        max_grad_norm=1.0,
        log_std_init=0.0,
        net_arch=(8192, 4096, 2048, 1024, 512, 256, 128),
    )
    return FullConfig(
        n_train=3000,
        n_test=1000,
        horizon=300,
        flywheel=FlywheelConfig(
            specialist=replace(ppo, n_envs=8192, updates=2000, net_arch=(1024, 512, 256, 128)),
            generalist=ppo,
            lambda_il=5e-4,
            warm_updates=500,
        ),
        device="cuda",
    )


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """Sanity of the env, the reward and the demos."""
    return (
        Claim("Zero residual gives the reference PD targets exactly", Compare("env/zero_residual_gap", "<=", 0.0)),
        Claim(
            "The reward is higher with the object on its reference than 5 cm away",
            Compare("env/reward_on_minus_off", ">", 0.0),
        ),
        Claim("A rollout's actions replay bit for bit", Compare("env/replay_gap", "<=", 0.0)),
        Claim(
            "The Shadow hand scene loads offline with a fly base and gives a finite reward",
            Compare("shadow/finite_reward", ">=", 1.0),
            guards=(Compare("shadow/nq", ">", 30),),
        ),
    )


def resolution(config: FullConfig) -> float:
    """One test reference of the success rate."""
    return 1.0 / config.n_test


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """RL+IL >= PPO-only and >= BC-only on held-out success; more demos after round 1; homotopy solves >= 1 failure;
    RL+IL above reference playback. Guards: the arms compared are not all at zero; the flywheel produced demos."""
    res = resolution(config)
    some = Compare("rlil/success", ">", 0.0)
    demos = Compare("flywheel/demos_round0", ">", 0.0)
    return (
        Claim(
            "Held-out success: the RL+IL generalist is no worse than the PPO-only generalist (equal env steps)",
            NoWorse("rlil/success", "ppo_only/success", resolution=res),
            guards=(some, demos),
        ),
        Claim(
            "Held-out success: the RL+IL generalist is no worse than the BC-only generalist (equal demos)",
            NoWorse("rlil/success", "bc_only/success", resolution=res),
            guards=(some, demos),
        ),
        Claim(
            "The data flywheel grows the demo set: more demos after round 1 than round 0",
            Better("flywheel/demos_round1", "flywheel/demos_round0", resolution=1.0),
            guards=(demos,),
        ),
        Claim(
            "Homotopy turns at least one failing train reference into a success (solves > 0, interval over seeds)",
            Better("flywheel/homotopy_solved", 0.0, resolution=1.0),
        ),
        Claim(
            "Non-degeneracy: RL+IL tracks held-out references better than zero-residual reference playback",
            Better("rlil/success", "playback/success", resolution=res),
            guards=(some,),
        ),
    )


_SMOKE, _FULL = SmokeConfig(), FullConfig()

BENCHMARK = Benchmark(
    slug="dextrack",
    title="DexTrack: Towards Generalizable Neural Tracking Control for Dexterous Manipulation from Human References "
    "(ICLR 2025)",
    framework="torch",
    scales={"smoke": _SMOKE, "full": _FULL, "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("env/zero_residual_gap", better="lower", tolerance=0.0),
        MetricSpec("env/replay_gap", better="lower", tolerance=0.0),
        MetricSpec("env/reward_on_minus_off", better="higher", tolerance=0.05, relative=True),
        MetricSpec("shadow/*", better="higher", tolerance=0.0),
        MetricSpec("specialist/pos_err_cm", better="lower", tolerance=2.0),
        MetricSpec("*/success", better="higher", tolerance=0.2, resolution=resolution(_FULL)),
        MetricSpec("*/train_success", better="higher", tolerance=0.2, resolution=1 / _FULL.n_train),
        MetricSpec("flywheel/*", better="higher", tolerance=2.0),
        MetricSpec("*_err_*", better="lower", tolerance=2.0),
        MetricSpec("*/step_success", better="higher", tolerance=0.2),
        MetricSpec("cpu_s/*", better="lower", tolerance=10.0, relative=True),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="Isaac Gym Preview 4, GRAB/TACO retargeted references and a GPU (thousands of parallel envs)",
)
