"""The scale runners of the Meta-World benchmark (``bench.py`` declares them).

- :func:`run_smoke`: the scripted expert and the uniform random policy on MT1 ``config.task`` under the MT protocol.
- :func:`run_full` (also the ``paper`` scale's runner): single-task SAC per task, one MT-SAC on all tasks, the
  scripted experts and the random policy, and optionally the ML1 meta-test of first-order MAML-VPG; the runs of one
  seed are jobs spread over ``config.workers`` processes.

Seeding: every arm uses the run's seed directly (shared initial conditions); task ``j`` of the full task set is
built with ``seed + j`` in every arm, the Meta-World package's MT-k convention (``make_mt_envs``: sub-env ``j``
gets ``seed + j``), so a single-task run trains and is evaluated on the same 50 variations as the multi-task
run's task ``j``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.shared import Result

if TYPE_CHECKING:
    from paperzoo.metaworld.bench import FullConfig, SmokeConfig

log = logging.getLogger("paperzoo.metaworld")


def setup_process() -> None:
    """One torch thread per process (MuJoCo steps on one thread anyway), deterministic kernels, quiet warnings."""
    import warnings

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(gymnasium|metaworld)\..*")


# ---------------------------------------------------------------------------------------------- jobs
def _eval_envs(tasks: tuple[str, ...], task_offset: int, seed: int):
    """MT eval envs of ``tasks``: task j is seeded as task ``task_offset + j`` of the full set, as in training, so
    every arm is evaluated on the 50 train variations it was trained on (MT evaluates on the training tasks)."""
    from paperzoo.metaworld.envs import make_mt_envs

    return make_mt_envs(tasks, seed + task_offset)


def _sac_job(kind: str, tasks: tuple[str, ...], task_offset: int, config: FullConfig, seed: int) -> dict[str, Any]:
    """Train SAC on ``tasks`` (single-task when one) and evaluate it with the MT protocol."""
    setup_process()
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
    setup_process()
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
    setup_process()
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
    """The scripted expert and the random policy on MT1 ``config.task``, ``config.episodes`` episodes each."""
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
def task_key(task: str) -> str:
    """The task's part of a metric name: ``drawer-close-v3`` -> ``drawer_close``."""
    return task.removesuffix("-v3").replace("-", "_")


def _binned(values: list[float], bins: int) -> list[float]:
    chunks = np.array_split(np.asarray(values, dtype=np.float64), bins)
    return [float(c.mean()) if c.size else float("nan") for c in chunks]


def run_full(config: FullConfig, seed: int) -> Result:
    """Single-task SAC per task vs one MT-SAC at equal per-task samples, the reference policies, and ML1 MAML-VPG."""
    setup_process()
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
            metrics[f"single/{task_key(task)}_success"] = res["success_per_task"][task]
            metrics[f"single/{task_key(task)}_train_s"] = out["train_s"]
            metrics[f"single/{task_key(task)}_train_steps_per_s"] = out["env_steps"] / out["train_s"]
            series[f"single/{task_key(task)}_train_success"] = _binned(out["train_success"][task], 10)
            continue
        metrics[f"{kind}/mean_success"] = res["mean_success"]
        metrics[f"{kind}/mean_return"] = res["mean_return"]
        metrics |= {f"{kind}/{task_key(t)}_success": s for t, s in res["success_per_task"].items()}
        if kind == "mt_sac":
            metrics["mt_sac/train_s"] = out["train_s"]
            metrics["mt_sac/train_steps_per_s"] = out["env_steps"] / out["train_s"]
            for t, succ in out["train_success"].items():
                series[f"mt_sac/{task_key(t)}_train_success"] = _binned(succ, 10)
            metrics |= {f"mt_sac/{task_key(t)}_alpha": a for t, a in zip(tasks, out["temperatures"], strict=True)}
    # The single-task arm's mean over tasks, as the MT protocol would report for the set of single-task policies.
    metrics["single/mean_success"] = float(np.mean([single_success[t] for t in tasks]))
    metrics["single/mean_return"] = float(np.mean(single_return))
    return Result(metrics, series)
