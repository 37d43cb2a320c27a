"""The paperzoo benchmark of LSTMc: a declaration (configs, claims, metric specs, ``BENCHMARK``).

- smoke (seconds): the brief's reference batch (T_j = 38 - floor(t / 1 h) degC) on the moment model and on a
  100-cell PBE: mass conservation, mu_0 non-decreasing, growth under cooling, PBE moments vs the moment ODE.
- full: 1,500 open-loop batches (moment model, shared by the seeds); LSTMc, the MPC's LSTM surrogate, PI and the
  MPC's move penalty tuned on a tuning family; mean |L(t_f) - L_sp| / L_sp on 6 unseen set-points x 3 unseen
  initial conditions on the 250-cell PBE plant, clean and with 10 % multiplicative noise on the measured size.
- paper: 7,000 batches, 10 and 15 % noise, longer training (the paper's scale; the same runner).
"""

from __future__ import annotations

from dataclasses import replace

from paperzoo.lstmc import experiment, perf, plots
from paperzoo.lstmc.experiment import FullConfig, SmokeConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, Max, MetricSpec, NoWorse

# One tenth of a percent of the set-point: ~3x the PBE-vs-moment-ODE gap of the final size (0.03 %); a smaller
# difference of deviations is below what the plant resolves.
RESOLUTION = 1e-3


def paper_config() -> FullConfig:
    """The paper's setting: 7,000+ simulated batches, 10 and 15 % sensor noise, longer training."""
    return replace(FullConfig(), n_batches=7000, epochs=100, n_eval_ic=10, noise_levels=(0.0, 0.10, 0.15))


def smoke_claims(config: SmokeConfig) -> tuple[Claim, ...]:
    """The plant's invariants on the reference batch."""
    return (
        Claim(
            "c + M_T is conserved by the moment model (< 1e-6 relative drift)", Compare("plant/mass_drift", "<", 1e-6)
        ),
        Claim("mu_0 never decreases (nucleation only adds crystals)", Compare("plant/mu0_min_step", ">=", 0.0)),
        Claim("Crystals grow under cooling", Compare("plant/L_final_um", ">", "plant/L_initial_um", margin=10.0)),
        Claim(
            "PBE moments mu_0..mu_3 match the moment ODE within 2 % at 24 h", Compare("plant/pbe_moment_gap", "<", 0.02)
        ),
    )


def full_claims(config: FullConfig) -> tuple[Claim, ...]:
    """LSTMc vs PI and LSTM-MPC (clean and at the first noise level), its noise robustness, PI off its tuning
    set-points, LSTMc < 2 %, every controller below the set-point-blind reference profile. Guards: the set-points
    of an initial condition are spread by more than the resolution; the arms beat the blind profile. Mechanism:
    LSTMc's final size follows the set-point (slope of L(t_f) on L_sp > 0)."""
    spread = Compare("eval/set_point_spread", ">", RESOLUTION)
    tracks = (Compare("lstmc/tracking_slope", ">", 0.0),)
    levels = [("", "clean")]
    if len(config.noise_levels) > 1:
        level = config.noise_levels[1]
        levels.append((experiment.noise_key(level), f"{round(100 * level)} % noise"))
    claims = [
        Claim(
            f"Unseen set-points ({label}): LSTMc's mean |L_f - L_sp| / L_sp is below {name}'s",
            Better(f"lstmc/deviation{suffix}", f"{rival}/deviation{suffix}", better="lower", resolution=RESOLUTION),
            guards=(spread, Compare("lstmc/deviation", "<", "open_loop/deviation")),
            mechanism=tracks,
        )
        for suffix, label in levels
        for rival, name in (("pi", "PI"), ("mpc", "LSTM-MPC"))
    ]
    if len(levels) > 1:
        claims.append(
            Claim(
                f"LSTMc is robust to sensor noise: its deviation at {levels[1][1]} is at most twice its clean one",
                NoWorse("lstmc/noise_ratio", 2.0, better="lower"),
                guards=(spread,),
                mechanism=tracks,
            )
        )
    claims += [
        Claim(
            "PI needs retuning: its deviation on unseen set-points is above that on its tuning set-points",
            Better("pi/deviation_tuning", "pi/deviation", better="lower", resolution=RESOLUTION),
            guards=(spread,),
        ),
        Claim(
            "LSTMc's set-point deviation is below 2 % (the paper's figure)",
            Better("lstmc/deviation", 0.02, better="lower", resolution=RESOLUTION),
            guards=(spread,),
            mechanism=tracks,
        ),
        Claim(
            "Every controller tracks better than the set-point-blind reference profile (T_j = T0 - 1 degC/h)",
            Better(Max("[!o]*/deviation"), "open_loop/deviation", better="lower", resolution=RESOLUTION),
            guards=(spread,),
        ),
    ]
    return tuple(claims)


_SMOKE, _FULL = SmokeConfig(), FullConfig()

BENCHMARK = Benchmark(
    slug="lstmc",
    title="Require Process Control? LSTMc is all you need! (Sitapure & Kwon): a model-free LSTM controller for "
    "batch dextrose crystallization",
    framework="torch",
    scales={"smoke": _SMOKE, "full": _FULL, "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run_smoke, "full": experiment.run_full, "paper": experiment.run_full},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("plant/mass_drift", better="lower", tolerance=1e-6),
        MetricSpec("plant/mu0_min_step", better="higher", tolerance=1e-9),
        MetricSpec("plant/pbe_moment_gap", better="lower", tolerance=0.005),
        MetricSpec("plant/*", better="higher", tolerance=0.5),
        MetricSpec("*/deviation*", better="lower", tolerance=0.01, resolution=RESOLUTION),
        MetricSpec("*/noise_ratio", better="lower", tolerance=1.0),
        MetricSpec("*/tracking_slope", better="higher", tolerance=0.5),
        MetricSpec("*/train_loss", better="lower", tolerance=0.5, relative=True),
        MetricSpec("cpu_s/*", better="lower", tolerance=10.0, relative=True),
    ),
    plot={"full": plots.plot_full},
    perf=perf.perf,
    paper_needs="time (7,000 simulated batches, longer training); it runs on a CPU, a GPU only speeds up training",
)
