"""Tier B (smoke only): the Shadow hand block scene shipped by ``gymnasium-robotics``, given a 6-DoF fly base with
``mujoco.MjSpec``, and the tracking reward on a scripted lift reference."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from paperzoo.dextrack.hand_env import RewardConfig, tracking_reward

TIPS = ("ff", "mf", "rf", "lf", "th")


def shadow_scene_path() -> Path:
    """The block scene's MJCF inside the installed ``gymnasium_robotics`` wheel (no network)."""
    import gymnasium_robotics

    return Path(gymnasium_robotics.__file__).parent / "envs" / "assets" / "hand" / "manipulate_block.xml"


def build_shadow_fly() -> mujoco.MjModel:
    """The Shadow hand block scene with 3 slide + 3 hinge joints on the hand mount (the wrist becomes a fly base)."""
    spec = mujoco.MjSpec.from_file(str(shadow_scene_path()))
    mount = spec.body("robot0:hand mount")
    for k, axis in enumerate(np.eye(3)):
        mount.add_joint(name=f"fly_t{k}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis.tolist(), damping=50.0)
    for k, axis in enumerate(np.eye(3)):
        mount.add_joint(name=f"fly_r{k}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis.tolist(), damping=5.0)
    return spec.compile()


def shadow_reward_rollout(steps: int = 20, lift: float = 0.05) -> dict[str, float]:
    """Drive the fly base up by ``lift`` along a scripted reference for ``steps`` control steps (the fly joints set
    kinematically, fingers held by their actuators) and compute the tracking reward against an object reference that
    rests; returns the model's sizes and the reward's mean and its terms at the last step."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    model = build_shadow_fly()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    fly = [model.joint(f"fly_t{k}").qposadr[0] for k in range(3)]
    obj_adr = model.joint("object:joint").qposadr[0]
    tips = [model.site(f"robot0:S_{f}tip").id for f in TIPS]
    palm = model.body("robot0:palm").id
    hand_idx = np.array([j for j in range(model.njnt) if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_FREE])
    hand_adr = model.jnt_qposadr[hand_idx]
    ref_obj = data.qpos[obj_adr : obj_adr + 7].copy()
    rewards = []
    for t in range(steps):
        data.qpos[fly[2]] = lift * t / (steps - 1)
        mujoco.mj_step(model, data, nstep=10)
        hand_q = data.qpos[hand_adr][None]
        ref_hand = hand_q.copy()
        ref_hand[0, list(hand_idx).index(model.joint("fly_t2").id)] = lift * t / (steps - 1)
        r, terms = tracking_reward(
            data.qpos[obj_adr : obj_adr + 3][None],
            data.qpos[obj_adr + 3 : obj_adr + 7][None],
            ref_obj[None, :3],
            ref_obj[None, 3:],
            data.xpos[palm][None],
            data.site_xpos[tips][None],
            hand_q,
            ref_hand,
            RewardConfig(),
        )
        rewards.append(float(r[0]))
    return {
        "nq": float(model.nq),
        "nu": float(model.nu),
        "mean_reward": float(np.mean(rewards)),
        "d_o": float(terms["d_o"][0]),
    }
