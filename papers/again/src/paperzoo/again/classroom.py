"""The classroom: previously trained ALP-GMM students, their knowledge-component (KC) vectors and curricula.

A classroom student is a toy student trained from scratch by ALP-GMM. It keeps its type (rotation or start
cell), its KC vector at the end of every epoch, its final score and ALP-GMM's history (every refitted GMM,
and per episode the reward and the Gaussian the task came from). As the official classroom maker, a student
enters only if its score did not drop after the first epoch and its curriculum keeps at least one GMM.

Expert curriculum of a student (official ``load_expert_trajectory``): each GMM ``t`` of its history keeps the
Gaussians whose mean ALP exceeds ``alp_threshold``; a GMM left empty is dropped; a kept GMM records the mean
reward of the last 50 episodes of its window ``[e_t, e_t + fit_rate)`` whose task came from a kept Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperzoo.again.alp_gmm import ALPGMM, Mixture
from paperzoo.again.pool import run_longest_first
from paperzoo.again.toy_env import ClassroomToyEnv
from paperzoo.shared.validate import check_positive_int, check_range

REWARD_WINDOW = 50


def train(
    env: ClassroomToyEnv, teacher: object, episodes: int, epoch_len: int, score_every: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train ``env``'s student on ``teacher``'s tasks for ``episodes`` episodes.

    Returns the score (% mastered cells) after every ``score_every`` episodes (first entry: episode 0) and the
    KC vectors after every ``epoch_len`` episodes; a teacher with ``observe_test`` receives each KC vector then.
    """
    for name, value in (("episodes", episodes), ("epoch_len", epoch_len), ("score_every", score_every)):
        check_positive_int(name, value)
    observe = getattr(teacher, "observe_test", None)
    scores, kcs = [env.score()], []
    for i in range(1, episodes + 1):
        task = teacher.sample_task()
        teacher.update(task, env.episode(task))
        if i % score_every == 0:
            scores.append(env.score())
        if i % epoch_len == 0:
            kcs.append(env.kc_vector())
            if observe is not None:
                observe(kcs[-1])
    return np.asarray(scores), np.asarray(kcs, dtype=np.int16)


@dataclass(frozen=True)
class StudentSpec:
    """One toy student to train: grid size, type (``rotation`` for v1 or ``start_cell`` for v2), seed."""

    n_cells: int
    rotation: int = 0
    start_cell: int | None = None
    seed: int = 0

    def make_env(self) -> ClassroomToyEnv:
        return ClassroomToyEnv(self.n_cells, rotation=self.rotation, start_cell=self.start_cell)


@dataclass(frozen=True)
class TrainSpec:
    """How classroom students are trained: length, epoch, score interval and ALP-GMM's settings."""

    episodes: int
    epoch_len: int
    score_every: int
    fit_rate: int = 250
    k_max: int = 10
    random_task_ratio: float = 0.1

    def __post_init__(self) -> None:
        for name in ("episodes", "epoch_len", "score_every", "fit_rate", "k_max"):
            check_positive_int(name, getattr(self, name))
        check_range("random_task_ratio", self.random_task_ratio, 0.0, 1.0)
        if self.episodes % self.fit_rate or self.episodes % self.epoch_len:
            raise ValueError(f"episodes ({self.episodes}) must be a multiple of fit_rate and epoch_len")


def train_alpgmm_student(student: StudentSpec, spec: TrainSpec) -> dict[str, np.ndarray]:
    """Train one student with ALP-GMM from scratch; its record (scores, KC vectors, ALP-GMM history)."""
    env = student.make_env()
    teacher = ALPGMM(
        np.zeros(2),
        np.ones(2),
        student.seed,
        fit_rate=spec.fit_rate,
        k_max=spec.k_max,
        random_task_ratio=spec.random_task_ratio,
    )
    scores, kcs = train(env, teacher, spec.episodes, spec.epoch_len, spec.score_every)
    dim = len(teacher.lower) + 1
    n_fits = len(teacher.fit_episodes)
    means = np.zeros((n_fits, spec.k_max, dim))
    covs = np.zeros((n_fits, spec.k_max, dim, dim))
    sizes = np.zeros(n_fits, dtype=np.int64)
    for t, (m, c) in enumerate(zip(teacher.fit_means, teacher.fit_covariances, strict=True)):
        sizes[t] = len(m)
        means[t, : len(m)], covs[t, : len(m)] = m, c
    return {
        "param": np.asarray(env.student_param),
        "scores": scores,
        "kc_vectors": kcs,
        "fit_episodes": np.asarray(teacher.fit_episodes),
        "fit_sizes": sizes,
        "fit_means": means,
        "fit_covariances": covs,
        "rewards": np.asarray(teacher.rewards, dtype=np.float32),
        "origins": np.asarray(teacher.origins, dtype=np.int8),
    }


@dataclass(frozen=True)
class Curriculum:
    """An expert curriculum: the filtered GMMs in order and each one's recorded mean reward."""

    gmms: tuple[Mixture, ...]
    mean_rewards: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.gmms)


def extract_curriculum(record: dict[str, np.ndarray], alp_threshold: float, fit_rate: int) -> Curriculum:
    """The student's expert curriculum (module docstring): high-ALP Gaussians and their reward targets."""
    gmms, targets = [], []
    rewards, origins = record["rewards"], record["origins"]
    for episode, size, means, covs in zip(
        record["fit_episodes"], record["fit_sizes"], record["fit_means"], record["fit_covariances"], strict=True
    ):
        keep = np.flatnonzero(means[:size, -1] > alp_threshold)
        if len(keep) == 0:
            continue
        window = slice(int(episode), int(episode) + fit_rate)
        from_kept = np.isin(origins[window], keep)
        # A GMM whose high-ALP Gaussians never served a task in its window: its window's last 50 rewards (the
        # official mean of an empty list would be NaN and freeze AGAIN-R on that GMM for ever).
        pool = rewards[window][from_kept] if from_kept.any() else rewards[window]
        gmms.append(Mixture(means[keep], covs[keep]))
        # The last GMM (fitted on the run's final episode) has no window: no target, and none is needed (AGAIN-R
        # never advances past its last GMM).
        targets.append(float(np.mean(pool[-REWARD_WINDOW:])) if len(pool) else math.nan)
    return Curriculum(tuple(gmms), tuple(targets))


class Classroom:
    """Trained students: ``params (n,)``, ``kc_vectors (n, epochs, cells)``, ``final_scores (n,)`` and records."""

    def __init__(self, records: Sequence[dict[str, np.ndarray]], fit_rate: int, alp_threshold: float = 0.2) -> None:
        check_positive_int("fit_rate", fit_rate)
        check_range("alp_threshold", alp_threshold, 0.0, 1.0)
        curricula = [extract_curriculum(r, alp_threshold, fit_rate) for r in records]
        kept = [i for i, r in enumerate(records) if r["scores"][-1] >= r["scores"][1] and len(curricula[i]) > 0]
        if not kept:
            raise ValueError("no classroom student progressed and kept a non-empty curriculum")
        self.records = [records[i] for i in kept]
        self.curricula = [curricula[i] for i in kept]
        self.fit_rate, self.alp_threshold = fit_rate, alp_threshold
        self.params = np.array([int(r["param"]) for r in self.records])
        self.kc_vectors = np.stack([r["kc_vectors"] for r in self.records]).astype(np.float64)
        self.final_scores = np.array([float(r["scores"][-1]) for r in self.records])
        self.n_built = len(records)

    def __len__(self) -> int:
        return len(self.records)

    def neighbours(self, kc_vector: np.ndarray, epoch_index: int, k: int) -> np.ndarray:
        """Indices of the ``k`` students whose KC vector after epoch ``epoch_index + 1`` is nearest (ball tree)."""
        from sklearn.neighbors import NearestNeighbors

        check_range("epoch_index", epoch_index, 0, self.kc_vectors.shape[1] - 1)
        vectors = self.kc_vectors[:, epoch_index]
        if np.shape(kc_vector) != vectors.shape[1:]:
            raise ValueError(f"kc_vector must have shape {vectors.shape[1:]}, got {np.shape(kc_vector)}")
        tree = NearestNeighbors(n_neighbors=min(k, len(self)), algorithm="ball_tree").fit(vectors)
        return tree.kneighbors(np.asarray(kc_vector, dtype=np.float64)[None])[1][0]

    def best_of(self, candidates: np.ndarray) -> int:
        """The candidate with the highest final KC sum (official: the sum of its last test vector)."""
        finals = self.kc_vectors[candidates, -1].sum(axis=1)
        return int(candidates[int(np.argmax(finals))])

    def save(self, path: str | Path) -> Path:
        """Write the raw student records to one ``.npz`` (no pickle); :meth:`load` rebuilds the classroom."""
        path = Path(path)
        arrays = {f"{i}/{key}": value for i, r in enumerate(self.records) for key, value in r.items()}
        np.savez_compressed(path, fit_rate=self.fit_rate, alp_threshold=self.alp_threshold, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Classroom:
        """The classroom saved by :meth:`save`."""
        with np.load(path) as data:
            records: dict[int, dict[str, np.ndarray]] = {}
            for name in data.files:
                if "/" in name:
                    i, key = name.split("/", 1)
                    records.setdefault(int(i), {})[key] = data[name]
            return cls([records[i] for i in sorted(records)], int(data["fit_rate"]), float(data["alp_threshold"]))

    @classmethod
    def build(
        cls, students: Sequence[StudentSpec], spec: TrainSpec, workers: int = 2, alp_threshold: float = 0.2
    ) -> Classroom:
        """Train every student with ALP-GMM (on ``workers`` processes, this one included) and keep those that
        qualify; the records do not depend on ``workers`` (:mod:`paperzoo.again.pool`)."""
        jobs = [(train_alpgmm_student, (s, spec)) for s in students]
        records = run_longest_first(jobs, [float(spec.episodes)] * len(jobs), workers)
        return cls(records, spec.fit_rate, alp_threshold)
