"""The paperzoo benchmark of Meta-World.

- smoke (seconds): the MT protocol on MT1 reach-v3, 10 episodes: the package's scripted expert succeeds (>= 0.9),
  the uniform random policy does not (<= 0.1), and the per-task keys are the env's task names.
- full (minutes, 2 CPU cores): single-task SAC on reach-v3 and on drawer-close-v3 (N env steps each) against one
  MT-SAC (one-hot task id, shared networks, one temperature per task) on both with 2N steps in all, the same
  per-task samples and updates; MT protocol, 50 episodes per task; the scripted experts and the random policy as
  ceiling and floor; optionally ML1 meta-test of first-order MAML-VPG against its no-adaptation baseline.
- paper: the paper's setting as a validated config (MT10 tasks, 3 x 400 networks, batch 1280, 2M steps per task;
  ML10-style meta-test protocol defaults), for a user with time and cores.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperzoo.shared import Benchmark, Claim, Compare, Max, MetricSpec, Result
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.validate import check_non_negative, check_positive_int

log = logging.getLogger("paperzoo.metaworld")

MT10_TASKS = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)


def _worker_setup() -> None:
    """One torch thread per process (MuJoCo steps on one thread anyway), deterministic kernels, quiet warnings."""
    import warnings

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(gymnasium|metaworld)\..*")


# ---------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class SmokeConfig:
    """Scripted expert vs random policy on MT1 ``task`` under the MT protocol."""

    task: str = "reach-v3"
    episodes: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import TASK_NAMES

        if self.task not in TASK_NAMES:
            raise ValueError(f"task must be a v3 task name, got {self.task!r}")
        check_positive_int("episodes", self.episodes)


@dataclass(frozen=True)
class MetaConfig:
    """ML1 meta-training of first-order MAML-VPG and its meta-test (``iterations=0``: skipped)."""

    task: str = "reach-v3"
    iterations: int = 0
    meta_batch_size: int = 10
    episodes_per_task: int = 1
    max_episode_steps: int = 150
    num_evals: int = 2
    adaptation_episodes: int = 2
    evaluation_episodes: int = 3
    hidden: tuple[int, ...] = (64, 64)

    def __post_init__(self) -> None:
        check_non_negative("iterations", self.iterations)
        for name in (
            "meta_batch_size",
            "episodes_per_task",
            "max_episode_steps",
            "num_evals",
            "adaptation_episodes",
            "evaluation_episodes",
        ):
            check_positive_int(name, getattr(self, name))


def _default_sac():
    from paperzoo.metaworld.agents.sac import SACConfig

    # 2 x 64 hidden units, batch 128, one update per environment step: what 3 seeds x 4 runs afford on 2 cores.
    return SACConfig(net_arch=(64, 64), batch_size=128, learning_starts=1000)


@dataclass(frozen=True)
class FullConfig:
    """Single-task SAC per task vs one MT-SAC on all tasks at equal per-task samples and updates."""

    tasks: tuple[str, ...] = ("reach-v3", "drawer-close-v3")
    steps_per_task: int = 20_000
    sac: Any = field(default_factory=_default_sac)
    eval_episodes: int = 50
    workers: int = 2
    meta: MetaConfig = field(default_factory=lambda: MetaConfig(iterations=20))
    device: str = "cpu"

    def __post_init__(self) -> None:
        from paperzoo.metaworld.envs import _check_task_names

        _check_task_names(self.tasks)
        if len(self.tasks) < 2:
            raise ValueError(f"tasks must name at least 2 tasks (single vs multi-task), got {list(self.tasks)}")
        check_positive_int("steps_per_task", self.steps_per_task)
        check_positive_int("eval_episodes", self.eval_episodes)
        check_positive_int("workers", self.workers)


def paper_config() -> FullConfig:
    """The paper's MT10 setting: 10 tasks, MT-SAC with 3 x 400 networks, batch 1280 (128 per task), 4000
    warm-up steps (400 per task), 2M steps per task (official ``mtsac_mt10.py``: 20M in all); 50 evaluation
    episodes per task; ML1 meta-test with the package's protocol defaults (10 repeats, 10 adaptation episodes,
    3 evaluation episodes, 500-step episodes)."""
    from paperzoo.metaworld.agents.sac import SACConfig

    return FullConfig(
        tasks=MT10_TASKS,
        steps_per_task=2_000_000,
        sac=SACConfig(net_arch=(400, 400, 400), batch_size=1280, learning_starts=400),
        eval_episodes=50,
        workers=max(1, min(len(MT10_TASKS) + 1, os.cpu_count() or 1)),
        meta=MetaConfig(
            iterations=1000,
            meta_batch_size=10,
            episodes_per_task=10,
            max_episode_steps=500,
            num_evals=10,
            adaptation_episodes=10,
            evaluation_episodes=3,
            hidden=(256, 256),
        ),
        device="cuda",
    )


# ---------------------------------------------------------------------------------------------- jobs
def _eval_envs(tasks: tuple[str, ...], task_offset: int, seed: int):
    """MT eval envs of ``tasks``: task j is seeded as task ``task_offset + j`` of the full set, as in training, so
    every arm is evaluated on the 50 train variations it was trained on (MT evaluates on the training tasks)."""
    from paperzoo.metaworld.envs import make_mt_envs

    return make_mt_envs(tasks, seed + task_offset)


def _sac_job(kind: str, tasks: tuple[str, ...], task_offset: int, config: FullConfig, seed: int) -> dict[str, Any]:
    """Train SAC on ``tasks`` (single-task when one) and evaluate it with the MT protocol."""
    _worker_setup()
    from paperzoo.metaworld.agents.sac import SB3Agent, train_sac
    from paperzoo.metaworld.protocol import evaluate_mt

    # Train seed: task j of the full set gets seed + j in every arm (same 50 train variations per task).
    start = time.perf_counter()
    model, tracker = train_sac(tasks, config.steps_per_task, seed + task_offset, config.sac)
    train_s = time.perf_counter() - start
    envs = _eval_envs(tasks, task_offset, seed)
    start = time.perf_counter()
    result = evaluate_mt(SB3Agent(model), envs, config.eval_episodes, seed=seed)
    envs.close()
    return {
        "kind": kind,
        "result": result.to_dict(),
        "train_s": train_s,
        "eval_s": time.perf_counter() - start,
        "updates": int(model._n_updates),
        "env_steps": int(model.num_timesteps),
        "train_success": {t: tracker.success[j] for j, t in enumerate(tasks)},
        "temperatures": model.temperatures().tolist(),
    }


def _reference_job(kind: str, tasks: tuple[str, ...], config: FullConfig, seed: int) -> dict[str, Any]:
    """The scripted experts or the random policy on the full task set."""
    _worker_setup()
    from paperzoo.metaworld.agents.scripted import RandomAgent, ScriptedAgent
    from paperzoo.metaworld.envs import task_names
    from paperzoo.metaworld.protocol import evaluate_mt

    envs = _eval_envs(tasks, 0, seed)
    agent = ScriptedAgent(task_names(envs)) if kind == "scripted" else RandomAgent(envs.num_envs, seed=seed)
    start = time.perf_counter()
    result = evaluate_mt(agent, envs, config.eval_episodes, seed=seed)
    envs.close()
    return {"kind": kind, "result": result.to_dict(), "eval_s": time.perf_counter() - start}


def _meta_job(config: FullConfig, seed: int) -> dict[str, Any]:
    """ML1: meta-train MAML-VPG on the train variations, meta-test with and without adaptation."""
    _worker_setup()
    from paperzoo.metaworld.agents.maml_vpg import MAMLConfig, MAMLVPGAgent, train_maml
    from paperzoo.metaworld.envs import make_ml1_envs
    from paperzoo.metaworld.protocol import evaluate_meta

    meta = config.meta
    start = time.perf_counter()
    agent = MAMLVPGAgent(meta.meta_batch_size, config=MAMLConfig(hidden=meta.hidden), seed=seed)
    train = make_ml1_envs(
        meta.task, seed, meta_batch_size=meta.meta_batch_size, max_episode_steps=meta.max_episode_steps
    )
    curve = train_maml(agent, train, meta.iterations, meta.episodes_per_task)
    train.close()
    train_s = time.perf_counter() - start
    out: dict[str, Any] = {"kind": "meta", "train_curve": curve, "train_s": train_s}
    for name, adapt in (("maml", True), ("maml_noadapt", False)):
        test = make_ml1_envs(
            meta.task,
            seed,
            split="test",
            meta_batch_size=meta.meta_batch_size,
            max_episode_steps=meta.max_episode_steps,
        )
        agent.adapt_enabled = adapt
        result = evaluate_meta(
            agent, test, meta.num_evals, meta.adaptation_episodes, 1, meta.evaluation_episodes, seed=seed
        )
        test.close()
        out[name] = result.to_dict()
    return out


def _run_jobs(jobs: list[tuple[Any, tuple]], workers: int) -> list[dict[str, Any]]:
    """Run jobs (function, args) on ``workers`` processes (in-process when 1), results in job order."""
    if workers == 1:
        return [fn(*args) for fn, args in jobs]
    ctx = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        for done, _ in enumerate(concurrent.futures.as_completed(futures), 1):
            log.info("metaworld: %d/%d jobs done", done, len(jobs))
        return [f.result() for f in futures]


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: SmokeConfig, seed: int) -> Result:
    from paperzoo.metaworld.agents.scripted import RandomAgent, ScriptedAgent
    from paperzoo.metaworld.envs import make_mt_envs, task_names
    from paperzoo.metaworld.protocol import evaluate_mt

    metrics: dict[str, float] = {}
    for arm in ("scripted", "random"):
        envs = make_mt_envs([config.task], seed)
        names = task_names(envs)
        agent = ScriptedAgent(names) if arm == "scripted" else RandomAgent(envs.num_envs, seed=seed)
        result = evaluate_mt(agent, envs, config.episodes, seed=seed)
        envs.close()
        metrics[f"{arm}/success"] = result.mean_success
        metrics[f"{arm}/mean_return"] = result.mean_return
        metrics[f"{arm}/keys_match_tasks"] = float(sorted(result.success_per_task) == sorted(set(names)))
        metrics[f"{arm}/episodes_counted"] = float(sum(len(r) for r in result.returns_per_task.values()))
    return Result(metrics)


# ---------------------------------------------------------------------------------------------- full
def _short(task: str) -> str:
    return task.removesuffix("-v3").replace("-", "_")


def _binned(values: list[float], bins: int) -> list[float]:
    chunks = np.array_split(np.asarray(values, dtype=np.float64), bins)
    return [float(c.mean()) if c.size else float("nan") for c in chunks]


def run_full(config: FullConfig, seed: int) -> Result:
    _worker_setup()
    tasks = config.tasks
    jobs: list[tuple[Any, tuple]] = [(_sac_job, ("mt_sac", tasks, 0, config, seed))]
    jobs += [(_sac_job, ("single", (t,), j, config, seed)) for j, t in enumerate(tasks)]
    jobs += [(_reference_job, (kind, tasks, config, seed)) for kind in ("scripted", "random")]
    if config.meta.iterations > 0:
        jobs.append((_meta_job, (config, seed)))
    log.info("metaworld: seed %d, %d jobs on %d workers", seed, len(jobs), config.workers)
    outputs = _run_jobs(jobs, config.workers)

    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    single_success: dict[str, float] = {}
    single_return: list[float] = []
    for out in outputs:
        kind = out["kind"]
        if kind == "meta":
            for name in ("maml", "maml_noadapt"):
                metrics[f"{name}/meta_test_success"] = out[name]["mean_success"]
                metrics[f"{name}/meta_test_return"] = out[name]["mean_return"]
            metrics["maml/train_s"] = out["train_s"]
            series["maml/train_post_adaptation_success"] = out["train_curve"]
            continue
        res = out["result"]
        if kind == "single":
            (task,) = res["success_per_task"]
            single_success[task] = res["success_per_task"][task]
            single_return.append(res["mean_return"])
            metrics[f"single/{_short(task)}_success"] = res["success_per_task"][task]
            metrics[f"single/{_short(task)}_train_s"] = out["train_s"]
            metrics[f"single/{_short(task)}_train_steps_per_s"] = out["env_steps"] / out["train_s"]
            series[f"single/{_short(task)}_train_success"] = _binned(out["train_success"][task], 10)
            continue
        metrics[f"{kind}/mean_success"] = res["mean_success"]
        metrics[f"{kind}/mean_return"] = res["mean_return"]
        metrics |= {f"{kind}/{_short(t)}_success": s for t, s in res["success_per_task"].items()}
        if kind == "mt_sac":
            metrics["mt_sac/train_s"] = out["train_s"]
            metrics["mt_sac/train_steps_per_s"] = out["env_steps"] / out["train_s"]
            for t, succ in out["train_success"].items():
                series[f"mt_sac/{_short(t)}_train_success"] = _binned(succ, 10)
            metrics |= {f"mt_sac/{_short(t)}_alpha": a for t, a in zip(tasks, out["temperatures"], strict=True)}
    # The single-task arm's mean over tasks, as the MT protocol would report for the set of single-task policies.
    metrics["single/mean_success"] = float(np.mean([single_success[t] for t in tasks]))
    metrics["single/mean_return"] = float(np.mean(single_return))
    return Result(metrics, series)


def run(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    return run_full(config, seed)


# ---------------------------------------------------------------------------------------------- plots
def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Training-episode success per task (single-task vs MT-SAC), and evaluation success per task (bars)."""
    if records[0]["scale"] == "smoke":
        return []
    config = records[0]["config"]
    tasks = config["tasks"] if isinstance(config, dict) else config.tasks
    steps = config["steps_per_task"] if isinstance(config, dict) else config.steps_per_task
    curves = {}
    for t in tasks:
        for arm in ("single", "mt_sac"):
            key = f"{arm}/{_short(t)}_train_success"
            if all(key in r["series"] for r in records):
                curves[f"{arm} {t}"] = [r["series"][key] for r in records]
    n_bins = len(next(iter(curves.values()))[0])
    paths = [
        plot_curves(
            folder / "train_success.png",
            curves,
            title="Training episodes reaching success (per tenth of training)",
            xlabel="environment steps per task",
            ylabel="success rate of training episodes",
            x=[steps * (i + 0.5) / n_bins for i in range(n_bins)],
        )
    ]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = ["random", "single", "mt_sac", "scripted"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        vals = np.array([[r["metrics"][f"{arm}/{_short(t)}_success"] for t in tasks] for r in records])
        ax.bar(np.arange(len(tasks)) + j * width, vals.mean(0), width, yerr=vals.std(0), label=arm)
    ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    ax.set(ylabel="success rate (50 episodes)", title="MT protocol: success per task (mean over seeds, ±1 std)")
    ax.set_ylim(0, 1.05)
    ax.legend()
    fig.tight_layout()
    path = folder / "success_per_task.png"
    fig.savefig(path)
    plt.close(fig)
    return [*paths, path]


# ---------------------------------------------------------------------------------------------- perf
def _best_rate(count: int, fn, repeats: int = 3) -> float:
    """``count / seconds`` of the fastest of ``repeats`` calls of ``fn`` (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def perf(device: str) -> dict[str, float]:
    """Environment steps/s with random actions (one env; the package's sync vector env of 2 and of 10 tasks; async
    with 2 tasks) and SAC updates/s at the full scale's sizes (our MTSAC subclass vs SB3's SAC, same process)."""
    _worker_setup()
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import metaworld  # noqa: F401  (registers the Meta-World/* envs)
    from paperzoo.metaworld.agents.sac import SAC, make_sac
    from paperzoo.metaworld.envs import make_mt_env_fns, make_mt_envs

    figures: dict[str, float] = {}
    rng = np.random.default_rng(0)
    env = gym.make("Meta-World/MT1", env_name="reach-v3", seed=0, disable_env_checker=True)
    env.reset()

    def single(n: int = 2000) -> None:
        for _ in range(n):
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4))
            if term or trunc:
                env.reset()

    figures["env/single_steps_per_s"] = _best_rate(2000, single)
    full = FullConfig()
    for label, tasks, strategy in (
        ("vector2", full.tasks, "sync"),
        ("vector10", MT10_TASKS, "sync"),
        ("vector2_async", full.tasks, "async"),
    ):
        envs = make_mt_envs(tasks, 0, vector_strategy=strategy)
        envs.reset()
        k = len(tasks)
        n_vec = 2000 // k
        figures[f"env/{label}_steps_per_s"] = _best_rate(
            n_vec * k, lambda envs=envs, k=k, n_vec=n_vec: [envs.step(rng.uniform(-1, 1, (k, 4))) for _ in range(n_vec)]
        )
        envs.close()
    figures["env/vector10_vs_single"] = figures["env/vector10_steps_per_s"] / figures["env/single_steps_per_s"]
    figures["env/vector2_async_vs_sync"] = figures["env/vector2_async_steps_per_s"] / figures["env/vector2_steps_per_s"]

    cfg = full.sac
    models = {
        "sac": make_sac(full.tasks[:1], 10_000, 0, cfg),
        "mt_sac": make_sac(full.tasks, 10_000, 0, cfg),
        "sb3_sac": SAC(
            "MlpPolicy",
            DummyVecEnv(make_mt_env_fns(full.tasks[:1], 0)),
            batch_size=cfg.batch_size,
            learning_starts=cfg.learning_starts,
            policy_kwargs={"net_arch": list(cfg.net_arch)},
            seed=0,
            device="cpu",
        ),
    }
    for name, model in models.items():
        model.learn(cfg.learning_starts * model.n_envs + 10)  # fill the buffer with random steps
        figures[f"{name}/updates_per_s"] = _best_rate(
            200, lambda model=model: model.train(gradient_steps=200, batch_size=cfg.batch_size)
        )
    figures["sac/updates_vs_sb3"] = figures["sac/updates_per_s"] / figures["sb3_sac/updates_per_s"]
    figures["sac/updates_per_s_vs_env_steps_per_s"] = figures["sac/updates_per_s"] / figures["env/single_steps_per_s"]
    return figures


# ---------------------------------------------------------------------------------------------- claims
SMOKE_CLAIMS = (
    Claim("The scripted expert solves MT1 reach-v3 (success >= 0.9)", Compare("scripted/success", ">=", 0.9)),
    Claim("A uniform random policy does not (success <= 0.1)", Compare("random/success", "<=", 0.1)),
    Claim(
        "The protocol reports one success rate per env task name, over exactly N episodes",
        Compare("scripted/keys_match_tasks", ">=", 1.0),
        guards=(Compare("random/keys_match_tasks", ">=", 1.0),),
    ),
)

_ABOVE_FLOOR = 0.1  # the single-task policies must beat the random policy by 10 points of success

FULL_CLAIMS = (
    Claim(
        "A shared multi-task policy (MT-SAC, one-hot task id) is no better than single-task policies at equal "
        "per-task samples (mean success over tasks)",
        Compare("mt_sac/mean_success", "<=", "single/mean_success"),
        guards=(Compare("single/mean_success", ">", "random/mean_success", margin=_ABOVE_FLOOR),),
    ),
    Claim(
        "Single tasks are learnable: single-task SAC is well above the random policy",
        Compare("single/mean_success", ">", "random/mean_success", margin=_ABOVE_FLOOR),
    ),
    Claim(
        "The scripted experts solve the tasks (sanity of the protocol, success >= 0.9)",
        Compare("scripted/mean_success", ">=", 0.9),
    ),
    Claim(
        "ML1 meta-test: adapting (first-order MAML-VPG) is at least as good as not adapting the meta-learned policy",
        Compare("maml/meta_test_success", ">=", "maml_noadapt/meta_test_success"),
        guards=(Compare(Max("maml*/meta_test_success"), ">", 0.0),),
    ),
)

BENCHMARK = Benchmark(
    slug="metaworld",
    title="Meta-World: A Benchmark and Evaluation for Multi-Task and Meta Reinforcement Learning (CoRL 2019)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": paper_config()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0, 1, 2)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("*/keys_match_tasks", better="higher", tolerance=0.0),
        MetricSpec("*/episodes_counted", better="higher", tolerance=0.0),
        MetricSpec("scripted/success", better="higher", tolerance=0.1),
        MetricSpec("random/success", better="lower", tolerance=0.1),
        MetricSpec("*/mean_success", better="higher", tolerance=0.15),
        MetricSpec("*_success", better="higher", tolerance=0.2),
    ),
    plot=plot,
    perf=perf,
    paper_needs="many CPU cores or a GPU and days (MT10: 2M steps per task, 3 x 400 networks, batch 1280)",
)
