"""The scale runners of the Meta-World benchmark (``bench.py`` declares them).

- :func:`run_smoke`: the scripted expert and the uniform random policy on MT1 ``config.task`` under the MT protocol.
- :func:`run_full` (also the ``paper`` scale's runner): single-task SAC per task, one MT-SAC on all tasks, the
  scripted experts and the random policy on every task, first-order MAML-VPG meta-trained on a held-out-task split
  (meta-test on the train tasks and on the held-out tasks) and on ML1 (adapting vs not); the runs of one seed are
  jobs spread over ``config.workers`` processes, longest first.

Seeding: every arm uses the run's seed directly (shared initial conditions); task ``j`` of the full task set is
built with ``seed + j`` in every arm, the Meta-World package's MT-k convention (``make_mt_envs``: sub-env ``j``
gets ``seed + j``), so a single-task run trains and is evaluated on the same 50 variations as the multi-task
run's task ``j``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs

if TYPE_CHECKING:
    from paperzoo.metaworld.bench import FullConfig, MetaConfig, SmokeConfig

log = logging.getLogger("paperzoo.metaworld")


def setup_process() -> None:
    """One torch thread per process (MuJoCo steps on one thread anyway), deterministic kernels, quiet warnings."""
    import warnings

    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(gymnasium|metaworld)\..*")


# ---------------------------------------------------------------------------------------------- jobs
def reference_tasks(config: FullConfig) -> tuple[str, ...]:
    """Every task the full scale uses: the MT tasks first (task j seeded ``seed + j``, as in training), then the
    held-out-task split's tasks that are not MT tasks."""
    extra = (*config.ml.train_tasks, *config.ml.test_tasks) if config.ml.iterations > 0 else ()
    return (*config.tasks, *(t for t in dict.fromkeys(extra) if t not in config.tasks))


def _sac_job(kind: str, tasks: tuple[str, ...], task_offset: int, config: FullConfig, seed: int) -> dict[str, Any]:
    """Train SAC on ``tasks`` (single-task when one) and evaluate it with the MT protocol.

    Task j of the full set is trained and evaluated on the envs seeded ``seed + j`` in every arm (the same 50
    train variations).
    """
    setup_process()
    from paperzoo.metaworld.agents.sac import SB3Agent, train_sac
    from paperzoo.metaworld.envs import make_mt_envs
    from paperzoo.metaworld.protocol import evaluate_mt

    start = time.perf_counter()
    model, tracker = train_sac(tasks, config.steps_per_task, seed + task_offset, config.sac, config.train_horizon)
    train_s = time.perf_counter() - start
    envs = make_mt_envs(tasks, seed + task_offset)
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


def _reference_job(kind: str, config: FullConfig, seed: int) -> dict[str, Any]:
    """The scripted experts or the random policy on every task of the run (MT protocol, goal observed)."""
    setup_process()
    from paperzoo.metaworld.agents.scripted import RandomAgent, ScriptedAgent
    from paperzoo.metaworld.envs import make_mt_envs, task_names
    from paperzoo.metaworld.protocol import evaluate_mt

    envs = make_mt_envs(reference_tasks(config), seed)
    agent = ScriptedAgent(task_names(envs)) if kind == "scripted" else RandomAgent(envs.num_envs, seed=seed)
    start = time.perf_counter()
    result = evaluate_mt(agent, envs, config.eval_episodes, seed=seed)
    envs.close()
    return {"kind": kind, "result": result.to_dict(), "eval_s": time.perf_counter() - start}


def _meta_envs(meta: MetaConfig, seed: int, split: str):
    """ML1 (no test tasks: held-out variations of one task) or the held-out-task split's train/test envs."""
    from paperzoo.metaworld.envs import make_ml1_envs, make_ml_envs

    if not meta.test_tasks:
        (task,) = meta.train_tasks
        return make_ml1_envs(
            task, seed, split=split, meta_batch_size=meta.envs_per_task, max_episode_steps=meta.max_episode_steps
        )
    return make_ml_envs(
        meta.train_tasks,
        meta.test_tasks,
        seed,
        split=split,
        envs_per_task=meta.envs_per_task,
        max_episode_steps=meta.max_episode_steps,
    )


META_EVALUATIONS = {
    "ml1": (("adapted", "test"), ("unadapted", "test")),
    "ml": (("maml_train", "train"), ("maml_test", "test"), ("random_train", "train"), ("random_test", "test")),
}
"""Per meta job: (policy, split) of each meta-test run; ``unadapted`` is the meta-learned θ without its inner step."""


def _meta_job(kind: str, meta: MetaConfig, seed: int) -> dict[str, Any]:
    """Meta-train first-order MAML-VPG on the train envs, then run the meta-test protocol.

    ``ml1``: on the held-out variations, adapted and not adapted (the same θ). ``ml``: the adapted policy and the
    random policy on fresh train-task envs and on the held-out tasks' envs.
    """
    setup_process()
    from paperzoo.metaworld.agents.maml_vpg import MAMLConfig, MAMLVPGAgent, train_maml
    from paperzoo.metaworld.agents.scripted import RandomAgent
    from paperzoo.metaworld.protocol import evaluate_meta

    start = time.perf_counter()
    train = _meta_envs(meta, seed, "train")
    agent = MAMLVPGAgent(train.num_envs, config=MAMLConfig(hidden=meta.hidden), seed=seed)
    curve = train_maml(agent, train, meta.iterations, meta.episodes_per_task)
    train.close()
    out: dict[str, Any] = {"kind": kind, "train_curve": curve, "train_s": time.perf_counter() - start}
    protocol = (meta.num_evals, meta.adaptation_episodes, 1, meta.evaluation_episodes)
    for name, split in META_EVALUATIONS[kind]:
        envs = _meta_envs(meta, seed, split)
        if name.startswith("random"):
            policy: Any = RandomAgent(envs.num_envs, seed=seed)
        else:
            agent.adapt_enabled = name != "unadapted"
            agent.set_num_envs(envs.num_envs)
            policy = agent
        out[name] = evaluate_meta(policy, envs, *protocol, seed=seed).to_dict()
        envs.close()
    return out


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


PLATEAU_WINDOW = 0.2
"""The plateau check compares the last fifth of a run's training episodes with the fifth before it."""


def late_gain(success: list[float], window: float = PLATEAU_WINDOW) -> float:
    """How much a training curve still rises at the end: mean success of the training episodes in the last
    ``window`` of the run minus the mean of the ``window`` before it (0 on a plateau, > 0 while still learning)."""
    n = max(1, int(len(success) * window))
    if len(success) < 2 * n:
        raise ValueError(f"success must hold at least {2 * n} episodes, got {len(success)}")
    values = np.asarray(success, dtype=np.float64)
    return float(values[-n:].mean() - values[-2 * n : -n].mean())


def _mt_metrics(out: dict[str, Any], tasks: tuple[str, ...], metrics: dict, series: dict) -> None:
    """Metrics and training curves of one SAC job (single-task or MT-SAC), in place."""
    kind = out["kind"]
    for t, succ in out["train_success"].items():
        metrics[f"{kind}/{task_key(t)}_success"] = out["result"]["success_per_task"][t]
        metrics[f"{kind}/{task_key(t)}_late_gain"] = late_gain(succ)
        series[f"{kind}/{task_key(t)}_train_success"] = _binned(succ, 10)
    if kind == "single":
        metrics[f"single/{task_key(t)}_train_s"] = out["train_s"]
    else:
        metrics["mt_sac/train_s"] = out["train_s"]
        metrics["mt_sac/train_steps_per_s"] = out["env_steps"] / out["train_s"]
        metrics |= {f"mt_sac/{task_key(t)}_alpha": a for t, a in zip(tasks, out["temperatures"], strict=True)}


def run_full(config: FullConfig, seed: int) -> Result:
    """Single-task SAC per task vs one MT-SAC at equal per-task samples, the reference policies on every task, and
    first-order MAML-VPG on ML1 (adapting vs not) and on the held-out-task split (train vs held-out tasks)."""
    setup_process()
    tasks = config.tasks
    # Longest first: MT-SAC's k x N steps, then the single-task runs, the meta runs and the references.
    jobs: list[tuple[Any, tuple]] = [(_sac_job, ("mt_sac", tasks, 0, config, seed))]
    jobs += [(_sac_job, ("single", (t,), j, config, seed)) for j, t in enumerate(tasks)]
    metas = (("ml", config.ml), ("ml1", config.ml1))
    jobs += [(_meta_job, (kind, meta, seed)) for kind, meta in metas if meta.iterations]
    jobs += [(_reference_job, (kind, config, seed)) for kind in ("random", "scripted")]
    log.info("metaworld: seed %d, %d jobs on %d workers", seed, len(jobs), config.workers)
    outputs = run_jobs(jobs, config.workers, desc=f"metaworld seed {seed}")

    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for out in outputs:
        kind = out["kind"]
        if kind in ("single", "mt_sac"):
            _mt_metrics(out, tasks, metrics, series)
        elif kind in ("random", "scripted"):
            per_task = out["result"]["success_per_task"]
            metrics |= {f"{kind}/{task_key(t)}_success": s for t, s in per_task.items()}
            metrics[f"{kind}/max_success"] = max(per_task.values())
            if config.ml.iterations:
                metrics[f"{kind}/held_out_success"] = float(np.mean([per_task[t] for t in config.ml.test_tasks]))
        else:  # a meta job: "ml1" or "ml"
            metrics[f"{kind}/train_s"] = out["train_s"]
            series[f"{kind}/train_post_adaptation_success"] = out["train_curve"]
            for name, _ in META_EVALUATIONS[kind]:
                arm, _, split = name.partition("_")
                prefix = f"{kind}_{arm}" if kind == "ml" else f"ml1_{name}"
                stem = f"{split}_tasks_success" if kind == "ml" else "success"
                metrics[f"{prefix}/{stem}"] = out[name]["mean_success"]
                if kind == "ml":
                    metrics |= {f"{prefix}/{task_key(t)}_success": v for t, v in out[name]["success_per_task"].items()}
    # Means over the MT tasks (the MT protocol's unweighted mean), the same for every arm.
    for arm in ("single", "mt_sac", "random", "scripted"):
        metrics[f"{arm}/mean_success"] = float(np.mean([metrics[f"{arm}/{task_key(t)}_success"] for t in tasks]))
    for arm in ("single", "mt_sac"):
        metrics[f"{arm}/late_gain"] = float(np.mean([metrics[f"{arm}/{task_key(t)}_late_gain"] for t in tasks]))
    return Result(metrics, series)
