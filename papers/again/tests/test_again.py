"""Tests of AGAIN: toy rules, ALP, ALP-GMM, classroom selection, AGAIN-R's reward list, determinism, bad input."""

import dataclasses
import math
import os
import time

import numpy as np
import pytest

from paperzoo.again import AGAIN, ALPGMM, ALPComputer, Classroom, ClassroomToyEnv, Mixture, proportional_choice
from paperzoo.again.again import EXPERT_ORIGIN
from paperzoo.again.bench import BENCHMARK, PAPER, ToyConfig
from paperzoo.again.classroom import StudentSpec, TrainSpec, extract_curriculum, train_alpgmm_student
from paperzoo.again.experiment import PaperConfig, run, run_paper
from paperzoo.again.parkour import ParkourConfig
from paperzoo.again.pool import run_longest_first, worker_pool
from paperzoo.again.toy_env import rotate_cell

# ------------------------------------------------------------------------------------------------ toy env


def official_cell(task, n, rotation):
    """The official binning: rotate the point CCW about (0.5, 0.5) by rotation x 90 degrees, then floor."""
    x, y = task
    a = math.pi / 2 * rotation
    qx = 0.5 + math.cos(a) * (x - 0.5) - math.sin(a) * (y - 0.5)
    qy = 0.5 + math.sin(a) * (x - 0.5) + math.cos(a) * (y - 0.5)
    return min(int(qx * n), n - 1), min(int(qy * n), n - 1)


@pytest.mark.parametrize("rotation", [0, 1, 2, 3])
def test_rotation_matches_the_official_point_rotation(rotation):
    env = ClassroomToyEnv(10, rotation=rotation)
    tasks = (np.arange(10)[:, None] + np.array([0.3, 0.6])) / 10  # cell interiors, away from the borders
    for x in tasks.ravel():
        for y in tasks.ravel():
            assert env.cell_of(np.array([x, y])) == official_cell((x, y), 10, rotation)


def test_four_quarter_turns_are_the_identity():
    for i in range(7):
        for j in range(7):
            assert rotate_cell(i, j, 7, 4) == (i, j)
            assert rotate_cell(*rotate_cell(i, j, 7, 1), 7, 3) == (i, j)


@pytest.mark.parametrize("rotation", [0, 1, 2, 3])
def test_locked_cell_never_learns_and_start_cell_always_does(rotation):
    env = ClassroomToyEnv(5, rotation=rotation)
    start = next((i, j) for i in range(5) for j in range(5) if rotate_cell(i, j, 5, rotation) == (0, 0))
    start_task = (np.array(start) + 0.5) / 5
    locked_task = (np.array([2, 2]) + 0.5) / 5
    for _ in range(50):
        assert env.episode(locked_task) == 0.0
    rewards = [env.episode(start_task) for _ in range(120)]
    assert rewards[:3] == [0.01, 0.02, 0.03] and rewards[-1] == 1.0  # capped at 100
    assert env.kc_vector().reshape(5, 5)[start] == 100  # the KC vector is in the task frame


def test_v2_start_cell_numbering_and_four_neighbours():
    env = ClassroomToyEnv(4, start_cell=6)  # official numbering: (6 mod 4, 6 div 4) = (2, 1)
    cell = lambda i, j: (np.array([i, j]) + 0.5) / 4  # noqa: E731
    assert env.episode(cell(1, 1)) == 0.0
    for _ in range(76):
        env.episode(cell(2, 1))
    assert env.episode(cell(3, 1)) > 0 and env.episode(cell(2, 2)) > 0  # 4-neighbours unlocked
    assert env.episode(cell(3, 2)) == 0.0  # the diagonal is not a neighbour


def test_score_counts_cells_above_75():
    env = ClassroomToyEnv(4)
    env.competence[:] = 100
    assert env.score() == 100.0
    env.competence[:] = 75  # mastered means strictly above 75
    assert env.score() == 0.0


# ------------------------------------------------------------------------------------------------ ALP


def test_alp_of_a_repeated_task_with_unchanged_competence_is_zero():
    env, alp = ClassroomToyEnv(4), ALPComputer(2)
    tasks = np.random.default_rng(0).uniform(0.3, 1.0, size=(10, 2))  # never the start cell: rewards stay 0
    values = [alp.compute(t, env.episode(t)) for t in tasks]
    assert values == [0.0] * 10
    assert alp.compute(tasks[3], 0.0) == 0.0
    assert alp.compute(tasks[3] + 1e-9, 0.3) == pytest.approx(0.3)  # reward moved: |0.3 - 0|


def test_alp_nearest_matches_brute_force_across_tree_and_buffer():
    rng = np.random.default_rng(1)
    alp = ALPComputer(2, buffer_size=7)
    stored = rng.random((40, 2))
    rewards = rng.random(40)
    for t, r in zip(stored, rewards, strict=True):
        alp.compute(t, r)
    for q in rng.random((30, 2)):
        assert alp.nearest(q) == int(np.argmin(((stored - q) ** 2).sum(1)))
        expected = abs(0.5 - rewards[int(np.argmin(((stored - q) ** 2).sum(1)))])
        assert ALPComputer.compute.__get__(alp)(q, 0.5) == pytest.approx(expected)
        stored, rewards = np.vstack([stored, q]), np.append(rewards, 0.5)


# ------------------------------------------------------------------------------------------------ ALP-GMM


def test_proportional_choice_follows_the_values_and_is_uniform_when_all_zero():
    rng = np.random.default_rng(0)
    draws = np.bincount([proportional_choice(np.array([0.1, 0.3, 0.0, 0.6]), rng) for _ in range(20000)], minlength=4)
    assert np.allclose(draws / 20000, [0.1, 0.3, 0.0, 0.6], atol=0.015)
    draws = np.bincount([proportional_choice(np.zeros(4), rng) for _ in range(20000)], minlength=4)
    assert np.allclose(draws / 20000, 0.25, atol=0.015)


def test_alpgmm_refits_every_fit_rate_and_keeps_tasks_in_bounds():
    lower, upper = np.array([-1.0, 2.0]), np.array([0.0, 5.0])
    teacher = ALPGMM(lower, upper, 0, fit_rate=30, k_max=3)
    rng = np.random.default_rng(0)
    refits = []
    for i in range(1, 151):
        task = teacher.sample_task()
        assert np.all(task >= lower) and np.all(task <= upper)
        if teacher.update(task, float(rng.random() < 0.5)):
            refits.append(i)
    assert refits == [30, 60, 90, 120, 150] and teacher.fit_episodes == refits
    assert all(2 <= len(m) <= 3 and m.shape[1] == 3 for m in teacher.fit_means)


def test_alpgmm_with_zero_alp_picks_gaussians_near_uniformly():
    teacher = ALPGMM(np.zeros(2), np.ones(2), 0, fit_rate=40, k_max=4, random_task_ratio=0.0)
    for _ in range(40):
        teacher.update(teacher.sample_task(), 0.5)  # constant reward: every ALP is 0
    assert np.all(teacher.gmm.means[:, -1] == 0.0)
    start = len(teacher.origins)
    for _ in range(4000):
        teacher.sample_task()
    counts = np.bincount(teacher.origins[start:], minlength=len(teacher.gmm))
    assert np.allclose(counts / 4000, 1 / len(teacher.gmm), atol=0.03)


def test_mixture_samples_the_high_alp_gaussian():
    means = np.array([[0.2, 0.2, 0.0], [0.8, 0.8, 0.5]])
    mix = Mixture(means, np.tile(np.eye(3) * 1e-4, (2, 1, 1)))
    rng = np.random.default_rng(0)
    tasks = np.array([mix.sample(rng, np.zeros(2), np.ones(2))[0] for _ in range(200)])
    assert np.allclose(tasks.mean(0), [0.8, 0.8], atol=0.01)


# ------------------------------------------------------------------------------------------------ classroom


def fake_record(param, kcs, final, fit_alps, rewards=None, origins=None, fit_rate=10):
    """A classroom record with 2 epochs of KC vectors and one 2-Gaussian GMM per ALP pair in ``fit_alps``."""
    n_fits = len(fit_alps)
    means = np.zeros((n_fits, 2, 3))
    means[:, :, :2] = 0.5
    means[:, :, 2] = fit_alps
    return {
        "param": np.asarray(param),
        "scores": np.array([0.0, 1.0, final]),
        "kc_vectors": np.asarray(kcs, dtype=np.int16),
        "fit_episodes": fit_rate * np.arange(1, n_fits + 1),
        "fit_sizes": np.full(n_fits, 2),
        "fit_means": means,
        "fit_covariances": np.tile(np.eye(3) * 1e-3, (n_fits, 2, 1, 1)),
        "rewards": np.zeros(fit_rate * (n_fits + 1), np.float32) if rewards is None else rewards,
        "origins": np.zeros(fit_rate * (n_fits + 1), np.int8) if origins is None else origins,
    }


def test_curriculum_filters_low_alp_gaussians_and_records_kept_rewards():
    rewards = np.arange(40, dtype=np.float32) / 100
    origins = np.array([1, 0] * 20, dtype=np.int8)  # even episodes from Gaussian 1, odd from Gaussian 0
    record = fake_record(0, np.zeros((2, 4)), 10, [[0.1, 0.3], [0.05, 0.2], [0.5, 0.1]], rewards, origins)
    cur = extract_curriculum(record, alp_threshold=0.2, fit_rate=10)
    assert len(cur) == 2  # the second GMM has no Gaussian above 0.2 (0.2 is not > 0.2): dropped
    assert np.allclose(cur.gmms[0].means[:, -1], [0.3]) and np.allclose(cur.gmms[1].means[:, -1], [0.5])
    assert cur.mean_rewards[0] == pytest.approx(np.mean(rewards[10:20][0::2]))  # Gaussian 1's episodes
    assert cur.mean_rewards[1] == pytest.approx(np.mean(rewards[30:40][1::2]))  # Gaussian 0's episodes


def small_classroom():
    """4 students: 0 and 3 share the KC vector after epoch 1; 3 scores best; epoch 2 vectors differ."""
    kcs = [
        [[5, 0, 0, 0], [9, 9, 0, 0]],
        [[0, 5, 0, 0], [5, 0, 0, 0]],
        [[0, 0, 5, 0], [0, 0, 9, 10]],
        [[5, 0, 0, 0], [50, 50, 50, 50]],
    ]
    records = [fake_record(i % 2, kc, 10 * (i + 1), [[0.3, 0.4]]) for i, kc in enumerate(kcs)]
    return Classroom(records, fit_rate=10)


def test_knn_finds_an_identical_student_and_compares_at_the_same_epoch():
    room = small_classroom()
    assert room.neighbours(np.array([0, 0, 5, 0]), 0, k=1)[0] == 2
    assert set(room.neighbours(np.array([5, 0, 0, 0]), 0, k=2)) == {0, 3}
    assert room.best_of(room.neighbours(np.array([5, 0, 0, 0]), 0, k=2)) == 3
    # After epoch 2, [5, 0, 0, 0] is student 1's vector, not 0's or 3's.
    assert room.neighbours(np.array([5, 0, 0, 0]), 1, k=1)[0] == 1
    teacher = AGAIN(np.zeros(2), np.ones(2), room, 1, 0, pretrain_epochs=2, k=1)
    teacher.observe_test(np.array([0, 0, 5, 0]))
    assert teacher.expert is None  # still pre-testing after epoch 1
    teacher.observe_test(np.array([5, 0, 0, 0]))
    assert teacher.expert == 1


def test_ground_truth_and_random_selection():
    room = small_classroom()
    gt = AGAIN(np.zeros(2), np.ones(2), room, 0, 0, selection="ground_truth")
    gt.observe_test(np.zeros(4))
    assert gt.expert == 2  # the highest final KC sum among type 0 (students 0 and 2)
    picks = set()
    for seed in range(30):
        rnd = AGAIN(np.zeros(2), np.ones(2), room, 0, seed, selection="random")
        rnd.observe_test(np.zeros(4))
        picks.add(rnd.expert)
    assert picks == {0, 1, 2, 3}


def test_classroom_save_load_round_trip(tmp_path):
    room = small_classroom()
    loaded = Classroom.load(room.save(tmp_path / "room.npz"))
    assert np.array_equal(loaded.kc_vectors, room.kc_vectors) and np.array_equal(loaded.params, room.params)
    assert loaded.curricula[3].mean_rewards == room.curricula[3].mean_rewards


# ------------------------------------------------------------------------------------------------ AGAIN


def test_variant_r_reward_list_holds_expert_rewards_only_and_advances_on_target():
    kc = [[5, 0, 0, 0], [5, 0, 0, 0]]
    room = Classroom([fake_record(0, kc, 10, [[0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])], fit_rate=10)
    teacher = AGAIN(np.zeros(2), np.ones(2), room, 0, 0, r_list_len=3, random_task_ratio=0.8, fit_rate=10, k_max=2)
    for _ in range(30):  # pre-test: ALP-GMM refits at 10, 20, 30
        teacher.update(teacher.sample_task(), 0.0)
    teacher.observe_test(np.array([5, 0, 0, 0]))
    assert teacher.expert == 0 and teacher.expert_index == 0 and len(teacher.mixture) > 2
    assert teacher.target_reward == 0.0  # the fake expert's rewards are all 0
    seen = []
    for _ in range(200):
        if teacher.expert_index != 0:
            break
        teacher.sample_task()
        reward = float(len(seen) + 1)
        if teacher.origins[-1] == EXPERT_ORIGIN:
            seen.append(reward)
        teacher.update(np.full(2, 0.5), reward)
        if teacher.expert_index == 0:
            assert list(teacher.reward_list) == seen
    others = len(teacher.origins) - len(seen)
    assert teacher.expert_index == 1 and others > 0  # uniform / ALP-GMM tasks came in between
    assert len(seen) == 3 and len(teacher.reward_list) == 0  # advanced after 3 expert rewards, list restarted


def test_variant_r_runs_to_the_end_then_relearns_the_last_gaussians():
    kc = [[5, 0, 0, 0], [5, 0, 0, 0]]
    room = Classroom([fake_record(0, kc, 10, [[0.3, 0.4], [0.5, 0.6]])], fit_rate=10)
    teacher = AGAIN(np.zeros(2), np.ones(2), room, 0, 0, r_list_len=2, relearn_every=5, fit_rate=10, k_max=2)
    for _ in range(10):
        teacher.update(teacher.sample_task(), 0.0)
    teacher.observe_test(np.array([5, 0, 0, 0]))
    for _ in range(400):
        teacher.update(teacher.sample_task(), 1.0)
    assert teacher.expert_index == 1 and teacher.stopped_at is not None
    assert np.all(teacher.expert_block.means[:, -1] < 0.5)  # re-estimated from the (zero) observed ALPs


def test_bad_arguments_raise_value_errors_naming_them():
    room = small_classroom()
    with pytest.raises(ValueError, match="lower"):
        ALPGMM(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="random_task_ratio"):
        ALPGMM(np.zeros(2), np.ones(2), random_task_ratio=1.5)
    with pytest.raises(ValueError, match="k_max"):
        ALPGMM(np.zeros(2), np.ones(2), k_max=1)
    with pytest.raises(ValueError, match="fit_rate"):
        ALPGMM(np.zeros(2), np.ones(2), fit_rate=5, k_max=6)
    with pytest.raises(ValueError, match="variant"):
        AGAIN(np.zeros(2), np.ones(2), room, 0, variant="Q")
    with pytest.raises(ValueError, match="tol_ratio"):
        AGAIN(np.zeros(2), np.ones(2), room, 0, tol_ratio=0.0)
    with pytest.raises(ValueError, match="rotation"):
        ClassroomToyEnv(4, rotation=4)
    with pytest.raises(ValueError, match="task"):
        ClassroomToyEnv(4).episode(np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="test_types"):
        ToyConfig(test_types=(5,))


# ------------------------------------------------------------------------------------------------ runs


TINY = dataclasses.replace(
    PAPER.toy,
    n_cells=5,
    episodes=600,
    epoch_len=200,
    score_every=100,
    fit_rate=50,
    k_max=2,
    classroom_per_type=1,
    test_per_type=1,
    test_types=(1,),
    workers=1,
)


def test_paper_scale_stand_in_runs_and_is_deterministic():
    first, second = run_paper(dataclasses.replace(PAPER, toy=TINY), 0), run(TINY, 0)
    assert first.metrics == second.metrics and first.series == second.series
    assert first.metrics["alp_gmm/refits"] == 12
    assert first.metrics["again_ground_truth/same_type_expert"] == 1.0
    assert first.series["again_r/mastery"] != first.series["alp_gmm/mastery"]


def test_full_claims_need_every_arm():
    assert len(BENCHMARK.claims_for("full", BENCHMARK.scales["full"])) == 3
    assert BENCHMARK.claims_for("full", dataclasses.replace(BENCHMARK.scales["full"], arms=("random",))) == ()


def test_parkour_setting_holds_the_official_values_and_refuses_to_run():
    parkour = PAPER.parkour
    assert parkour.epochs == 20 and parkour.test_episodes == 15 * 15
    assert (parkour.task_lower, parkour.task_upper) == ((2.5, 0.0), (7.5, 6.0))
    assert (parkour.k_max, parkour.alpgmm_random_ratio, parkour.k, parkour.pretrain_epochs) == (10, 0.1, 3, 1)
    with pytest.raises(NotImplementedError, match="Box2D Walker-Climber"):
        run_paper(dataclasses.replace(PAPER, setting="parkour"), 0)
    for bad, name in [
        (dict(task_lower=(2.0, 0.0)), "gap_pos"),
        (dict(task_lower=(7.5, 0.0)), "lower"),
        (dict(bodies=("wheel",)), "bodies"),
        (dict(test_episodes=200), "test_episodes"),
        (dict(pretrain_epochs=20), "pretrain_epochs"),
        (dict(env_steps=10_100_000), "env_steps"),
        (dict(lr=0.0), "lr"),
    ]:
        with pytest.raises(ValueError, match=name):
            ParkourConfig(**bad)
    with pytest.raises(ValueError, match="setting"):
        PaperConfig(toy=TINY, setting="mujoco")


# ------------------------------------------------------------------------------------------------ parallelism


def test_scheduler_runs_longest_first_in_this_process_and_returns_job_order():
    costs = [1.0, 3.0, 2.0, 3.0]
    stamps = run_longest_first([(time.perf_counter_ns, ())] * 4, costs, workers=1)
    assert list(np.argsort(stamps)) == [1, 3, 2, 0]  # decreasing cost, ties in job order
    with pytest.raises(ValueError, match="costs"):
        run_longest_first([(time.perf_counter_ns, ())], [1.0, 2.0], workers=1)
    with pytest.raises(ValueError, match="workers"):
        run_longest_first([], [], workers=0)


def test_two_processes_share_the_jobs_and_build_the_same_classroom():
    worker_pool(1).submit(int).result()  # started: the worker takes jobs while this process sleeps in the first
    out = run_longest_first([(time.sleep, (0.5,)), (os.getpid, ()), (os.getpid, ())], [2.0, 1.0, 1.0], workers=2)
    assert out[0] is None and out[1] == out[2] != os.getpid()
    with pytest.raises(ValueError, match="invalid literal"):
        run_longest_first([(int, ("x",)), (int, ("y",))], [1.0, 1.0], workers=2)
    spec = TrainSpec(600, 200, 100, fit_rate=50, k_max=2)
    students = [StudentSpec(5, rotation=r, seed=r) for r in range(4)]
    serial = run_longest_first([(train_alpgmm_student, (s, spec)) for s in students], [1.0] * 4, workers=1)
    parallel = run_longest_first([(train_alpgmm_student, (s, spec)) for s in students], [1.0] * 4, workers=2)
    for one, two in zip(serial, parallel, strict=True):
        assert one.keys() == two.keys()
        assert all(one[k].dtype == two[k].dtype and np.array_equal(one[k], two[k]) for k in one)
    assert Classroom.build(students, spec, workers=2).kc_vectors.tobytes() == Classroom(serial, 50).kc_vectors.tobytes()
