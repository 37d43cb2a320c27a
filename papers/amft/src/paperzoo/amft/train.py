"""Trainers for every regime of the comparison, at equal compute, through ``accelerate``.

Every regime starts from the same base model (LM pretraining on raw digit strings, then a small SFT on
1-digit sums so that RL sees nonzero reward) and runs the same number of optimizer steps with the same SFT
batch and the same rollout batch per RL step:

- ``sft``: L_SFT only.   ``rl``: L_RL only.   ``sft_then_rl``: L_SFT for half of the steps, then L_RL.
- ``fixed_mu_<m>``: L = (1 - m) L_RL + m L_SFT with m in {0.2, 0.5, 0.8}.
- ``amft``: W warm-up steps of L_SFT, H* measured, then L = (1 - mu_t) L_RL + mu_t L_SFT with mu_t from the
  :class:`AdaptiveWeightController` (meta term on ``val_reward`` + entropy term).
- ablations: ``amft_no_meta``, ``amft_no_entropy``, ``amft_official_sign`` (U_val = validation CE, added
  with the official code's sign).

The loop wraps the policy and AdamW with ``accelerate.Accelerator``: on CPU it is one process; under
``accelerate launch`` it runs data-parallel (each process samples its own batches; mu's inputs H_t and m_t are
averaged across processes so that every process keeps the same mu).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from paperzoo.amft.controller import (
    TARGET_ENTROPY_POSITIONS,
    AdaptiveWeightController,
    functional_objective,
    meta_gradient,
    reinforce_surrogate,
    target_entropy,
)
from paperzoo.amft.model import PolicyWithValue
from paperzoo.amft.rl import RLLossConfig, collect_rollouts, rl_loss, sft_loss
from paperzoo.amft.task import ID_DIGITS, CharTokenizer, Problem, make_problem, sft_batch
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch.lm import left_pad, sample, token_logprobs_and_entropy
from paperzoo.shared.validate import (
    check_non_negative,
    check_one_of,
    check_positive,
    check_positive_int,
    check_range,
)

FIXED_MUS = (0.2, 0.5, 0.8)
REGIMES = (
    "sft",
    "rl",
    "sft_then_rl",
    *(f"fixed_mu_{m}" for m in FIXED_MUS),
    "amft",
    "amft_no_meta",
    "amft_no_entropy",
    "amft_official_sign",
)


@dataclass(frozen=True)
class TrainConfig:
    """One regime's budget and hyperparameters (defaults: the official AMFT config where it has one)."""

    steps: int = 60
    batch_size: int = 16
    group_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    rl: RLLossConfig = field(default_factory=RLLossConfig)
    temperature: float = 1.0
    gamma: float = 1.0
    lam: float = 0.95
    max_new_tokens: int = 48
    warmup_steps: int = 5
    target_entropy_batches: int = 20
    target_entropy_positions: str = "all"  # official: every non-pad position of the SFT batches
    mu0: float = 0.8  # official training config (the controller class default is 0.5)
    mu_min: float = 0.05
    mu_max: float = 0.95
    eta_meta: float = 1e-4
    eta_entropy: float = 5e-4
    meta_update_freq: int = 20
    meta_objective: str = "val_reward"
    meta_sign: str = "descent"
    val_batch: int = 16
    eval_every: int = 0  # 0: no learning curve
    eval_problems: int = 100
    mixed_precision: str = "no"  # accelerate's autocast: "no", "bf16" or "fp16" (the paper scale: bf16)
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "group_size", "max_new_tokens", "target_entropy_batches"):
            check_positive_int(name, getattr(self, name))
        for name in ("meta_update_freq", "val_batch", "eval_problems"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_non_negative("temperature", self.temperature)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("lam", self.lam, 0.0, 1.0)
        check_non_negative("warmup_steps", self.warmup_steps)
        check_non_negative("eval_every", self.eval_every)
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps must be < steps, got {self.warmup_steps} >= {self.steps}")
        check_range("mu_min", self.mu_min, 0.0, 1.0)
        check_range("mu_max", self.mu_max, 0.0, 1.0)
        if self.mu_min > self.mu_max:
            raise ValueError(f"mu_min must be <= mu_max, got {self.mu_min} > {self.mu_max}")
        check_range("mu0", self.mu0, self.mu_min, self.mu_max)
        check_non_negative("eta_meta", self.eta_meta)
        check_non_negative("eta_entropy", self.eta_entropy)
        check_one_of("meta_objective", self.meta_objective, ("val_reward", "val_ce"))
        check_one_of("meta_sign", self.meta_sign, ("descent", "official"))
        check_one_of("target_entropy_positions", self.target_entropy_positions, TARGET_ENTROPY_POSITIONS)
        check_one_of("mixed_precision", self.mixed_precision, ("no", "bf16", "fp16"))


@dataclass
class TrainLog:
    """What a regime's run records: per-step curves and the budget actually spent."""

    mu: list[float] = field(default_factory=list)
    meta_term: list[float] = field(default_factory=list)
    entropy_term: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    sft_loss: list[float] = field(default_factory=list)
    eval_id_accuracy: list[float] = field(default_factory=list)
    target_entropy: float = float("nan")
    optimizer_steps: int = 0
    generated_tokens: int = 0
    generation_s: float = 0.0
    training_s: float = 0.0


def regime_schedule(regime: str, config: TrainConfig) -> Callable[[int], float | None]:
    """mu at step t for the non-adaptive regimes (1 = SFT only, 0 = RL only); ``None`` means AMFT's controller."""
    check_one_of("regime", regime, REGIMES)
    if regime == "sft":
        return lambda t: 1.0
    if regime == "rl":
        return lambda t: 0.0
    if regime == "sft_then_rl":
        return lambda t: 1.0 if t < config.steps // 2 else 0.0
    if regime.startswith("fixed_mu_"):
        mu = float(regime.removeprefix("fixed_mu_"))
        return lambda t: mu
    return lambda t: 1.0 if t < config.warmup_steps else None


def make_controller(regime: str, config: TrainConfig) -> AdaptiveWeightController:
    """The controller of an AMFT regime (the ablations switch one of its parts)."""
    check_one_of("regime", regime, REGIMES)
    official = regime == "amft_official_sign"
    return AdaptiveWeightController(
        mu0=config.mu0,
        mu_min=config.mu_min,
        mu_max=config.mu_max,
        eta_meta=config.eta_meta,
        eta_entropy=config.eta_entropy,
        meta_update_freq=config.meta_update_freq,
        meta_objective="val_ce" if official else config.meta_objective,
        meta_sign="official" if official else config.meta_sign,
        use_meta=regime != "amft_no_meta",
        use_entropy=regime != "amft_no_entropy",
    )


@torch.no_grad()
def greedy_accuracy(
    policy: PolicyWithValue, tok: CharTokenizer, problems: Sequence[Problem], max_new_tokens: int, batch: int = 500
) -> float:
    """Greedy exact match of the final answer (KV-cached batched decoding), scored by each problem's ``reward``."""
    device = next(policy.parameters()).device
    correct = 0.0
    for i in range(0, len(problems), batch):
        chunk = problems[i : i + batch]
        ids, mask = left_pad([tok.encode(p.prompt, bos=True) for p in chunk], tok.pad_id)
        new = sample(policy.lm, ids.to(device), mask.to(device), max_new_tokens, tok.eos_id, tok.pad_id, 0.0)
        correct += sum(p.reward(tok.decode(r.tolist())) for p, r in zip(chunk, new, strict=True))
    return correct / len(problems)


def validation_objective(
    policy: PolicyWithValue,
    controller: AdaptiveWeightController,
    tok: CharTokenizer,
    val_demos: Sequence[Problem],
    rng: random.Random,
    config: TrainConfig,
    generator: torch.Generator,
) -> Callable:
    """U_val(params) on ``config.val_batch`` problems drawn from ``val_demos`` (the controller's objective).

    ``val_reward``: J_val ~= mean_i (R_i - mean R) sum_t log pi_params(a_it | s_it) on one fresh rollout per
    problem (its gradient is the REINFORCE estimate of grad J_val, ascended); ``val_ce``: the mean token
    cross-entropy of the demonstrations (a loss). Either is a function of the parameter dict.
    """
    device = next(policy.parameters()).device
    problems = rng.sample(list(val_demos), config.val_batch)
    if controller.meta_objective == "val_ce":
        batch = {k: v.to(device) for k, v in sft_batch(tok, problems).items()}

        def ce(forward: Callable) -> torch.Tensor:
            logits, _ = forward(batch["input_ids"], batch["attention_mask"])
            return F.cross_entropy(logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100)

        return functional_objective(policy, ce)
    ro = collect_rollouts(
        policy, tok, problems, 1, config.max_new_tokens, "group", config.temperature, generator=generator
    )

    def reward(forward: Callable) -> torch.Tensor:
        logits, _ = forward(ro.input_ids, ro.attention_mask)
        logprobs, _ = token_logprobs_and_entropy(logits, ro.input_ids)
        return reinforce_surrogate(logprobs, ro.action_mask, ro.rewards)

    return functional_objective(policy, reward)


def train_regime(
    regime: str,
    policy: PolicyWithValue,
    tok: CharTokenizer,
    demos: Sequence[Problem],
    val_demos: Sequence[Problem],
    config: TrainConfig,
    seed: int,
    eval_problems: Sequence[Problem] = (),
) -> tuple[PolicyWithValue, TrainLog]:
    """Train ``policy`` (modified in place and returned) under ``regime`` for ``config.steps`` optimizer steps.

    Each step draws an SFT batch from the limited ``demos`` and uses its prompts for ``group_size`` rollouts
    each (brief: "draw an SFT batch; use its prompts for RL rollouts"). Steps with mu = 1 skip the rollout.
    """
    from accelerate import Accelerator

    check_one_of("regime", regime, REGIMES)
    accelerator = Accelerator(
        cpu=torch.device(config.device).type == "cpu",
        mixed_precision=config.mixed_precision,
    )
    rng = random.Random(derive(seed, "batches", accelerator.process_index))
    generator = torch.Generator(device=accelerator.device)
    generator.manual_seed(derive(seed, "rollouts", accelerator.process_index))
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    policy, optimizer = accelerator.prepare(policy, optimizer)
    module: PolicyWithValue = accelerator.unwrap_model(policy)
    schedule = regime_schedule(regime, config)
    controller = make_controller(regime, config) if regime.startswith("amft") else None
    log = TrainLog()
    device = accelerator.device
    for t in range(config.steps):
        problems = rng.sample(list(demos), config.batch_size)
        batch = {k: v.to(device) for k, v in sft_batch(tok, problems).items()}
        mu = schedule(t)
        if controller is not None and t == config.warmup_steps:
            # H* = mean entropy over <= 20 SFT batches after the warm-up (non-pad or response positions)
            batches = (
                {k: v.to(device) for k, v in sft_batch(tok, rng.sample(list(demos), config.batch_size)).items()}
                for _ in range(config.target_entropy_batches)
            )
            h = target_entropy(module, batches, config.target_entropy_batches, config.target_entropy_positions)
            h_star = torch.tensor(h, device=device)
            controller.set_target_entropy(float(accelerator.reduce(h_star, "mean")))
            log.target_entropy = controller.target_entropy
        ro = None
        if mu is None or mu < 1.0:
            ro = collect_rollouts(
                module,
                tok,
                problems,
                config.group_size,
                config.max_new_tokens,
                config.rl.kind,
                config.temperature,
                config.gamma,
                config.lam,
                generator,
            )
            log.generated_tokens += ro.generated_tokens
            log.generation_s += ro.generation_s
            log.reward.append(float(ro.rewards.mean()))
        t_train = time.perf_counter()
        loss_sft = sft_loss(policy, batch)
        loss_rl, stats = rl_loss(policy, ro, config.rl) if ro is not None else (None, {})
        if mu is None:
            assert controller is not None and loss_rl is not None
            k = t - config.warmup_steps
            m_t = 0.0
            if controller.is_meta_step(k):
                # separate forward on the unwrapped module: autograd.grad must not run DDP's reducer hooks
                u = validation_objective(module, controller, tok, val_demos, rng, config, generator)
                m_t = meta_gradient(
                    module, sft_loss(module, batch), rl_loss(module, ro, config.rl)[0], u, controller.mu, config.lr
                )
            h_t = torch.tensor(float(stats["entropy"]), device=device)
            m = torch.tensor(m_t, device=device)
            # mu is updated BEFORE forming the step's loss (official order)
            mu = controller.update(float(accelerator.reduce(h_t, "mean")), float(accelerator.reduce(m, "mean")))
            log.meta_term.append(controller.history["meta_term"][-1])
            log.entropy_term.append(controller.history["entropy_term"][-1])
        # L = (1 - mu) L_RL + mu L_SFT
        loss = loss_sft if loss_rl is None else (1 - mu) * loss_rl + mu * loss_sft
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        log.training_s += time.perf_counter() - t_train
        log.optimizer_steps += 1
        log.mu.append(mu)
        log.sft_loss.append(float(loss_sft.detach()))
        if "entropy" in stats:
            log.entropy.append(float(stats["entropy"]))
        if config.eval_every and (t + 1) % config.eval_every == 0 and eval_problems:
            log.eval_id_accuracy.append(greedy_accuracy(module, tok, eval_problems, config.max_new_tokens))
    return accelerator.unwrap_model(policy), log


# ---------------------------------------------------------------------------------------------- base model
@dataclass(frozen=True)
class BaseConfig:
    """The shared base: LM pretraining on raw digit strings, then SFT on 1-digit sums (so RL sees reward)."""

    pretrain_steps: int = 150
    sft_steps: int = 150
    batch_size: int = 32
    lr: float = 3e-3
    string_length: int = 24
    sft_digits: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        for name in ("batch_size", "string_length"):
            check_positive_int(name, getattr(self, name))
        if not self.sft_digits or any(d not in ID_DIGITS for d in self.sft_digits):
            raise ValueError(
                f"sft_digits must be a non-empty subset of the ID lengths {ID_DIGITS}, got {self.sft_digits}"
            )
        check_non_negative("pretrain_steps", self.pretrain_steps)
        check_non_negative("sft_steps", self.sft_steps)
        check_positive("lr", self.lr)


def pretrain_base(policy: PolicyWithValue, tok: CharTokenizer, config: BaseConfig, seed: int) -> PolicyWithValue:
    """Next-token pretraining on raw digit strings (``<bos>`` + random digits and spaces), then 1-digit-sum SFT.

    Measured at full scale (seed 0, 300 SFT steps): 1-digit accuracy 0.875 and ID accuracy 0.13 without
    pretraining, but 0.18-0.22 / 0.035-0.045 after 30 steps of pretraining on random digit strings (with or
    without random ``+``/``=``);
    the full config therefore keeps pretraining off by default (see the README's Deviations).
    """
    rng = random.Random(derive(seed, "base model data"))
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    chars = "0123456789" * 3 + " "  # raw digit strings (numbers separated by spaces), no arithmetic
    device = next(policy.parameters()).device
    for _ in range(config.pretrain_steps):
        seqs = [tok.encode("".join(rng.choice(chars) for _ in range(config.string_length)), bos=True)]
        seqs += [
            tok.encode("".join(rng.choice(chars) for _ in range(config.string_length)), bos=True)
            for _ in range(config.batch_size - 1)
        ]
        ids, mask = left_pad(seqs, tok.pad_id)
        labels = ids.masked_fill(mask == 0, -100)
        loss = sft_loss(
            policy, {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for _ in range(config.sft_steps):
        batch = sft_batch(tok, [make_problem(rng, config.sft_digits) for _ in range(config.batch_size)])
        loss = sft_loss(policy, {k: v.to(device) for k, v in batch.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return policy


def clone_policy(policy: PolicyWithValue) -> PolicyWithValue:
    """A deep copy (each regime starts from the same base weights)."""
    return copy.deepcopy(policy)


__all__ = [
    "FIXED_MUS",
    "ID_DIGITS",
    "REGIMES",
    "BaseConfig",
    "TrainConfig",
    "TrainLog",
    "clone_policy",
    "greedy_accuracy",
    "make_controller",
    "pretrain_base",
    "regime_schedule",
    "train_regime",
    "validation_objective",
]
