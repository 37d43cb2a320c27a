"""The scale runners of AMFT: ``run_smoke``, ``run_full`` and ``run_paper`` (``(config, seed) -> Result``).

- smoke and full train the regimes of the config from one shared base model per seed on column-wise addition
  (:func:`run_regimes`); smoke adds the meta-gradient check and the scripted controller.
- paper trains each regime from the hub model on the paper's math data (:mod:`paperzoo.amft.math_rl`) and
  evaluates greedy final-answer exact match.

Every sub-seed is derived from the run's seed with :func:`paperzoo.shared.seeding.derive`.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import math
import random
import time
import warnings
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from paperzoo.amft.controller import AdaptiveWeightController, functional_objective, meta_gradient
from paperzoo.amft.model import ModelConfig, PolicyWithValue, build_lm, load_lm
from paperzoo.amft.rl import sft_loss
from paperzoo.amft.task import ID_DIGITS, OOD_DIGITS, CharTokenizer, make_split, max_trace_tokens, sft_batch
from paperzoo.amft.train import BaseConfig, TrainLog, clone_policy, greedy_accuracy, pretrain_base, train_regime
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


def meta_gradient_check(seed: int) -> dict[str, float]:
    """Relative error of :func:`meta_gradient` against a central finite difference in mu (float64, tiny model)."""
    tok = CharTokenizer()
    torch.manual_seed(seed)
    policy = PolicyWithValue(
        build_lm(ModelConfig(n_layer=1, n_embd=16, n_head=2, n_positions=32, arch="gpt2"), tok.vocab_size)
    )
    policy = policy.double()
    train, val, other = (
        sft_batch(tok, make_split(4, (1, 2), derive(seed, "meta-gradient check batch", i))) for i in range(3)
    )

    def ce(forward):
        logits, _ = forward(val["input_ids"], val["attention_mask"])
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), val["labels"][:, 1:].flatten(), ignore_index=-100)

    u = functional_objective(policy, ce)
    mu, lr = 0.6, 0.5
    loss_s, loss_r = sft_loss(policy, train), sft_loss(policy, other)  # any two differentiable losses
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
    """The budget, mu and reward numbers of one regime's training log (and its curves)."""
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
        metrics[f"{regime}/mu_max_seen"] = max(tl.mu[warmup_steps:])
        series |= {f"{regime}/meta_term": tl.meta_term, f"{regime}/entropy_term": tl.entropy_term}
        series[f"{regime}/entropy"] = tl.entropy
    return metrics, series


# ---------------------------------------------------------------------------------------------- CPU scales
def run_regimes(config: SmokeConfig | FullConfig, seed: int) -> Result:
    """Every regime of ``config`` from the seed's base model; greedy exact match on ID and OOD test problems."""
    _quiet()
    # One intra-op thread: a ~0.4M-parameter model's ops are too small to split, and on a shared 2-core
    # machine OpenMP's barrier waits make two threads up to 60x slower than one (measured).
    configure(threads=1, deterministic=True)
    tok = CharTokenizer()
    base = base_policy(config.model, config.base, seed)
    train_cfg = dataclasses.replace(config.train, device=config.device)
    demos = make_split(config.n_demos, ID_DIGITS, derive(seed, "demonstrations"))
    val = make_split(200, ID_DIGITS, derive(seed, "validation problems"))
    id_eval = make_split(config.n_eval, ID_DIGITS, derive(seed, "ID test problems"))
    ood_eval = make_split(config.n_eval, OOD_DIGITS, derive(seed, "OOD test problems"))
    curve_eval = id_eval[: train_cfg.eval_problems]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for regime in progress(config.regimes, desc=f"regimes, seed {seed}", total=len(config.regimes)):
        torch.manual_seed(seed)
        start = time.perf_counter()
        policy, tl = train_regime(regime, clone_policy(base), tok, demos, val, train_cfg, seed, curve_eval)
        train_s = time.perf_counter() - start
        t_eval = time.perf_counter()
        metrics[f"{regime}/id_accuracy"] = greedy_accuracy(policy, tok, id_eval, max_trace_tokens(ID_DIGITS))
        metrics[f"{regime}/ood_accuracy"] = greedy_accuracy(policy, tok, ood_eval, max_trace_tokens(OOD_DIGITS))
        metrics |= {f"{regime}/train_time_s": train_s, f"{regime}/eval_time_s": time.perf_counter() - t_eval}
        m, s = regime_metrics(regime, tl, train_cfg.warmup_steps)
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
