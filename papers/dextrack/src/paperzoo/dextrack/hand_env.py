"""The tracking task in MuJoCo: a code-generated fly gripper (Tier A), the official tracking reward, a Gymnasium env
and a batched stable-baselines3 ``VecEnv`` over N ``MjData``.

Control: PD position targets at 20 Hz (10 physics steps of 5 ms). Actions a_t ∈ [-1, 1]^10:

- ``"cumulative_residual"`` (official default, kinematic bias): b_t = b_{t-1} + s·a_t, b_{-1} = 0,
  target = ĥ_{t+1} + b_t;
- ``"relative"``: target = q_t + s·a_t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from paperzoo.dextrack.refs import (
    FINGER_BASE_RADIUS,
    LINK1,
    LINK2,
    N_HAND,
    PALM_HALF_HEIGHT,
    PALM_REST,
    TIP_RADIUS,
    Reference,
)
from paperzoo.shared.validate import check_positive

ACTION_SPACES = ("cumulative_residual", "relative")
N_FINGERS = 3
CONTROL_SUBSTEPS, TIMESTEP = 10, 0.005


@dataclass(frozen=True)
class RewardConfig:
    """Coefficients of the official ``compute_hand_reward_tracking`` (defaults: the official task config).

    ``pi_constant``: the official code writes 3.14 where π would be expected; 3.14 keeps our reward equal to it.
    """

    c_trans: float = 0.6  # hand_pose_guidance_glb_trans_coef
    c_rot: float = 0.1  # hand_pose_guidance_glb_rot_coef
    c_finger: float = 0.1  # hand_pose_guidance_fingerpose_coef
    c_delta: float = 0.5  # rew_delta_hand_pose_coef
    c_finger_obj: float = 0.5  # rew_finger_obj_dist_coef
    pi_constant: float = 3.14
    contact_dist: float = 0.12  # per finger, and palm-object
    success_dist: float = 0.05


def quat_distance(q: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """θ = 2·asin(min(1, ‖vec(q ⊗ q_ref*)‖)) for batches of ``w, x, y, z`` quaternions (sign-invariant)."""
    w1, v1 = q[..., :1], q[..., 1:]
    w2, v2 = q_ref[..., :1], -q_ref[..., 1:]
    vec = w1 * v2 + w2 * v1 + np.cross(v1, v2)
    return 2.0 * np.arcsin(np.minimum(1.0, np.linalg.norm(vec, axis=-1)))


def tracking_reward(
    obj_pos: np.ndarray,
    obj_quat: np.ndarray,
    ref_obj_pos: np.ndarray,
    ref_obj_quat: np.ndarray,
    palm_pos: np.ndarray,
    tip_pos: np.ndarray,
    hand_q: np.ndarray,
    ref_hand_q: np.ndarray,
    cfg: RewardConfig = RewardConfig(),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The official tracking reward (non-goal-conditioned branch, orientation term on, velocity terms off), batched.

    d_o = ‖p − p̂‖, θ_o = quat_distance; d_h = min(‖p − p_palm‖, 0.5); d_f = min(Σ_f ‖p − p_tip‖, 0.6·n_f), zeroed when
    d_h > 0.12; Δ = c_tr‖Δwrist_pos‖₁ + c_rot‖Δwrist_rot‖₁ + c_fi‖Δfingers‖₁; contact = [d_f ≤ 0.12 n_f] ∧ [d_h ≤ 0.12];
    r_obj = contact·((0.9 − 2 d_o) + 0.33(π' − θ_o));
    bonus = contact·[d_o ≤ 0.05]/(1 + 10 d_o) + [θ_o ≤ 5°]/(1 + 5 θ_o);
    r = −c_Δ·Δ − c_fo·(d_f + 2 d_h) + r_obj + bonus. Shapes: (N, 3), (N, 4), (N, 3), (N, 4), (N, 3), (N, F, 3),
    (N, 10), (N, 10). Returns r (N,) and the terms.
    """
    n_f = tip_pos.shape[-2]
    d_o = np.linalg.norm(obj_pos - ref_obj_pos, axis=-1)
    theta = quat_distance(obj_quat, ref_obj_quat)
    d_h = np.minimum(np.linalg.norm(obj_pos - palm_pos, axis=-1), 0.5)
    d_f = np.minimum(np.linalg.norm(obj_pos[:, None] - tip_pos, axis=-1).sum(-1), 0.6 * n_f)
    d_f = np.where(d_h > cfg.contact_dist, 0.0, d_f)
    diff = np.abs(hand_q - ref_hand_q)
    delta = cfg.c_trans * diff[:, :3].sum(-1) + cfg.c_rot * diff[:, 3:4].sum(-1) + cfg.c_finger * diff[:, 4:].sum(-1)
    contact = (d_f <= cfg.contact_dist * n_f) & (d_h <= cfg.contact_dist)
    r_obj = contact * ((0.9 - 2.0 * d_o) + 0.33 * (cfg.pi_constant - theta))
    bonus = contact * (d_o <= cfg.success_dist) / (1.0 + 10.0 * d_o) + (theta <= np.deg2rad(5.0)) / (1.0 + 5.0 * theta)
    reward = -cfg.c_delta * delta - cfg.c_finger_obj * (d_f + 2.0 * d_h) + r_obj + bonus
    return reward, {"d_o": d_o, "theta": theta, "d_h": d_h, "d_f": d_f, "contact": contact.astype(np.float64)}


def build_model(size: float, mass: float, friction: float) -> mujoco.MjModel:
    """The Tier A scene with ``mujoco.MjSpec``: a gravity-compensated fly palm (3 slides + yaw), 3 fingers × 2
    hinges, 10 position actuators, a free box of half-width ``size`` on the floor."""
    spec = mujoco.MjSpec()
    spec.option.timestep = TIMESTEP
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1, 1, 0.1], friction=[1.0, 0.005, 0.0001])
    palm = spec.worldbody.add_body(name="palm", pos=PALM_REST.tolist(), gravcomp=1.0)
    for name, axis in (("x", [1, 0, 0]), ("y", [0, 1, 0]), ("z", [0, 0, 1])):
        palm.add_joint(name=f"palm_{name}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis, damping=40.0)
    palm.add_joint(name="palm_yaw", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1], damping=1.0)
    palm.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.07, PALM_HALF_HEIGHT, 0], mass=0.4, contype=0)
    palm.add_site(name="palm_site", pos=[0, 0, -PALM_HALF_HEIGHT])
    for k in range(N_FINGERS):
        phi = 2 * np.pi * k / N_FINGERS
        axis = [-np.sin(phi), np.cos(phi), 0.0]
        base = [FINGER_BASE_RADIUS * np.cos(phi), FINGER_BASE_RADIUS * np.sin(phi), -PALM_HALF_HEIGHT]
        link = palm.add_body(name=f"f{k}_1", pos=base, gravcomp=1.0)
        link.add_joint(name=f"f{k}_j1", type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis, range=[-0.3, 1.2], damping=0.2)
        link.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0, 0, 0, -LINK1], size=[TIP_RADIUS, 0, 0])
        tip = link.add_body(name=f"f{k}_2", pos=[0, 0, -LINK1], gravcomp=1.0)
        tip.add_joint(name=f"f{k}_j2", type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis, range=[-0.3, 1.2], damping=0.2)
        tip.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0, 0, 0, -LINK2], size=[TIP_RADIUS, 0, 0])
        tip.add_site(name=f"tip{k}", pos=[0, 0, -LINK2])
    gains = [1500.0] * 3 + [20.0] + [4.0] * 6
    for j, kp in zip(range(N_HAND), gains, strict=True):
        joint = spec.joints[j]
        act = spec.add_actuator(name=f"a_{joint.name}", target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gainprm[0] = kp
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.biasprm[1] = -kp
    obj = spec.worldbody.add_body(name="object", pos=[0, 0, size])
    obj.add_freejoint(name="object_free")
    obj.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[size] * 3, mass=mass, friction=[friction, 0.005, 0.0001])
    return spec.compile()


def obs_dim() -> int:
    """Length of the observation vector (see :meth:`HandTrackingVecEnv._observe`)."""
    return 10 + 10 + 9 + 3 + 3 + 4 + 6 + 10 + 3 + 4 + 10 + 3 + 10 + 1 + 3


class HandTrackingVecEnv(VecEnv):
    """N tracking envs stepped together: one ``MjModel`` per object, one ``MjData`` per env, batched numpy
    observations and rewards. Each env tracks ``refs[i % len(refs)]`` (or a random one per episode if
    ``sample_refs``); episodes last T control steps (truncation), then the env resets itself (SB3 convention).
    """

    def __init__(
        self,
        refs: list[Reference],
        n_envs: int,
        action_space: str = "cumulative_residual",
        residual_scale: float = 0.04,
        reward: RewardConfig = RewardConfig(),
        sample_refs: bool = False,
        seed: int = 0,
        finger_residual_scale: float = 0.2,
    ) -> None:
        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {ACTION_SPACES}, got {action_space!r}")
        check_positive("residual_scale", residual_scale)
        check_positive("finger_residual_scale", finger_residual_scale)
        if not refs:
            raise ValueError("refs must hold at least one reference")
        for ref in refs:
            if ref.hand.ndim != 2 or ref.hand.shape[1] != N_HAND:
                raise ValueError(f"refs: hand references must have {N_HAND} joints, got shape {ref.hand.shape}")
            if ref.horizon < 2:
                raise ValueError(f"refs: horizon must be >= 2, got {ref.horizon}")
        self.refs, self.mode, self.reward_cfg = refs, action_space, reward
        self.scale = np.array([residual_scale] * 4 + [finger_residual_scale] * (N_HAND - 4))  # s per joint
        self.sample_refs, self.rng = sample_refs, np.random.default_rng(seed)
        self.horizon = refs[0].horizon
        if any(r.horizon != self.horizon for r in refs):
            raise ValueError("refs must share one horizon")
        self._models: dict[tuple[float, float, float], mujoco.MjModel] = {}
        self.ref_index = np.arange(n_envs) % len(refs)
        self.models = [self._model(refs[i]) for i in self.ref_index]
        self.datas = [mujoco.MjData(m) for m in self.models]
        m0 = self.models[0]
        self.tip_ids = [mujoco.mj_name2id(m0, mujoco.mjtObj.mjOBJ_SITE, f"tip{k}") for k in range(N_FINGERS)]
        self.palm_id = mujoco.mj_name2id(m0, mujoco.mjtObj.mjOBJ_SITE, "palm_site")
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.bias = np.zeros((n_envs, N_HAND))
        self.ep_d_o = np.zeros(n_envs)
        self.ep_theta = np.zeros(n_envs)
        self.ep_flag = np.zeros(n_envs)
        self._actions = np.zeros((n_envs, N_HAND))
        obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim(),), np.float32)
        super().__init__(n_envs, obs_space, gym.spaces.Box(-1.0, 1.0, (N_HAND,), np.float32))

    def _model(self, ref: Reference) -> mujoco.MjModel:
        key = (ref.params.size, ref.params.mass, ref.params.friction)
        if key not in self._models:
            self._models[key] = build_model(*key)
        return self._models[key]

    # ------------------------------------------------------------------ state
    def _reset_env(self, i: int) -> None:
        if self.sample_refs:
            self.ref_index[i] = self.rng.integers(len(self.refs))
        ref = self.refs[self.ref_index[i]]
        self.models[i] = self._model(ref)
        d = self.datas[i] = mujoco.MjData(self.models[i])
        d.qpos[:N_HAND] = ref.hand[0]
        d.ctrl[:] = ref.hand[0]
        mujoco.mj_forward(self.models[i], d)
        self.t[i], self.bias[i] = 0, 0.0
        self.ep_d_o[i] = self.ep_theta[i] = self.ep_flag[i] = 0.0

    def _gather(self) -> dict[str, np.ndarray]:
        ds = self.datas
        return {
            "qpos": np.stack([d.qpos for d in ds]),
            "qvel": np.stack([d.qvel for d in ds]),
            "tips": np.stack([d.site_xpos[self.tip_ids] for d in ds]),
            "palm": np.stack([d.site_xpos[self.palm_id] for d in ds]),
        }

    def _ref_frames(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        refs = [self.refs[k] for k in self.ref_index]
        tt = np.minimum(t, self.horizon)
        hand = np.stack([r.hand[k] for r, k in zip(refs, tt, strict=True)])
        pos = np.stack([r.obj_pos[k] for r, k in zip(refs, tt, strict=True)])
        quat = np.stack([r.obj_quat[k] for r, k in zip(refs, tt, strict=True)])
        return hand, pos, quat

    def _observe(self, s: dict[str, np.ndarray]) -> np.ndarray:
        hand_q, obj_pos, obj_quat = s["qpos"][:, :N_HAND], s["qpos"][:, N_HAND : N_HAND + 3], s["qpos"][:, N_HAND + 3 :]
        ref_h, ref_p, ref_q = self._ref_frames(self.t + 1)
        feats = np.stack([self.refs[k].params.features() for k in self.ref_index])
        parts = (
            hand_q,
            0.1 * s["qvel"][:, :N_HAND],
            (s["tips"] - obj_pos[:, None]).reshape(self.num_envs, -1),
            s["palm"] - obj_pos,
            obj_pos,
            obj_quat,
            0.1 * s["qvel"][:, N_HAND:],
            ref_h,
            ref_p,
            ref_q,
            ref_h - hand_q,
            ref_p - obj_pos,
            self.bias,
            (self.t / self.horizon)[:, None],
            feats,
        )
        return np.concatenate(parts, axis=1).astype(np.float32)

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> np.ndarray:
        for i in range(self.num_envs):
            self._reset_env(i)
        return self._observe(self._gather())

    def pd_targets(self, actions: np.ndarray, hand_q: np.ndarray) -> np.ndarray:
        """The PD targets of ``actions`` (updates the cumulative residual b_t in place)."""
        a = np.clip(actions, -1.0, 1.0)
        if self.mode == "relative":
            return hand_q + self.scale * a
        self.bias += self.scale * a
        ref_next, _, _ = self._ref_frames(self.t + 1)
        return ref_next + self.bias

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, N_HAND)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        hand_q = np.stack([d.qpos[:N_HAND] for d in self.datas])
        targets = self.pd_targets(self._actions, hand_q)
        for m, d, target in zip(self.models, self.datas, targets, strict=True):
            d.ctrl[:] = target
            mujoco.mj_step(m, d, nstep=CONTROL_SUBSTEPS)
        self.t += 1
        s = self._gather()
        ref_h, ref_p, ref_q = self._ref_frames(self.t)
        q = s["qpos"]
        reward, terms = tracking_reward(
            q[:, N_HAND : N_HAND + 3],
            q[:, N_HAND + 3 :],
            ref_p,
            ref_q,
            s["palm"],
            s["tips"],
            q[:, :N_HAND],
            ref_h,
            self.reward_cfg,
        )
        self.ep_d_o += terms["d_o"]
        self.ep_theta += terms["theta"]
        self.ep_flag += terms["d_o"] <= self.reward_cfg.success_dist
        done = self.t >= self.horizon
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        obs = self._observe(s)
        for i in np.flatnonzero(done):
            infos[i] = {
                "terminal_observation": obs[i].copy(),
                "TimeLimit.truncated": True,
                "pos_err": self.ep_d_o[i] / self.horizon,
                "rot_err": self.ep_theta[i] / self.horizon,
                "step_success": self.ep_flag[i] / self.horizon,
                "ref": int(self.ref_index[i]),
            }
            self._reset_env(i)
        if done.any():
            obs = self._observe(self._gather())
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.datas = []

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [getattr(self, method_name)(*args, **kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def seed(self, seed: int | None = None) -> list[None]:
        self.rng = np.random.default_rng(seed)
        return [None] * self.num_envs


class HandTrackingEnv(gym.Env):
    """One tracking env (Gymnasium API) on one reference: a thin view of a 1-env :class:`HandTrackingVecEnv`.

    ``step`` returns the reward of the official tracking reward and, at the end of the episode (truncation at T),
    ``info`` with the episode's mean object position error (m), rotation error (rad) and per-step success fraction.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        ref: Reference,
        action_space: str = "cumulative_residual",
        residual_scale: float = 0.04,
        reward: RewardConfig = RewardConfig(),
        finger_residual_scale: float = 0.2,
    ) -> None:
        self._vec = HandTrackingVecEnv(
            [ref], 1, action_space, residual_scale, reward, finger_residual_scale=finger_residual_scale
        )
        self.observation_space, self.action_space = self._vec.observation_space, self._vec.action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self._vec.reset()[0], {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._vec.step_async(np.asarray(action)[None])
        obs, reward, done, infos = self._vec.step_wait()
        info = dict(infos[0])
        if done[0]:
            obs = info.pop("terminal_observation")[None]
            info.pop("TimeLimit.truncated")
        return obs[0], float(reward[0]), False, bool(done[0]), info

    @property
    def data(self) -> mujoco.MjData:
        """The env's ``MjData``."""
        return self._vec.datas[0]
