"""MuJoCo locomotion with physical parameters fixed per episode: the uncertainty sets of M2TD3's benchmark.

An uncertainty parameter is either a body's mass, ``model.body_mass[body] = value`` (absolute, in the model's
units), or ``"worldfriction"``, the sliding friction of every geom, ``model.geom_friction[:, 0] = value``:
MuJoCo takes the larger of two touching geoms' frictions, so setting all geoms makes every contact's sliding
friction equal to the value. The sets (box bounds per parameter) are those of M2TD3 (Tanabe et al. 2022, its
code's ``configs/environment``), also shipped by rrls (the robust-RL suite of IWOCS's authors); README says which.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from paperzoo.shared.validate import check_positive, check_positive_int

ENV_IDS = {
    "Ant": "Ant-v5",
    "HalfCheetah": "HalfCheetah-v5",
    "Hopper": "Hopper-v5",
    "Walker2d": "Walker2d-v5",
    "InvertedPendulum": "InvertedPendulum-v5",
}
# parameter name -> body whose mass it sets (None: the world friction)
PARAMETERS: dict[str, dict[str, str | None]] = {
    "Ant": {"torsomass": "torso", "frontleftlegmass": "front_left_leg", "frontrightlegmass": "front_right_leg"},
    "HalfCheetah": {"worldfriction": None, "torsomass": "torso", "backthighmass": "bthigh"},
    "Hopper": {"worldfriction": None, "torsomass": "torso", "thighmass": "thigh"},
    "Walker2d": {"worldfriction": None, "torsomass": "torso", "thighmass": "thigh"},
    "InvertedPendulum": {"polemass": "pole", "cartmass": "cart"},
}
# M2TD3's uncertainty sets, "<env>-<dimension>": (env, {parameter: (low, high)})
M2TD3_SETS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "Ant-1": ("Ant", {"torsomass": (0.1, 3.0)}),
    "Ant-2": ("Ant", {"torsomass": (0.1, 3.0), "frontleftlegmass": (0.01, 3.0)}),
    "Ant-3": ("Ant", {"torsomass": (0.1, 3.0), "frontleftlegmass": (0.01, 3.0), "frontrightlegmass": (0.01, 3.0)}),
    "HalfCheetah-1": ("HalfCheetah", {"worldfriction": (0.1, 3.0)}),
    "HalfCheetah-2": ("HalfCheetah", {"worldfriction": (0.1, 4.0), "torsomass": (0.1, 7.0)}),
    "HalfCheetah-3": (
        "HalfCheetah",
        {"worldfriction": (0.1, 4.0), "torsomass": (0.1, 7.0), "backthighmass": (0.1, 3.0)},
    ),
    "Hopper-1": ("Hopper", {"worldfriction": (0.1, 3.0)}),
    "Hopper-2": ("Hopper", {"worldfriction": (0.1, 3.0), "torsomass": (0.1, 3.0)}),
    "Hopper-3": ("Hopper", {"worldfriction": (0.1, 3.0), "torsomass": (0.1, 3.0), "thighmass": (0.1, 4.0)}),
    "Walker2d-1": ("Walker2d", {"worldfriction": (0.1, 4.0)}),
    "Walker2d-2": ("Walker2d", {"worldfriction": (0.1, 4.0), "torsomass": (0.1, 5.0)}),
    "Walker2d-3": ("Walker2d", {"worldfriction": (0.1, 4.0), "torsomass": (0.1, 5.0), "thighmass": (0.1, 6.0)}),
    "InvertedPendulum-2": ("InvertedPendulum", {"polemass": (1.0, 31.0), "cartmass": (1.0, 11.0)}),
}
# the unmodified gymnasium v5 models' values (body_mass; the floor's sliding friction), checked by a test
DEFAULTS: dict[str, dict[str, float]] = {
    "Ant": {"torsomass": 0.32725, "frontleftlegmass": 0.03916, "frontrightlegmass": 0.03916},
    "HalfCheetah": {"worldfriction": 0.4, "torsomass": 6.25021, "backthighmass": 1.54351},
    "Hopper": {"worldfriction": 1.0, "torsomass": 3.66519, "thighmass": 4.05789},
    "Walker2d": {"worldfriction": 0.7, "torsomass": 3.66519, "thighmass": 4.05789},
    "InvertedPendulum": {"polemass": 5.01859, "cartmass": 10.47198},
}
Sampler = Callable[[np.random.Generator], tuple[float, ...]]


class ParametricMujoco(gym.Wrapper):
    """A gymnasium MuJoCo env (``ENV_IDS[env]``) whose uncertainty parameters ``names`` take ``values`` for every
    episode, or are drawn by ``sampler(rng)`` at each reset (domain randomisation); :meth:`set_params` changes
    them at once and for the following episodes."""

    def __init__(
        self, env: str, names: tuple[str, ...], values: tuple[float, ...], sampler: Sampler | None = None
    ) -> None:
        if env not in ENV_IDS:
            raise ValueError(f"env must be one of {sorted(ENV_IDS)}, got {env!r}")
        unknown = set(names) - set(PARAMETERS[env])
        if unknown:
            raise ValueError(f"names must be parameters of {env} ({sorted(PARAMETERS[env])}), got {sorted(unknown)}")
        super().__init__(gym.make(ENV_IDS[env]))
        self.names, self.sampler = tuple(names), sampler
        model = self.env.unwrapped.model
        self._bodies = {n: model.body(b).id for n, b in PARAMETERS[env].items() if b is not None and n in names}
        self.set_params(*values)

    def set_params(self, *values: float) -> None:
        """Set the parameters (in the order of ``names``; each must be positive) now and for later episodes."""
        if len(values) != len(self.names):
            raise ValueError(f"values must give one value per name {self.names}, got {values}")
        self.params = tuple(check_positive(n, float(v)) for n, v in zip(self.names, values, strict=True))
        model = self.env.unwrapped.model
        for name, value in zip(self.names, self.params, strict=True):
            if name == "worldfriction":
                model.geom_friction[:, 0] = value
            else:
                model.body_mass[self._bodies[name]] = value

    def reset(self, **kwargs):  # type: ignore[no-untyped-def]
        if self.sampler is not None:
            self.set_params(*self.sampler(self.env.unwrapped.np_random))
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, **dict(zip(self.names, self.params, strict=True))}


def m2td3_set(name: str) -> tuple[str, tuple[str, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(env, names, low, high, nominal) of M2TD3's set ``name``; nominal (IWOCS's first model) = the unmodified
    model's values (``DEFAULTS``) clipped into the box."""
    if name not in M2TD3_SETS:
        raise ValueError(f"name must be one of {sorted(M2TD3_SETS)}, got {name!r}")
    env, box = M2TD3_SETS[name]
    low, high = (tuple(float(b[k]) for b in box.values()) for k in (0, 1))
    nominal = tuple(float(np.clip(DEFAULTS[env][n], lo, hi)) for n, lo, hi in zip(box, low, high, strict=True))
    return env, tuple(box), low, high, nominal


def mujoco_returns(
    env: str,
    names: tuple[str, ...],
    act: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]],
    omegas: npt.ArrayLike,
    episodes: int,
    seed: int,
    batch: int = 256,
) -> npt.NDArray[np.float64]:
    """Mean undiscounted return of ``act`` for each parameter row of ``omegas``, ``episodes`` static episodes
    each (episode i reset with seed + i), ``batch`` envs stepped in lock-step with one batched ``act`` call per
    step (a finished episode stops adding)."""
    check_positive_int("episodes", episodes)
    check_positive_int("batch", batch)
    omegas = np.asarray(omegas, dtype=np.float64).reshape(-1, len(names))
    params = np.repeat(omegas, episodes, 0)
    total = np.zeros(len(params))
    for start in range(0, len(params), batch):
        envs = [ParametricMujoco(env, names, tuple(w)) for w in params[start : start + batch]]
        obs = np.stack([e.reset(seed=seed + start + i)[0] for i, e in enumerate(envs)]).astype(np.float32)
        alive = np.ones(len(envs), dtype=bool)
        while alive.any():
            actions = act(obs)
            for i in np.flatnonzero(alive):
                o, r, terminated, truncated, _ = envs[i].step(actions[i])
                obs[i], alive[i] = o, not (terminated or truncated)
                total[start + i] += r
    return total.reshape(len(omegas), episodes).mean(1)
