"""Specialists, the data flywheel, homotopy optimisation and the tracking evaluation.

- ``evaluate``: one deterministic episode per reference; success = mean object position error ≤ 5 cm and mean
  rotation error ≤ 30° (the brief), and the official per-step flag d_o ≤ 5 cm (fraction of steps).
- ``Specialist``: PPO on one reference (optionally warm-started from a prior policy); a successful deterministic
  rollout becomes a demonstration (observations, actions) that replays bit for bit.
- ``homotopy_chain``: track τ(λ_1), ..., τ(λ_K = 1) in turn, each warm-started from the previous solution, τ(λ) moving
  the motion and object mass from an easy variant (λ = 0) to the hard reference (λ = 1).
- ``nearest_references``: the k solved train references nearest to a failing one; each gives the chain τ_j → τ_i
  (τ_j's specialist warm-starts τ_i's), the paper's homotopy candidates among other tracking tasks.
- ``Flywheel``: round 0 specialists → demos; generalist RL+IL; round 1 specialists warm-started from the generalist
  on the failures, then homotopy (neighbour chains, then the interpolation chain) on those still failing → more
  demos.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from paperzoo.dextrack.hand_env import HandTrackingVecEnv, RewardConfig
from paperzoo.dextrack.refs import N_HAND, Reference, build_reference
from paperzoo.dextrack.rlil import RLILPPO
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_positive_int

SUCCESS_POS, SUCCESS_ROT = 0.05, np.deg2rad(30.0)


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings (SB3 names) and the env's action space."""

    n_envs: int = 16
    updates: int = 8
    n_epochs: int = 5
    batch_size: int = 160
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    log_std_init: float = -1.0
    net_arch: tuple[int, ...] = (128, 128)
    action_space: str = "cumulative_residual"
    residual_scale: float = 0.04
    finger_residual_scale: float = 0.2
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        for name in ("n_envs", "updates", "n_epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in ("residual_scale", "finger_residual_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


def make_env(refs: list[Reference], n_envs: int, cfg: PPOConfig, sample: bool = False, seed: int = 0):
    """The batched env of ``cfg``'s action space over ``refs``."""
    return HandTrackingVecEnv(
        refs, n_envs, cfg.action_space, cfg.residual_scale, cfg.reward, sample, seed, cfg.finger_residual_scale
    )


def make_ppo(env: HandTrackingVecEnv, cfg: PPOConfig, seed: int, lambda_il: float = 0.0, demos=None) -> RLILPPO:
    """An :class:`RLILPPO` with ``cfg``'s settings: one episode (T steps) per env per update."""
    return RLILPPO(
        "MlpPolicy",
        env,
        lambda_il=lambda_il,
        demos=demos,
        demo_seed=derive(seed, "demos"),
        n_steps=env.horizon,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        learning_rate=cfg.learning_rate,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        policy_kwargs={"net_arch": list(cfg.net_arch), "log_std_init": cfg.log_std_init},
        seed=seed,
        device="cpu",
    )


@dataclass
class Rollout:
    """Deterministic episodes, one per reference: per-ref metrics, observations (R, T, d), actions and qpos."""

    pos_err: np.ndarray
    rot_err: np.ndarray
    step_success: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    qpos: np.ndarray

    @property
    def success(self) -> np.ndarray:
        """Per reference: mean position error ≤ 5 cm and mean rotation error ≤ 30°."""
        return (self.pos_err <= SUCCESS_POS) & (self.rot_err <= SUCCESS_ROT)


def rollout(
    policy: ActorCriticPolicy | None, refs: list[Reference], cfg: PPOConfig, actions: np.ndarray | None = None
) -> Rollout:
    """One episode per reference with the policy's mean action (``None``: zero residual = reference playback;
    ``actions`` (R, T, 10): replay recorded actions)."""
    env = make_env(refs, len(refs), cfg)
    obs = env.reset()
    T = env.horizon
    all_obs, all_act, all_q = [], [], []
    for t in range(T):
        if actions is not None:
            act = actions[:, t]
        elif policy is None:
            act = np.zeros((len(refs), N_HAND), dtype=np.float32)
        else:
            with torch.no_grad():
                act = policy.get_distribution(torch.as_tensor(obs)).distribution.mean.numpy()
            act = np.clip(act, -1.0, 1.0)
        all_obs.append(obs)
        all_act.append(act)
        all_q.append(np.stack([d.qpos.copy() for d in env.datas]))
        obs, _, _, infos = env.step(act)
    return Rollout(
        pos_err=np.array([i["pos_err"] for i in infos]),
        rot_err=np.array([i["rot_err"] for i in infos]),
        step_success=np.array([i["step_success"] for i in infos]),
        obs=np.stack(all_obs, 1),
        actions=np.stack(all_act, 1).astype(np.float32),
        qpos=np.stack(all_q, 1),
    )


def evaluate(policy: ActorCriticPolicy | None, refs: list[Reference], cfg: PPOConfig) -> dict[str, float]:
    """Success rate, mean position error (cm), rotation error (deg) and per-step success over ``refs``."""
    r = rollout(policy, refs, cfg)
    return {
        "success": float(r.success.mean()),
        "pos_err_cm": float(100 * r.pos_err.mean()),
        "rot_err_deg": float(np.rad2deg(r.rot_err).mean()),
        "step_success": float(r.step_success.mean()),
    }


@dataclass
class Demo:
    """A demonstration: the reference, the observations and actions of a successful deterministic rollout."""

    ref: Reference
    obs: np.ndarray
    actions: np.ndarray


class Specialist:
    """PPO on one reference, ``cfg.updates`` updates of ``cfg.n_envs`` episodes, optionally warm-started."""

    def __init__(self, ref: Reference, cfg: PPOConfig, seed: int, init: dict | None = None) -> None:
        self.ref, self.cfg, self.seed = ref, cfg, seed
        self.model = make_ppo(make_env([ref], cfg.n_envs, cfg), cfg, seed)
        if init is not None:
            self.model.policy.load_state_dict(init)

    def solve(self) -> tuple[bool, Demo | None]:
        """Train, then roll out deterministically; a success is returned as a demo."""
        self.model.learn(self.cfg.updates * self.cfg.n_envs * self.ref.horizon)
        r = rollout(self.model.policy, [self.ref], self.cfg)
        ok = bool(r.success[0])
        return ok, (Demo(self.ref, r.obs[0], r.actions[0]) if ok else None)


def homotopy_candidates(ref: Reference, lambdas: tuple[float, ...]) -> list[Reference]:
    """The chain τ(λ_1), ..., τ(λ_K): interpolations between ``ref``'s easy variant and ``ref`` itself (only ``ref``'s
    own parameters: no other reference, hence no test reference, can enter)."""
    if not lambdas or lambdas[-1] != 1.0 or any(not 0.0 <= x <= 1.0 for x in lambdas):
        raise ValueError(f"lambdas must lie in [0, 1] and end at 1.0, got {lambdas}")
    easy = ref.params.easy_variant()
    return [build_reference(ref.params.interpolate(easy, lam), ref.horizon) for lam in lambdas]


def nearest_references(ref: Reference, pool: dict[int, Reference], k: int) -> list[int]:
    """The keys of the ``k`` references of ``pool`` nearest to ``ref``: Euclidean distance of the range-scaled
    parameters (:meth:`RefParams.descriptor`), nearest first, ties broken by key; ``ref`` itself is never returned."""
    check_non_negative("k", k)
    target = ref.params.descriptor()
    dist = {j: float(np.linalg.norm(r.params.descriptor() - target)) for j, r in pool.items() if r.params != ref.params}
    return sorted(dist, key=lambda j: (dist[j], j))[:k]


@dataclass
class ChainResult:
    """The outcome of a homotopy chain: success on the last stage (the reference), its demo, the last policy's
    weights and each stage's success (did the easy variant get solved? did the solution carry over?)."""

    solved: bool
    demo: Demo | None
    state: dict
    stages: list[bool]


def homotopy_chain(
    ref: Reference, lambdas: tuple[float, ...], cfg: PPOConfig, seed: int, init: dict | None = None
) -> ChainResult:
    """Solve the chain's references in turn, each specialist warm-started from the previous one; the last (λ = 1)
    is ``ref``. Stage k of a chain is seeded ``derive(seed, "homotopy", k)``; ``lambdas = (1.0,)`` is direct tracking
    (a :class:`Specialist` seeded ``seed``)."""
    state, stages = init, []
    for k, stage in enumerate(homotopy_candidates(ref, lambdas)):
        spec = Specialist(stage, cfg, derive(seed, "homotopy", k) if len(lambdas) > 1 else seed, state)
        ok, demo = spec.solve()
        state = spec.model.policy.state_dict()
        stages.append(ok)
    return ChainResult(ok, Demo(ref, demo.obs, demo.actions) if ok else None, state, stages)


def demo_arrays(demos: list[Demo]) -> tuple[np.ndarray, np.ndarray]:
    """All demos' (observation, action) pairs stacked."""
    if not demos:
        return np.zeros((0, 1), np.float32), np.zeros((0, N_HAND), np.float32)
    return np.concatenate([d.obs for d in demos]), np.concatenate([d.actions for d in demos])


@dataclass(frozen=True)
class FlywheelConfig:
    """Budgets of the flywheel: specialists, generalist, homotopy and BC."""

    specialist: PPOConfig = field(default_factory=lambda: PPOConfig(updates=15))
    generalist: PPOConfig = field(default_factory=lambda: PPOConfig(n_envs=32, updates=40))
    lambda_il: float = 1.0
    homotopy_lambdas: tuple[float, ...] = (0.0, 0.33, 0.67, 1.0)
    homotopy_neighbours: int = 2
    warm_updates: int = 15

    def __post_init__(self) -> None:
        check_non_negative("lambda_il", self.lambda_il)
        check_non_negative("homotopy_neighbours", self.homotopy_neighbours)
        check_positive_int("warm_updates", self.warm_updates)


class Flywheel:
    """The data flywheel on the train references: demos grow over rounds (see module docstring). ``solutions`` keeps
    the weights of every successful specialist: the solved ends of the neighbour homotopy chains."""

    def __init__(self, refs: list[Reference], cfg: FlywheelConfig, seed: int) -> None:
        self.refs, self.cfg, self.seed = refs, cfg, seed
        self.demos: dict[int, Demo] = {}
        self.solutions: dict[int, dict] = {}
        self.homotopy: dict[str, int] = {"attempts": 0, "solved": 0, "neighbour_solved": 0, "easy_solved": 0}

    def _keep(self, i: int, ok: bool, demo: Demo | None, state: dict) -> bool:
        if ok:
            self.demos[i], self.solutions[i] = demo, state
        return ok

    def round0(self) -> int:
        """Specialists from scratch on every train reference; returns the number of demos."""
        for i, ref in enumerate(self.refs):
            spec = Specialist(ref, self.cfg.specialist, derive(self.seed, "specialist", i))
            self._keep(i, *spec.solve(), spec.model.policy.state_dict())
        return len(self.demos)

    def train_generalist(self, lambda_il: float, tag: str) -> RLILPPO:
        """A generalist on all train references (random reference per episode) with the current demos."""
        g = self.cfg.generalist
        env = make_env(self.refs, g.n_envs, g, sample=True, seed=derive(self.seed, "refs", tag))
        model = make_ppo(env, g, derive(self.seed, "generalist"), lambda_il, demo_arrays(list(self.demos.values())))
        model.learn(g.updates * g.n_envs * env.horizon)
        return model

    def solve_by_homotopy(self, i: int, cfg: PPOConfig, prior: dict | None) -> bool:
        """Homotopy optimisation of the failing reference ``i``; the first chain that succeeds is kept. Candidates:
        (1) τ_j → τ_i for the ``homotopy_neighbours`` nearest solved train references j (τ_j's specialist weights
        warm-start τ_i's); (2) the interpolation chain τ(λ_1) → ... → τ(1) = τ_i, warm-started from ``prior``.
        Only train references are ever candidates."""
        ref, h = self.refs[i], self.homotopy
        h["attempts"] += 1
        pool = {j: self.refs[j] for j in self.solutions}
        for j in nearest_references(ref, pool, self.cfg.homotopy_neighbours):
            spec = Specialist(ref, cfg, derive(self.seed, "neighbour", i, j), self.solutions[j])
            if self._keep(i, *spec.solve(), spec.model.policy.state_dict()):
                h["solved"] += 1
                h["neighbour_solved"] += 1
                return True
        chain = homotopy_chain(ref, self.cfg.homotopy_lambdas, cfg, derive(self.seed, "chain", i), prior)
        h["easy_solved"] += int(chain.stages[0])
        h["solved"] += int(chain.solved)
        return self._keep(i, chain.solved, chain.demo, chain.state)

    def round1(self, generalist: RLILPPO) -> int:
        """Re-solve the failing references from the generalist as prior, then homotopy on the still-failing."""
        prior = generalist.policy.state_dict()
        spec = replace(self.cfg.specialist, updates=self.cfg.warm_updates)
        failing = [i for i in range(len(self.refs)) if i not in self.demos]
        for i in failing:
            warm = Specialist(self.refs[i], spec, derive(self.seed, "warm", i), prior)
            self._keep(i, *warm.solve(), warm.model.policy.state_dict())
        for i in failing:
            if i not in self.demos:
                self.solve_by_homotopy(i, spec, prior)
        return len(self.demos)
