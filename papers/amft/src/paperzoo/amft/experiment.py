"""The scale runners of AMFT: ``run_smoke``, ``run_full`` and ``run_paper`` (``(config, seed) -> Result``).

- smoke and full train the regimes of the config from one shared base model per seed on column-wise addition
  (:func:`run_regimes`); smoke adds the meta-gradient check and the scripted controller.
- paper trains each regime from the hub model on the paper's math data (:mod:`paperzoo.amft.math_rl`) and
  evaluates greedy final-answer exact match.

Every sub-seed is derived from the run's seed with :func:`paperzoo.shared.seeding.derive`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import gc
import logging
import math
import multiprocessing
import random
import time
import warnings
from typing import TYPE_CHECKING

import torch

from paperzoo.amft.controller import AdaptiveWeightController, meta_gradient
from paperzoo.amft.model import ModelConfig, PolicyWithValue, build_lm, load_lm
from paperzoo.amft.rl import collect_rollouts, rl_loss, sft_loss
from paperzoo.amft.task import CharTokenizer, Problem, make_split, max_trace_tokens, sft_batch
from paperzoo.amft.train import (
    BaseConfig,
    TrainConfig,
    TrainLog,
    greedy_accuracy,
    pretrain_base,
    train_regime,
    validation_objective,
)
from paperzoo.shared import Result
from paperzoo.shared.progress import progress
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure

if TYPE_CHECKING:
    from paperzoo.amft.bench import FullConfig, PaperConfig, SmokeConfig

log = logging.getLogger("paperzoo.amft")


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    for noisy in ("transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


# ------------------------------------------------------------------------------------------- shared pieces
@functools.cache
def base_policy(model: ModelConfig, base: BaseConfig, seed: int) -> PolicyWithValue:
    """The shared starting point of every regime of one seed (pretrain + small-sum SFT), computed once."""
    torch.manual_seed(seed)
    tok = CharTokenizer()
    policy = PolicyWithValue(build_lm(model, tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id))
    return pretrain_base(policy, tok, base, seed)


@dataclasses.dataclass(frozen=True)
class LowFirstDigit(Problem):
    """An addition prompt with a reward a random policy earns: 1 when the completion starts with 0-4.

    The meta-gradient checks need rewarded and unrewarded rollouts from an untrained policy (on the real
    reward a random policy scores 0 and the REINFORCE surrogate is identically 0).
    """

    def reward(self, completion: str) -> float:
        return float(completion[:1] in "01234" and completion[:1] != "")


def meta_gradient_check(seed: int, meta_objective: str = "val_reward") -> dict[str, float]:
    """Relative error of the trainer's meta-gradient against a central finite difference in mu.

    A float64 1-layer GPT-2 policy (Llama's RMSNorm computes in float32), real rollouts: g_s from an SFT batch,
    g_r from the PPO loss on sampled solutions, U_val from :func:`validation_objective` (``val_reward``: the
    REINFORCE surrogate on fresh validation rollouts, fixed once drawn; or ``val_ce``). The finite difference
    evaluates U_val at theta - alpha ((1 - mu) g_r + mu g_s) for mu +/- h.
    """
    tok = CharTokenizer()
    torch.manual_seed(seed)
    lm = build_lm(ModelConfig(n_layer=1, n_embd=16, n_head=2, n_positions=96, arch="gpt2"), tok.vocab_size)
    policy = PolicyWithValue(lm).double()
    train, val = (
        [LowFirstDigit(p.a, p.b) for p in make_split(8, (1, 2), derive(seed, "meta-gradient check batch", i))]
        for i in range(2)
    )
    config = TrainConfig(val_batch=8, max_new_tokens=24, meta_objective=meta_objective)
    generator = torch.Generator().manual_seed(derive(seed, "meta-gradient check rollouts"))
    rollouts = collect_rollouts(policy, tok, train, 2, config.max_new_tokens, generator=generator)
    controller = AdaptiveWeightController(meta_objective=meta_objective)
    u = validation_objective(policy, controller, tok, val, random.Random(seed), config, generator)
    mu, lr = 0.6, 0.5
    loss_s, loss_r = sft_loss(policy, sft_batch(tok, train)), rl_loss(policy, rollouts)[0]
    m = meta_gradient(policy, loss_s, loss_r, u, mu, lr)
    params = dict(policy.named_parameters())
    grads = [
        torch.autograd.grad(x, list(params.values()), retain_graph=True, allow_unused=True) for x in (loss_s, loss_r)
    ]
    g_s, g_r = (
        {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(params.items(), gs, strict=True)}
        for gs in grads
    )

    def at(mu_: float) -> float:
        with torch.no_grad():
            return float(u({n: p - lr * ((1 - mu_) * g_r[n] + mu_ * g_s[n]) for n, p in params.items()}))

    h = 1e-4
    fd = (at(mu + h) - at(mu - h)) / (2 * h)
    return {"amft/meta_grad_rel_err": abs(m - fd) / max(abs(fd), 1e-12), "amft/meta_grad_abs": abs(m)}


def scripted_controller(steps: int, mu_min: float = 0.05, mu_max: float = 0.95) -> dict[str, float]:
    """mu after ``steps`` updates with H_t = H* -/+ 0.5 (entropy below / above target), from mu_0 = 0.5."""
    out = {}
    for name, offset in (("low_entropy", -0.5), ("high_entropy", 0.5)):
        c = AdaptiveWeightController(mu0=0.5, mu_min=mu_min, mu_max=mu_max, target_entropy=1.0, use_meta=False)
        for _ in range(steps):
            c.update(1.0 + offset)
        out[f"controller/mu_change_{name}"] = c.mu - 0.5
    c = AdaptiveWeightController(mu0=0.5, mu_min=mu_min, mu_max=mu_max, target_entropy=1.0, eta_entropy=0.2)
    for h in (0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0):
        c.update(h)
    out["controller/mu_min_seen"] = min(c.history["mu"])
    out["controller/mu_max_seen"] = max(c.history["mu"])
    return out


def regime_metrics(regime: str, tl: TrainLog, warmup_steps: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """The budget, mu and reward numbers of one regime's training log (and its curves).

    AMFT's regimes add mu's range after the warm-up and ``mu_early``/``mu_late``, the mean of mu over the first
    and the last third of the steps after the warm-up (the paper's shape: imitation early, exploration later,
    is ``mu_early > mu_late``).
    """
    busy = tl.generation_s + tl.training_s
    metrics = {
        f"{regime}/final_mu": tl.mu[-1],
        f"{regime}/optimizer_steps": float(tl.optimizer_steps),
        f"{regime}/generated_tokens": float(tl.generated_tokens),
        f"{regime}/gen_tokens_per_s": tl.generated_tokens / tl.generation_s if tl.generation_s else 0.0,
        f"{regime}/gen_time_share": tl.generation_s / busy if busy else 0.0,
        f"{regime}/mean_reward": sum(tl.reward) / len(tl.reward) if tl.reward else 0.0,
    }
    series = {f"{regime}/mu": tl.mu, f"{regime}/reward": tl.reward, f"{regime}/eval_id_accuracy": tl.eval_id_accuracy}
    if regime.startswith("amft"):
        metrics |= {f"{regime}/target_entropy": tl.target_entropy, f"{regime}/mu_min_seen": min(tl.mu)}
        trained = tl.mu[warmup_steps:]
        third = max(1, len(trained) // 3)
        metrics[f"{regime}/mu_max_seen"] = max(trained)
        metrics[f"{regime}/mu_early"] = sum(trained[:third]) / third
        metrics[f"{regime}/mu_late"] = sum(trained[-third:]) / third
        series |= {f"{regime}/meta_term": tl.meta_term, f"{regime}/entropy_term": tl.entropy_term}
        series[f"{regime}/entropy"] = tl.entropy
    return metrics, series


# ---------------------------------------------------------------------------------------------- CPU scales
def run_regime(
    config: SmokeConfig | FullConfig, seed: int, regime: str, base_state: dict[str, torch.Tensor]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """One regime from the seed's base weights; greedy exact match on the ID and OOD test problems.

    Self-contained (it rebuilds the splits from the seed), so that :func:`run_regimes` can run regimes in
    worker processes with the same numbers as in one process.
    """
    _quiet()
    # One intra-op thread: a ~0.4M-parameter model's ops are too small to split, and on a shared 2-core
    # machine OpenMP's barrier waits make two threads up to 60x slower than one (measured).
    configure(threads=1, deterministic=True)
    tok = CharTokenizer()
    policy = PolicyWithValue(build_lm(config.model, tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id))
    policy.load_state_dict(base_state)
    train_cfg = dataclasses.replace(config.train, device=config.device)
    demos = make_split(config.n_demos, config.id_lengths, derive(seed, "demonstrations"))
    val = make_split(200, config.id_lengths, derive(seed, "validation problems"))
    id_eval = make_split(config.n_eval, config.id_lengths, derive(seed, "ID test problems"))
    ood_eval = make_split(config.n_eval, config.ood_lengths, derive(seed, "OOD test problems"))
    torch.manual_seed(seed)
    start = time.perf_counter()
    policy, tl = train_regime(regime, policy, tok, demos, val, train_cfg, seed, id_eval[: train_cfg.eval_problems])
    metrics = {f"{regime}/train_time_s": time.perf_counter() - start}
    t_eval = time.perf_counter()
    metrics[f"{regime}/id_accuracy"] = greedy_accuracy(policy, tok, id_eval, max_trace_tokens(config.id_lengths))
    metrics[f"{regime}/ood_accuracy"] = greedy_accuracy(policy, tok, ood_eval, max_trace_tokens(config.ood_lengths))
    metrics[f"{regime}/eval_time_s"] = time.perf_counter() - t_eval
    m, series = regime_metrics(regime, tl, train_cfg.warmup_steps)
    return metrics | m, series


@functools.cache
def _pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool kept for the whole run (its workers import torch and transformers once)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def run_regimes(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Every regime of ``config`` from the seed's base model, on ``config.workers`` processes."""
    _quiet()
    configure(threads=1, deterministic=True)
    base = {k: v.detach().clone() for k, v in base_policy(config.model, config.base, seed).state_dict().items()}
    desc, n = f"regimes, seed {seed}", len(config.regimes)
    if config.workers == 1:
        outputs = [run_regime(config, seed, regime, base) for regime in progress(config.regimes, desc=desc, total=n)]
    else:
        futures = [_pool(config.workers).submit(run_regime, config, seed, r, base) for r in config.regimes]
        outputs = [f.result() for f in progress(futures, desc=desc, total=n)]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for m, s in outputs:
        metrics |= m
        series |= s
    return Result(metrics, series)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """Three regimes for 30 steps, the meta-gradient check and the scripted controller."""
    result = run_regimes(config, seed)
    result.metrics |= meta_gradient_check(seed)
    result.metrics |= scripted_controller(config.scripted_steps, config.train.mu_min, config.train.mu_max)
    return result


def run_full(config: FullConfig, seed: int) -> Result:
    """Every regime at equal optimizer steps from the seed's base model (see the README's Results)."""
    return run_regimes(config, seed)


# ----------------------------------------------------------------------------------------------- paper scale
def run_paper(config: PaperConfig, seed: int) -> Result:
    """Each regime from the hub model on the paper's math data; greedy final-answer exact match on the eval set.

    The training set's demonstrations are the SFT batches and their prompts the RL prompts (reward 1 when the
    completion's final answer matches the reference); ``n_val`` of its problems are held out for U_val.
    """
    from paperzoo.amft.math_rl import load_problems, load_tokenizer

    _quiet()
    torch.manual_seed(seed)
    tok = load_tokenizer(config.tokenizer or config.base_model, config.eos_token)
    problems = load_problems(config.train_data, tok, config.prompt_template, config.max_seq_length)
    evals = load_problems(config.eval_data, tok, config.prompt_template, config.max_seq_length, need_solution=False)
    random.Random(derive(seed, "validation split")).shuffle(problems)
    val, demos = problems[: config.n_val], problems[config.n_val :]
    if len(demos) < config.train.batch_size:
        raise ValueError(
            f"{config.train_data.source}: {len(problems)} usable problems leave {len(demos)} demonstrations "
            f"after holding out n_val={config.n_val}; need at least train.batch_size={config.train.batch_size}"
        )
    train_cfg = dataclasses.replace(config.train, device=config.device)
    dtype = getattr(torch, config.dtype)
    metrics: dict[str, float] = {"data/train_problems": float(len(demos)), "data/eval_problems": float(len(evals))}
    series: dict[str, list[float]] = {}
    for i, regime in enumerate(progress(config.regimes, desc=f"regimes, seed {seed}", total=len(config.regimes))):
        torch.manual_seed(seed)
        policy = PolicyWithValue(load_lm(config.base_model, dtype)).to(config.device)
        if i == 0:
            metrics["base/eval_accuracy"] = greedy_accuracy(
                policy, tok, evals, config.eval_max_new_tokens, config.eval_batch
            )
        start = time.perf_counter()
        policy, tl = train_regime(regime, policy, tok, demos, val, train_cfg, seed)
        metrics[f"{regime}/train_time_s"] = time.perf_counter() - start
        metrics[f"{regime}/eval_accuracy"] = greedy_accuracy(
            policy, tok, evals, config.eval_max_new_tokens, config.eval_batch
        )
        k = max(1, min(10, len(tl.sft_loss) // 4))  # the first and last steps' mean SFT loss
        metrics[f"{regime}/sft_loss_first"] = sum(tl.sft_loss[:k]) / k
        metrics[f"{regime}/sft_loss_last"] = sum(tl.sft_loss[-k:]) / k
        m, s = regime_metrics(regime, tl, train_cfg.warmup_steps)
        metrics |= m
        series |= s | {f"{regime}/sft_loss": tl.sft_loss}
        del policy
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        log.warning("non-finite metrics: %s", bad)
    return Result(metrics, series)
