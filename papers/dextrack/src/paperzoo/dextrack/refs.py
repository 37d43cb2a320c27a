"""Procedural "human" hand–object references for the fly gripper (Tier A), split into train and test by parameters.

A reference τ = {ĥ_t, ô_t}, t = 0..T, holds the hand joint targets ĥ_t (palm x, y, z slides, palm yaw, 3 fingers × 2
hinges) and the object pose ô_t = (p̂_t, q̂_t) (MuJoCo ``w, x, y, z`` quaternion). The object rests for ``grasp_steps``,
then follows a smooth lift ``h``, planar translation ``(dx, dy)`` and yaw ``ψ`` until ``T - hold_steps`` and holds.
The hand reference is a scripted grasp carried with the object path, made "human" in two ways: the finger closure is
retargeted for an object ``gap`` wider than the real one (human grips do not transfer to the robot's fingers), and
N(0, 5 mm / 0.05 rad) retargeting noise is added to every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from paperzoo.shared.validate import check_positive_int

N_HAND = 10  # palm x, y, z, yaw + 3 fingers x 2 hinges
FINGER_BASE_RADIUS = 0.06
LINK1, LINK2, TIP_RADIUS, PALM_HALF_HEIGHT = 0.05, 0.04, 0.008, 0.01
PALM_REST = np.array([0.0, 0.0, 0.16])  # the palm's world position at zero slide joints

# Held-out test references get object sizes from the bins the train references never use.
SIZE_BINS = np.linspace(0.024, 0.040, 7)
TRAIN_BINS, TEST_BINS = (0, 2, 4), (1, 3, 5)
# The sampling range of every parameter (dx, dy: a disc of radius 0.10 m); they also scale the neighbour distance.
RANGES = {
    "lift": (0.03, 0.12),
    "dx": (-0.10, 0.10),
    "dy": (-0.10, 0.10),
    "yaw": (-np.pi / 2, np.pi / 2),
    "size": (float(SIZE_BINS[0]), float(SIZE_BINS[-1])),
    "mass": (0.05, 0.3),
    "friction": (0.6, 1.2),
    "gap": (0.0, 0.012),
}


@dataclass(frozen=True)
class RefParams:
    """The parameters that define one reference (metres, radians, kilograms)."""

    lift: float
    dx: float
    dy: float
    yaw: float
    size: float  # the box's half-width
    mass: float
    friction: float
    gap: float  # how much wider than the object the retargeted grip closes (m)
    noise_seed: int

    def interpolate(self, easy: RefParams, lam: float) -> RefParams:
        """τ(λ): the motion and object mass moved from ``easy`` (λ = 0) to this reference (λ = 1)."""
        mix = lambda a, b: (1.0 - lam) * a + lam * b  # noqa: E731
        return replace(
            self,
            lift=mix(easy.lift, self.lift),
            dx=mix(easy.dx, self.dx),
            dy=mix(easy.dy, self.dy),
            yaw=mix(easy.yaw, self.yaw),
            mass=mix(easy.mass, self.mass),
        )

    def easy_variant(self) -> RefParams:
        """The homotopy start: a 3 cm lift in place, no rotation, the lightest object."""
        return replace(self, lift=0.03, dx=0.0, dy=0.0, yaw=0.0, mass=0.05)

    def descriptor(self) -> np.ndarray:
        """The parameters (motion, object, grip gap) scaled by their sampling ranges to [0, 1]: the space in which
        :func:`paperzoo.dextrack.flywheel.nearest_references` measures how close two references are."""
        return np.array([(getattr(self, k) - lo) / (hi - lo) for k, (lo, hi) in RANGES.items()])

    def features(self) -> np.ndarray:
        """The object-shape feature the policy sees: normalised size, mass and friction."""
        return np.array([(self.size - 0.032) / 0.008, (self.mass - 0.175) / 0.125, (self.friction - 0.9) / 0.3])


@dataclass(frozen=True)
class Reference:
    """A tracking target: ``hand`` (T+1, 10), ``obj_pos`` (T+1, 3), ``obj_quat`` (T+1, 4) and its parameters."""

    params: RefParams
    hand: np.ndarray
    obj_pos: np.ndarray
    obj_quat: np.ndarray

    @property
    def horizon(self) -> int:
        """T, the number of control steps."""
        return len(self.hand) - 1


def finger_geometry(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inward reach and depth below the palm of a fingertip whose two hinges are both at ``theta``."""
    inward = LINK1 * np.sin(theta) + LINK2 * np.sin(2 * theta)
    depth = PALM_HALF_HEIGHT + LINK1 * np.cos(theta) + LINK2 * np.cos(2 * theta)
    return inward, depth


def closure_angle(half_width: float) -> float:
    """The hinge angle whose fingertip surface reaches ``half_width`` from the palm axis (monotone table lookup)."""
    grid = np.linspace(0.0, 0.75, 301)
    reach = FINGER_BASE_RADIUS - finger_geometry(grid)[0] - TIP_RADIUS  # decreasing in theta
    return float(np.interp(-half_width, -reach, grid))


def _yaw_quat(yaw: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)], axis=-1)


def build_reference(params: RefParams, horizon: int = 40, grasp_steps: int = 10, hold_steps: int = 8) -> Reference:
    """The reference of ``params``: object path, scripted grasp carried with it, retargeting noise."""
    check_positive_int("horizon", horizon)
    if horizon < 2:
        raise ValueError(f"horizon must be >= 2, got {horizon}")
    t = np.arange(horizon + 1)
    move = max(horizon - hold_steps - grasp_steps, 1)
    s = np.clip((t - grasp_steps) / move, 0.0, 1.0)
    s = s * s * (3 - 2 * s)  # smoothstep
    obj_pos = np.stack([params.dx * s, params.dy * s, params.size + params.lift * s], axis=-1)
    obj_quat = _yaw_quat(params.yaw * s)
    theta = closure_angle(params.size + params.gap)
    _, depth = finger_geometry(np.array(theta))
    close = np.clip(t / max(grasp_steps - 2, 1), 0.0, 1.0) * theta
    hand = np.zeros((horizon + 1, N_HAND))
    hand[:, :3] = obj_pos + np.array([0.0, 0.0, float(depth) - 0.25 * params.size]) - PALM_REST
    hand[:, 3] = params.yaw * s
    hand[:, 4:] = close[:, None]
    noise = np.random.default_rng(params.noise_seed).normal(size=hand.shape)
    hand[:, :3] += 0.005 * noise[:, :3]
    hand[:, 3:] += 0.05 * noise[:, 3:]
    return Reference(params=params, hand=hand, obj_pos=obj_pos, obj_quat=obj_quat)


class ReferenceGenerator:
    """Draws references of a split: ``"train"`` and ``"test"`` use disjoint object-size bins (held-out shapes)."""

    def __init__(self, split: str, horizon: int = 40) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if horizon < 2:
            raise ValueError(f"horizon must be >= 2, got {horizon}")
        self.split, self.horizon = split, horizon
        self.bins = TRAIN_BINS if split == "train" else TEST_BINS

    def sample_params(self, n: int, seed: int) -> list[RefParams]:
        """``n`` parameter sets drawn from this split with ``seed`` (reproducible)."""
        check_positive_int("n", n)
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            b = self.bins[rng.integers(len(self.bins))]
            radius, angle = 0.10 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            out.append(
                RefParams(
                    lift=float(rng.uniform(*RANGES["lift"])),
                    dx=float(radius * np.cos(angle)),
                    dy=float(radius * np.sin(angle)),
                    yaw=float(rng.uniform(*RANGES["yaw"])),
                    size=float(rng.uniform(SIZE_BINS[b], SIZE_BINS[b + 1])),
                    mass=float(rng.uniform(*RANGES["mass"])),
                    friction=float(rng.uniform(*RANGES["friction"])),
                    gap=float(rng.uniform(*RANGES["gap"])),
                    noise_seed=int(rng.integers(2**31)),
                )
            )
        return out

    def sample(self, n: int, seed: int) -> list[Reference]:
        """``n`` references of this split."""
        return [build_reference(p, self.horizon) for p in self.sample_params(n, seed)]
