"""The paperzoo benchmark of AGAIN (Meta-ACL): a declaration (configs, claims, metric specs); runners in
``experiment.py``, figures in ``plots.py``, speed figures in ``perf.py``.

- smoke (seconds): toy v1 10x10, 3k episodes, k = 2..3, a classroom of 4 ALP-GMM students (one per rotation), one test
  student (rotation 0) taught by every arm; checks: ALP-GMM refits every 250 episodes, AGAIN selected an expert
  and replayed its curriculum.
- full (minutes, 2 cores): toy v1 10x10, 30k episodes (epoch 3k, k = 2..6); a classroom of 24 ALP-GMM students
  (6 per rotation, built on 2 processes), 8 new test students (2 per rotation) taught by Random, ALP-GMM,
  AGAIN-R (pre-test 1 epoch, k = 5, with ALP-GMM), AGAIN with a random expert, AGAIN with ground-truth
  neighbours; 3 seeds, each with its own classroom and test students.
- paper: the official 20x20 toy (200k episodes, epoch 10k, k = 2..10, pre-test 2 epochs), 32 classroom
  students per rotation, for a patient CPU; and the official parkour (Walker-Climber) setting, configured and
  validated but not runnable here (it needs the Box2D environment and a SAC student: ``parkour.py``).
"""

from __future__ import annotations

from paperzoo.again import experiment, perf, plots
from paperzoo.again.experiment import PaperConfig, ToyConfig
from paperzoo.again.parkour import ParkourConfig
from paperzoo.shared import Benchmark, Better, Claim, Compare, MetricSpec, Within

SMOKE = ToyConfig(episodes=3_000, epoch_len=1_000, k_max=3, classroom_per_type=1, test_per_type=1, test_types=(0,))
FULL = ToyConfig()
PAPER = PaperConfig(
    toy=ToyConfig(
        n_cells=20,
        episodes=200_000,
        epoch_len=10_000,
        score_every=1_000,
        k_max=10,
        classroom_per_type=32,
        test_per_type=8,
        pretrain_epochs=2,
    ),
    parkour=ParkourConfig(),
)


def smoke_claims(config: ToyConfig) -> tuple[Claim, ...]:
    """Mechanism checks: ALP-GMM refits once per fit_rate episodes; AGAIN picks an expert and follows it."""
    claims = [
        Claim(
            "ALP-GMM refits its GMM every fit_rate episodes",
            Within("alp_gmm/refits", config.episodes // config.fit_rate, 0.0),
        ),
        Claim("The classroom keeps at least one student with a curriculum", Compare("classroom/size", ">=", 1.0)),
    ]
    if "again_ground_truth" in config.arms:
        claims.append(
            Claim(
                "AGAIN with ground-truth neighbours selects a same-type expert",
                Compare("again_ground_truth/same_type_expert", ">=", 1.0),
            )
        )
    return tuple(claims)


def full_claims(config: ToyConfig) -> tuple[Claim, ...]:
    """AGAIN-R > ALP-GMM > Random on the area under the mastered-cells curve, and AGAIN-R > its random-expert
    ablation; paired by seed (one classroom and one set of test students per seed, shared by every arm).

    Guards: ALP-GMM and AGAIN-R master more than 10% of the cells at the end (non-degeneracy); mechanism: AGAIN-R
    stepped through its expert curriculum (at least one expert GMM advance on average).
    """
    if set(config.arms) != set(experiment.ARMS):
        return ()
    learns = (
        Compare("alp_gmm/final_mastery", ">", 0.10),
        Compare("again_r/final_mastery", ">", 0.10),
    )
    replays = (Compare("again_r/expert_steps", ">=", 1.0),)
    return (
        Claim(
            "AGAIN-R masters the task space faster than ALP-GMM from scratch (area under the mastered-cells curve)",
            Better("again_r/auc", "alp_gmm/auc"),
            guards=learns,
            mechanism=replays,
        ),
        Claim(
            "ALP-GMM masters the task space faster than a random curriculum (area under the mastered-cells curve)",
            Better("alp_gmm/auc", "random/auc"),
            guards=learns[:1],
        ),
        Claim(
            "AGAIN-R beats AGAIN with a randomly chosen expert (the KC-based expert selection matters)",
            Better("again_r/auc", "again_random_expert/auc"),
            guards=learns,
            mechanism=replays,
        ),
    )


def _resolution(config: ToyConfig) -> float:
    """One cell of one test student: the grain of a mean mastered fraction."""
    return 1.0 / (config.n_cells**2 * config.test_per_type * len(config.test_types))


BENCHMARK = Benchmark(
    slug="again",
    title="Meta Automatic Curriculum Learning (AGAIN)",
    framework="torch",
    scales={"smoke": SMOKE, "full": FULL, "paper": PAPER},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run={"smoke": experiment.run, "full": experiment.run, "paper": experiment.run_paper},
    claims={"smoke": smoke_claims, "full": full_claims},
    metrics=(
        MetricSpec("*/auc", better="higher", tolerance=0.02, resolution=_resolution(FULL)),
        MetricSpec("*/final_mastery", better="higher", tolerance=0.03, resolution=_resolution(FULL)),
    ),
    plot={"full": plots.plot, "paper": plots.plot},
    perf=perf.perf,
    paper_needs=(
        "many CPU hours for the toy (128 classroom students and 32 test students x 5 arms of 200k episodes each); "
        "the parkour setting needs the Box2D Walker-Climber env and a SAC student (not shipped)"
    ),
)
