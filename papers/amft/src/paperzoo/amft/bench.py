"""The paperzoo benchmark of AMFT.

- smoke (seconds): the meta-gradient against a central finite difference (float64, tiny model), the
  controller on scripted entropy sequences, and 30 steps of SFT-only, RL-only and AMFT on a 1-layer model.
- full (minutes, 2 CPU cores): every regime of the brief (SFT-only, RL-only, SFT->RL, fixed mu in
  {0.2, 0.5, 0.8}, AMFT and its three ablations) at equal optimizer steps from one shared base model per
  seed, on column-wise addition; greedy exact match on 500 ID (1-3 digit) and 500 OOD (4-5 digit) problems.
- paper: Qwen2.5-Math-7B on OpenR1-Math-46k (the official config), for GPUs (loading path only, see README).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from paperzoo.amft.controller import AdaptiveWeightController, functional_objective, meta_gradient
from paperzoo.amft.model import ModelConfig, PolicyWithValue, build_lm
from paperzoo.amft.rl import RLLossConfig, sft_loss
from paperzoo.amft.task import ID_DIGITS, OOD_DIGITS, CharTokenizer, make_split, max_trace_tokens, sft_batch
from paperzoo.amft.train import (
    REGIMES,
    BaseConfig,
    TrainConfig,
    clone_policy,
    greedy_accuracy,
    pretrain_base,
    train_regime,
)
from paperzoo.shared import Benchmark, Claim, Compare, Max, MetricSpec, Result
from paperzoo.shared.plotting import plot_curves
from paperzoo.shared.progress import progress
from paperzoo.shared.torch import configure
from paperzoo.shared.validate import check_one_of, check_positive, check_positive_int

log = logging.getLogger("paperzoo.amft")
for noisy in ("transformers", "accelerate"):
    logging.getLogger(noisy).setLevel(logging.ERROR)


@dataclass(frozen=True)
class SmokeConfig:
    """Seconds: meta-gradient check, scripted controller, 30 steps of three regimes on a 1-layer model."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_layer=1, n_embd=32, n_head=2, n_positions=96))
    base: BaseConfig = field(default_factory=lambda: BaseConfig(pretrain_steps=0, sft_steps=40, batch_size=16))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=30, batch_size=4, group_size=2, max_new_tokens=16, warmup_steps=3, meta_update_freq=10, val_batch=4
        )
    )
    regimes: tuple[str, ...] = ("sft", "rl", "amft")
    n_demos: int = 200
    n_eval: int = 50
    scripted_steps: int = 20
    device: str = "cpu"

    def __post_init__(self) -> None:
        for r in self.regimes:
            check_one_of("regimes", r, REGIMES)
        for name in ("n_demos", "n_eval", "scripted_steps"):
            check_positive_int(name, getattr(self, name))


@dataclass(frozen=True)
class FullConfig:
    """The CPU-scale reproduction: a ~0.33M-parameter Llama on column-wise addition, every regime."""

    model: ModelConfig = field(default_factory=ModelConfig)
    base: BaseConfig = field(
        default_factory=lambda: BaseConfig(pretrain_steps=0, sft_steps=400, batch_size=32, sft_digits=(1, 2))
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=60, batch_size=8, group_size=4, lr=3e-4, max_new_tokens=max_trace_tokens(ID_DIGITS),
        warmup_steps=4, meta_update_freq=10, val_batch=16, eval_every=20, eval_problems=100,
    ))  # fmt: skip
    regimes: tuple[str, ...] = REGIMES
    n_demos: int = 2000  # the brief: limited demonstrations (2k traces) vs unlimited RL prompts
    n_eval: int = 500  # greedy exact match on 500 ID + 500 OOD problems
    device: str = "cpu"

    def __post_init__(self) -> None:
        for r in self.regimes:
            check_one_of("regimes", r, REGIMES)
        check_positive_int("n_demos", self.n_demos)
        check_positive_int("n_eval", self.n_eval)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's math setting (official configs: model_qwen7b.yaml, math_reasoning.yaml, amft_params.yaml).

    The official config spells the model ``Qwen/Qwen2.5-7B-Math``; the hub name is ``Qwen/Qwen2.5-Math-7B``.
    """

    base_model: str = "Qwen/Qwen2.5-Math-7B"
    train_dataset: str = "Elliott/OpenR1-Math-46k-8192"
    batch_size: int = 8
    max_seq_length: int = 2048
    dtype: str = "bfloat16"
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=500, batch_size=8, group_size=8, lr=1e-6, max_new_tokens=1024, warmup_steps=50, device="cuda"
        )
    )
    rl: RLLossConfig = field(default_factory=RLLossConfig)
    device: str = "cuda"

    def __post_init__(self) -> None:
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_seq_length", self.max_seq_length)
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        check_positive("train.lr", self.train.lr)


# ------------------------------------------------------------------------------------------- shared pieces
@functools.cache
def base_policy(model: ModelConfig, base: BaseConfig, seed: int) -> PolicyWithValue:
    """The shared starting point of every regime of one seed (pretrain + 1-digit SFT), computed once."""
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
    train, val = (sft_batch(tok, make_split(4, (1, 2), s)) for s in (seed + 1, seed + 2))
    other = sft_batch(tok, make_split(4, (1, 2), seed + 3))

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


def scripted_controller(steps: int) -> dict[str, float]:
    """mu after ``steps`` updates with H_t = H* -/+ 0.5 (entropy below / above target), from mu_0 = 0.5."""
    out = {}
    for name, offset in (("low_entropy", -0.5), ("high_entropy", 0.5)):
        c = AdaptiveWeightController(mu0=0.5, target_entropy=1.0, use_meta=False)
        for _ in range(steps):
            c.update(1.0 + offset)
        out[f"controller/mu_change_{name}"] = c.mu - 0.5
    c = AdaptiveWeightController(mu0=0.5, target_entropy=1.0, eta_entropy=0.2)
    for h in (0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0):
        c.update(h)
    out["controller/mu_min_seen"] = min(c.history["mu"])
    out["controller/mu_max_seen"] = max(c.history["mu"])
    return out


def run_regimes(config: SmokeConfig | FullConfig, seed: int) -> Result:
    tok = CharTokenizer()
    base = base_policy(config.model, config.base, seed)
    train_cfg = dataclasses.replace(config.train, device=config.device)
    demos = make_split(config.n_demos, ID_DIGITS, 10_000 + seed)
    val = make_split(200, ID_DIGITS, 20_000 + seed)
    id_eval = make_split(config.n_eval, ID_DIGITS, 30_000 + seed)
    ood_eval = make_split(config.n_eval, OOD_DIGITS, 40_000 + seed)
    curve_eval = id_eval[: train_cfg.eval_problems]
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for regime in progress(config.regimes, desc=f"regimes, seed {seed}", total=len(config.regimes)):
        torch.manual_seed(seed)
        start = time.perf_counter()
        policy, tl = train_regime(regime, clone_policy(base), tok, demos, val, train_cfg, seed, curve_eval)
        train_s = time.perf_counter() - start
        t_eval = time.perf_counter()
        id_acc = greedy_accuracy(policy, tok, id_eval, max_trace_tokens(ID_DIGITS))
        ood_acc = greedy_accuracy(policy, tok, ood_eval, max_trace_tokens(OOD_DIGITS))
        eval_s = time.perf_counter() - t_eval
        busy = tl.generation_s + tl.training_s
        metrics |= {
            f"{regime}/id_accuracy": id_acc,
            f"{regime}/ood_accuracy": ood_acc,
            f"{regime}/final_mu": tl.mu[-1],
            f"{regime}/optimizer_steps": float(tl.optimizer_steps),
            f"{regime}/generated_tokens": float(tl.generated_tokens),
            f"{regime}/gen_tokens_per_s": tl.generated_tokens / tl.generation_s if tl.generation_s else 0.0,
            f"{regime}/gen_time_share": tl.generation_s / busy if busy else 0.0,
            f"{regime}/train_time_s": train_s,
            f"{regime}/eval_time_s": eval_s,
            f"{regime}/mean_reward": sum(tl.reward) / len(tl.reward) if tl.reward else 0.0,
        }
        series |= {
            f"{regime}/mu": tl.mu,
            f"{regime}/reward": tl.reward,
            f"{regime}/eval_id_accuracy": tl.eval_id_accuracy,
        }
        if regime.startswith("amft"):
            metrics |= {f"{regime}/target_entropy": tl.target_entropy, f"{regime}/mu_min_seen": min(tl.mu)}
            metrics[f"{regime}/mu_max_seen"] = max(tl.mu[train_cfg.warmup_steps :])
            series |= {f"{regime}/meta_term": tl.meta_term, f"{regime}/entropy_term": tl.entropy_term}
            series[f"{regime}/entropy"] = tl.entropy
    return Result(metrics, series)


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    result = run_regimes(config, seed)
    result.metrics |= meta_gradient_check(seed)
    result.metrics |= scripted_controller(config.scripted_steps)
    return result


def run_paper(config: PaperConfig, seed: int) -> Result:  # pragma: no cover - needs a GPU and the hub
    """Loads the paper's base model through the tested path; the math data pipeline is not implemented."""
    from paperzoo.amft.model import load_lm

    policy = PolicyWithValue(load_lm(config.base_model, getattr(torch, config.dtype)))
    del policy
    raise NotImplementedError(
        f"the paper scale loads {config.base_model}; the {config.train_dataset} prompt/verifier pipeline is not "
        "implemented yet (see the README's Deviations)"
    )


def run(config: SmokeConfig | FullConfig | PaperConfig, seed: int) -> Result:
    """Dispatch on the scale's config type."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    # One intra-op thread: a ~0.4M-parameter model's ops are too small to split, and on a shared 2-core
    # machine OpenMP's barrier waits make two threads up to 60x slower than one (measured).
    configure(threads=1, deterministic=True)
    if isinstance(config, SmokeConfig):
        return run_smoke(config, seed)
    if isinstance(config, FullConfig):
        return run_regimes(config, seed)
    return run_paper(config, seed)


def plot(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """mu(t) of AMFT with its meta and entropy contributions; ID accuracy curves per regime."""
    if records[0]["scale"] != "full":
        return []
    s = [r["series"] for r in records]
    paths = [
        plot_curves(folder / "amft_mu.png", {"mu (AMFT)": [x["amft/mu"] for x in s]},
                    title="AMFT: imitation weight mu(t)", xlabel="step", ylabel="mu"),
        plot_curves(folder / "amft_mu_terms.png",
                    {"meta term": [x["amft/meta_term"] for x in s],
                     "entropy term": [x["amft/entropy_term"] for x in s]},
                    title="AMFT: per-step contributions to mu", xlabel="step after warm-up", ylabel="delta mu"),
    ]  # fmt: skip
    regimes = [k.removesuffix("/eval_id_accuracy") for k in s[0] if k.endswith("/eval_id_accuracy") and s[0][k]]
    if regimes:
        curves = {r: [x[f"{r}/eval_id_accuracy"] for x in s] for r in regimes}
        cfg = records[0]["config"]
        train = cfg["train"] if isinstance(cfg, dict) else cfg.train
        every = train["eval_every"] if isinstance(train, dict) else train.eval_every
        n = len(next(iter(curves.values()))[0])
        paths.append(
            plot_curves(folder / "id_accuracy_curves.png", curves, title="Greedy ID accuracy during training",
                        xlabel="optimizer step", ylabel="accuracy", x=[every * (i + 1) for i in range(n)])
        )  # fmt: skip
    return paths


def _nondegenerate(*arms: str) -> tuple[Compare, ...]:
    """Guards: each compared arm learned the ID task (> 5% greedy exact match) and some arm solves OOD (> 1%)."""
    return (*(Compare(f"{a}/id_accuracy", ">", 0.05) for a in arms), Compare(Max("*/ood_accuracy"), ">", 0.01))


SMOKE_CLAIMS = (
    Claim(
        "The meta-gradient equals a central finite difference of U_val(theta'(mu)) (rel. err < 1e-4)",
        Compare("amft/meta_grad_rel_err", "<", 1e-4),
        guards=(Compare("amft/meta_grad_abs", ">", 1e-8),),
    ),
    Claim("mu stays within [mu_min, mu_max] = [0.05, 0.95] (AMFT run)", Compare("amft/mu_min_seen", ">=", 0.05)),
    Claim("mu stays within [mu_min, mu_max] = [0.05, 0.95] (AMFT run, upper)", Compare("amft/mu_max_seen", "<=", 0.95)),
    Claim(
        "mu stays within bounds under a large scripted entropy swing",
        Compare("controller/mu_max_seen", "<=", 0.95),
        guards=(Compare("controller/mu_min_seen", ">=", 0.05),),
    ),
    Claim("Entropy below target -> mu grows (more imitation)", Compare("controller/mu_change_low_entropy", ">", 0.0)),
    Claim(
        "Entropy above target -> mu shrinks (more exploration)", Compare("controller/mu_change_high_entropy", "<", 0.0)
    ),
)

FULL_CLAIMS = (
    Claim(
        "AMFT's OOD accuracy >= SFT->RL's",
        Compare("amft/ood_accuracy", ">=", "sft_then_rl/ood_accuracy"),
        guards=_nondegenerate("amft", "sft_then_rl"),
    ),
    Claim(
        "AMFT's OOD accuracy >= the best fixed mu's",
        Compare("amft/ood_accuracy", ">=", Max("fixed_mu_*/ood_accuracy")),
        guards=_nondegenerate("amft", "fixed_mu_0.2", "fixed_mu_0.5", "fixed_mu_0.8"),
    ),
    Claim(
        "No ID loss: AMFT's ID accuracy within 1 point of the best fixed mu's or better",
        Compare("amft/id_accuracy", ">=", Max("fixed_mu_*/id_accuracy"), margin=-0.01),
        guards=(Compare("amft/id_accuracy", ">", 0.05), Compare(Max("fixed_mu_*/id_accuracy"), ">", 0.05)),
    ),
    Claim(
        "No ID loss: AMFT's ID accuracy within 1 point of SFT->RL's or better",
        Compare("amft/id_accuracy", ">=", "sft_then_rl/id_accuracy", margin=-0.01),
        guards=(Compare("amft/id_accuracy", ">", 0.05), Compare("sft_then_rl/id_accuracy", ">", 0.05)),
    ),
)

BENCHMARK = Benchmark(
    slug="amft",
    title="AMFT: meta-learned imitation-exploration balance (He et al., 2025)",
    framework="torch",
    scales={"smoke": SmokeConfig(), "full": FullConfig(), "paper": PaperConfig()},
    seeds={"smoke": (0,), "full": (0, 1, 2), "paper": (0,)},
    run=run,
    claims={"smoke": SMOKE_CLAIMS, "full": FULL_CLAIMS},
    metrics=(
        MetricSpec("amft/meta_grad_rel_err", better="lower", tolerance=1e-4),
        MetricSpec("amft/meta_grad_abs", better="higher", tolerance=0.5, relative=True),
        MetricSpec("*accuracy", better="higher", tolerance=0.05),
        MetricSpec("controller/mu_change_low_entropy", better="higher", tolerance=1e-6),
        MetricSpec("controller/mu_change_high_entropy", better="lower", tolerance=1e-6),
        MetricSpec("*mu_min_seen", better="higher", tolerance=0.05),
        MetricSpec("*mu_max_seen", better="lower", tolerance=0.05),
        MetricSpec("*/final_mu", better="higher", tolerance=0.05),
        MetricSpec("*/mean_reward", better="higher", tolerance=0.1),
        MetricSpec("*/target_entropy", better="lower", tolerance=0.2, relative=True),
        MetricSpec("*/optimizer_steps", better="higher", tolerance=0.0),
        MetricSpec("*/generated_tokens", better="lower", tolerance=0.5, relative=True),
    ),
    plot=plot,
    paper_needs=(
        "CUDA GPUs (a 7B model; `accelerate launch` for data-parallel), the Hugging Face hub (Qwen/Qwen2.5-Math-7B, "
        "Elliott/OpenR1-Math-46k-8192)"
    ),
)
