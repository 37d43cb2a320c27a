"""One thread per xdist worker and deterministic algorithms for every Meta-World test; shared fixtures."""

import copy

import metaworld
import mujoco
import numpy as np
import pytest
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


def _cache_task_generation() -> None:
    """Memoise ``metaworld.MT1``/``ML1``/``CustomML`` per (tasks, seed) in the test processes.

    Drawing a task's 50 variations costs 50 resets (~0.5 s) and is a deterministic function of (task, seed); the
    variations are immutable and every env copies the task list it is given, so sharing the benchmark object
    between envs built with the same seed changes nothing but the time the tests take.
    """
    for name in ("MT1", "ML1"):
        benchmark_cls = getattr(metaworld, name)
        cache: dict = {}

        def cached(env_name, seed=None, _cls=benchmark_cls, _cache=cache):
            if seed is None:
                return _cls(env_name, seed=seed)
            if (env_name, seed) not in _cache:
                _cache[env_name, seed] = _cls(env_name, seed=seed)
            return _cache[env_name, seed]

        cached.__wrapped__ = benchmark_cls  # the uncached class, for a test that needs a fresh draw
        setattr(metaworld, name, cached)

    custom_cls, custom_cache = metaworld.CustomML, {}

    def cached_custom(train_envs, test_envs, seed=None):
        key = (tuple(train_envs), tuple(test_envs), seed)
        if seed is None or key not in custom_cache:
            custom_cache[key] = custom_cls(train_envs, test_envs, seed=seed)
        return custom_cache[key]

    metaworld.CustomML = cached_custom


_cache_task_generation()


def _cache_model_compilation() -> None:
    """Compile each task's MuJoCo XML once per test process; every env gets its own exact copy of the model.

    ``MjModel.from_xml_path`` (parse + compile, ~0.1 s) is a deterministic function of the static asset file, and
    ``copy.deepcopy`` of an ``MjModel`` is the bindings' ``mj_copyModel``, an exact and independent copy (~0.01 s),
    so the envs are the ones the package builds (an env that edits its model edits its own copy only).
    """
    compiled: dict[str, mujoco.MjModel] = {}

    def initialize_simulation(self):
        if self.fullpath not in compiled:
            compiled[self.fullpath] = mujoco.MjModel.from_xml_path(self.fullpath)
        model = copy.deepcopy(compiled[self.fullpath])
        model.vis.global_.offwidth = self.width  # as MujocoEnv._initialize_simulation
        model.vis.global_.offheight = self.height
        return model, mujoco.MjData(model)

    MujocoEnv._initialize_simulation = initialize_simulation


_cache_model_compilation()


def pytest_configure(config):
    # Gymnasium's space-precision notes and the scripted policies' gain notes are expected here.
    for module in ("gymnasium", "metaworld"):
        config.addinivalue_line("filterwarnings", f"ignore::UserWarning:{module}.*")


class NoisyScriptedAgent:
    """The scripted experts plus Gaussian action noise from a seeded generator: mixed successes and failures.

    Implements both agent protocols (adaptation only counts calls), so that the package's evaluation and ours
    can be run on identical agents.
    """

    def __init__(self, names, noise: float, seed: int):
        from paperzoo.metaworld import ScriptedAgent

        self.expert = ScriptedAgent(names)
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.calls = {"init": 0, "adapt": 0, "step": 0, "reset": 0}

    def eval_action(self, obs):
        action = self.expert.eval_action(obs)
        return action + self.noise * self.rng.standard_normal(action.shape)

    def reset(self, mask):
        self.calls["reset"] += int(np.sum(mask))

    def init(self):
        self.calls["init"] += 1

    def adapt_action(self, obs):
        return self.eval_action(obs), {"log_probs": np.zeros(len(obs))}

    def step(self, timestep):
        self.calls["step"] += 1

    def adapt(self):
        self.calls["adapt"] += 1


@pytest.fixture
def noisy_agent():
    return NoisyScriptedAgent
