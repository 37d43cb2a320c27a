"""AGAIN: ALP-GMM And Inferred progress Niches (Portelas et al., 2020, official ``teachers/algos/again.py``).

1. Pre-test: ALP-GMM (uniform-task ratio 0.1) for ``pretrain_epochs`` epochs; the KC vector after the last of
   them is the new student's test vector.
2. Expert selection: the ``k`` classroom students nearest (ball-tree kNN) by KC vector *after the same epoch*;
   the one with the highest final KC sum is the expert (ablations: a uniformly random classroom student, or
   the best among the students of the same type: the ground-truth neighbours).
3. Curriculum replay over the mixture ``expert GMM (+ current ALP-GMM Gaussians if use_alpgmm)``: a task is
   uniform with probability ``random_task_ratio`` (only with ``use_alpgmm``), else drawn from a Gaussian chosen
   in proportion to its mean ALP. The expert GMM index ``i`` moves on

   - R: when the mean of the last ``r_list_len`` rewards of tasks drawn from expert Gaussians reaches
     ``tol_ratio x`` the reward recorded for GMM ``i`` (the list restarts at every step);
   - T: with time, ``i = min(episode // fit_rate, last)`` every ``fit_rate`` episodes;
   - P: never: all expert Gaussians are pooled in one mixture.

   With ``stop_r`` (R and T), once the last expert GMM is reached its Gaussians stay in the mixture but their
   ALP coordinate is re-estimated every ``relearn_every`` expert tasks as the mean ALP of the last 100 tasks
   each served (without ``use_alpgmm``: after ``fit_rate`` episodes on the last GMM, ALP-GMM takes over).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from paperzoo.again.alp_gmm import ALPGMM, RANDOM_ORIGIN, Mixture, check_bounds
from paperzoo.again.classroom import Classroom, Curriculum
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int, check_range

VARIANTS = ("R", "T", "P")
SELECTIONS = ("knn", "random", "ground_truth")
EXPERT_ORIGIN, ALPGMM_ORIGIN = 0, 1
ALP_WINDOW = 100  # tasks per last-expert Gaussian whose ALPs re-estimate it after the curriculum (official)


class AGAIN:
    """The AGAIN teacher: ``sample_task()``, ``update(task, reward)``, ``observe_test(kc_vector)`` per epoch."""

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        classroom: Classroom,
        student_param: int,
        seed: int = 0,
        *,
        variant: str = "R",
        selection: str = "knn",
        use_alpgmm: bool = True,
        stop_r: bool = True,
        pretrain_epochs: int = 1,
        k: int = 5,
        random_task_ratio: float = 0.02,
        pretest_random_ratio: float = 0.1,
        r_list_len: int = 10,
        tol_ratio: float = 1.0,
        relearn_every: int = 100,
        fit_rate: int = 250,
        k_max: int = 10,
    ) -> None:
        self.lower, self.upper = check_bounds(lower, upper)
        check_one_of("variant", variant, VARIANTS)
        check_one_of("selection", selection, SELECTIONS)
        check_range("random_task_ratio", random_task_ratio, 0.0, 1.0)
        check_positive("tol_ratio", tol_ratio)
        for name, value in (("pretrain_epochs", pretrain_epochs), ("k", k), ("r_list_len", r_list_len)):
            check_positive_int(name, value)
        check_positive_int("relearn_every", relearn_every)
        self.classroom, self.student_param = classroom, student_param
        self.variant, self.selection, self.use_alpgmm, self.stop_r = variant, selection, use_alpgmm, stop_r
        self.pretrain_epochs, self.k, self.random_task_ratio = pretrain_epochs, k, random_task_ratio
        self.r_list_len, self.tol_ratio, self.relearn_every, self.fit_rate = (
            r_list_len,
            tol_ratio,
            relearn_every,
            fit_rate,
        )
        seeds = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(seeds[0])
        self.alpgmm = ALPGMM(
            self.lower, self.upper, np.random.default_rng(seeds[1]),
            fit_rate=fit_rate, k_max=k_max, random_task_ratio=pretest_random_ratio,
        )  # fmt: skip
        self.episodes = 0
        self.test_epochs = 0
        self.expert: int | None = None  # classroom index of the selected expert
        self.curriculum: Curriculum | None = None
        self.expert_index = -1
        self.expert_block: Mixture | None = None
        self.mixture: Mixture | None = None
        self.stopped_at: int | None = None  # episode at which the expert curriculum ended (stop_r)
        self.handover_in: int | None = None  # episodes left before ALP-GMM takes over (stop_r, no use_alpgmm)
        self.reward_list: deque[float] = deque(maxlen=r_list_len)
        self.target_reward = np.inf
        self.origins: list[int] = []
        self._alp_windows: list[deque[float]] = []
        self._since_relearn = 0
        self._last_gaussian = -1

    @property
    def pretesting(self) -> bool:
        """Whether the pre-test (plain ALP-GMM) phase is still running."""
        return self.curriculum is None

    # ------------------------------------------------------------------------------------------- selection
    def select_expert(self, kc_vector: np.ndarray) -> int:
        """The classroom index of the expert for a student with this KC vector after the pre-test."""
        room = self.classroom
        if self.selection == "random":
            return int(self.rng.integers(len(room)))
        if self.selection == "ground_truth":
            same = np.flatnonzero(room.params == self.student_param)
            if len(same) == 0:
                raise ValueError(f"the classroom has no student of type {self.student_param}")
            return room.best_of(same)
        return room.best_of(room.neighbours(kc_vector, self.pretrain_epochs - 1, self.k))

    def observe_test(self, kc_vector: np.ndarray) -> None:
        """The student's KC vector at the end of an epoch; after the pre-test epochs, pick the expert."""
        self.test_epochs += 1
        if self.test_epochs != self.pretrain_epochs:
            return
        self.expert = self.select_expert(kc_vector)
        self.curriculum = self.classroom.curricula[self.expert]
        self._advance()

    # ------------------------------------------------------------------------------------------- teaching
    @property
    def _last(self) -> int:
        assert self.curriculum is not None
        return len(self.curriculum) - 1

    def _advance(self) -> None:
        """Move to the next expert GMM (R), the time-aligned one (T) or pool them all (P)."""
        gmms = self.curriculum.gmms
        if self.variant == "P":
            self.expert_block = Mixture.concat(*gmms)
        else:
            if self.variant == "T":
                self.expert_index = min(self.episodes // self.fit_rate, self._last)
            else:
                self.expert_index = min(self.expert_index + 1, self._last)
                self.target_reward = self.curriculum.mean_rewards[self.expert_index] * self.tol_ratio
                self.reward_list.clear()
            g = gmms[self.expert_index]
            self.expert_block = Mixture(g.means.copy(), g.covariances.copy())
        self._rebuild()

    def _rebuild(self) -> None:
        parts = [self.expert_block] if self.expert_block is not None and len(self.expert_block) else []
        if self.use_alpgmm and self.alpgmm.gmm is not None:
            parts.append(self.alpgmm.gmm)
        self.mixture = Mixture.concat(*parts)

    def sample_task(self) -> np.ndarray:
        """ALP-GMM's task in the pre-test; then uniform (prob. ``random_task_ratio``) or from the mixture."""
        if self.pretesting:
            return self.alpgmm.sample_task()
        if self.use_alpgmm and self.rng.random() < self.random_task_ratio:
            self.origins.append(RANDOM_ORIGIN)
            self._last_gaussian = -1
            return self.rng.uniform(self.lower, self.upper)
        task, g = self.mixture.sample(self.rng, self.lower, self.upper)
        n_expert = 0 if self.expert_block is None else len(self.expert_block)
        self.origins.append(EXPERT_ORIGIN if g < n_expert else ALPGMM_ORIGIN)
        self._last_gaussian = g if g < n_expert else -1
        return task

    def update(self, task: np.ndarray, reward: float) -> bool:
        """Feed the episode back; returns whether the sampling mixture changed."""
        self.episodes += 1
        if self.pretesting:
            return self.alpgmm.update(task, reward)
        changed = False
        if self.stopped_at is None and self.variant == "R":
            if self.origins[-1] == EXPERT_ORIGIN:  # only rewards of expert-sampled tasks
                self.reward_list.append(float(reward))
            full = len(self.reward_list) == self.r_list_len
            if full and np.mean(self.reward_list) >= self.target_reward and self.expert_index < self._last:
                self._advance()
                changed = True
        elif self.stopped_at is None and self.variant == "T":
            if self.episodes % self.fit_rate == 0 and self.expert_index < self._last:
                self._advance()
                changed = True
        if self.use_alpgmm and self.alpgmm.update(task, reward):
            changed = True
        if self.stopped_at is not None and self.use_alpgmm and self._last_gaussian >= 0:
            self._alp_windows[self._last_gaussian].append(self.alpgmm.alps[-1])
            self._since_relearn += 1
            if self._since_relearn == self.relearn_every:
                self._since_relearn = 0
                for g, window in enumerate(self._alp_windows):
                    self.expert_block.means[g, -1] = np.mean(window) if window else 0.0
                changed = True
        if self.handover_in is not None:
            self.handover_in -= 1
            if self.handover_in == 0:
                self.expert_block, self.handover_in = None, None
                changed = True
        if self.variant != "P" and self.stop_r and self.stopped_at is None and self.expert_index == self._last:
            self._stop()
            changed = True
        if changed:
            self._rebuild()
        return changed

    def _stop(self) -> None:
        """The expert curriculum is over: re-estimate its last Gaussians (use_alpgmm) or hand over to ALP-GMM."""
        self.stopped_at = self.episodes
        if self.use_alpgmm:
            self._alp_windows = [deque(maxlen=ALP_WINDOW) for _ in range(len(self.expert_block))]
        else:
            self.use_alpgmm, self.handover_in = True, self.fit_rate
