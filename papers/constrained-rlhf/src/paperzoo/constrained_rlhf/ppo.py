"""Constrained PPO on a causal LM with one value head per reward stream (RL4LMs' mechanics, token level).

Streams: one per component reward (its episode reward on the reply's last token) and one for the KL penalty
(-beta (log pi_old - log pi_ref) on every generated token). Each stream has its own value head; GAE (gamma 1,
lambda 0.95) per stream; each stream's advantage is normalised over the minibatch's tokens, then mixed:

- ``fixed`` (fixed-weight PPO): A = norm(sum_i w_i A_i + A_KL), the advantage of the composite reward
  sum_i w_i r_i - beta KL (its value is sum_i w_i V_i + V_KL);
- ``sat`` (PPO-SAT): the same with each component reward clipped at its threshold, min(r_i, theta_i);
- ``kl`` / ``all`` / ``task``: :func:`paperzoo.constrained_rlhf.lagrange.mixed_advantage` with the multipliers,
  which take one SGD step after each policy minibatch step on the minibatch's mean episode reward-to-go.
  For ``all`` the KL penalty is added to every component reward (and left out of the multiplier's G_i).

Loss: -E[min(r_t A_t, clip(r_t, 0.8, 1.2) A_t)] - c_H E[H_t] + c_con MSE(component heads) + c_KL MSE(KL head).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from paperzoo.constrained_rlhf.dialogue import Dialogue, IntentClassifier, WordTokenizer, bigram_f1, meteor_like
from paperzoo.constrained_rlhf.dialogue import repetition as repetition_of
from paperzoo.constrained_rlhf.lagrange import LagrangeMultipliers, mixed_advantage, normalise
from paperzoo.shared.torch.lm import (
    gae,
    left_pad,
    masked_mean,
    outcome_token_rewards,
    position_ids,
    sample,
    token_logprobs_and_entropy,
)
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

COMPONENTS = ("meteor", "intent")  # one component order everywhere (thresholds, simplex, multipliers)
MODES = ("fixed", "sat", "kl", "all", "task")


class PolicyWithValues(nn.Module):
    """A causal LM policy and ``n_heads`` linear value heads on its last hidden state (zero-initialised).

    ``forward(ids, mask) -> (logits (B, L, V), values (n_heads, B, L))``."""

    def __init__(self, lm: nn.Module, n_heads: int) -> None:
        super().__init__()
        check_positive_int("n_heads", n_heads)
        self.lm = lm
        self.heads = nn.Linear(lm.get_output_embeddings().weight.shape[1], n_heads)
        nn.init.zeros_(self.heads.weight)
        nn.init.zeros_(self.heads.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            output_hidden_states=True,
        )
        return out.logits, self.heads(out.hidden_states[-1]).permute(2, 0, 1)


@dataclass(frozen=True)
class PPOConfig:
    """PPO on the dialogues (official: clip 0.2, GAE 0.95, gamma 1, vf 0.5 / 0.2, KL 0.2, grad norm 0.5)."""

    lr: float = 3e-4
    batch_episodes: int = 64  # episodes per rollout
    minibatch_episodes: int = 32
    epochs: int = 2
    clip: float = 0.2
    gae_lambda: float = 0.95
    kl_coef: float = 0.2
    ent_coef: float = 0.0
    constraint_vf_coef: float = 0.5
    kl_vf_coef: float = 0.2
    max_grad_norm: float = 0.5
    max_new_tokens: int = 12
    temperature: float = 1.0
    top_k: int = 0  # sample from the k most likely tokens (official 20); 0: the full vocabulary

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        for name in ("batch_episodes", "minibatch_episodes", "epochs", "max_new_tokens"):
            check_positive_int(name, getattr(self, name))
        if self.batch_episodes % self.minibatch_episodes:
            raise ValueError("batch_episodes must be a multiple of minibatch_episodes")
        check_range("clip", self.clip, 0.0, 1.0, low_inclusive=False)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        for name in ("kl_coef", "ent_coef", "constraint_vf_coef", "kl_vf_coef"):
            check_non_negative(name, getattr(self, name))
        check_positive("max_grad_norm", self.max_grad_norm)
        check_positive("temperature", self.temperature)
        check_non_negative("top_k", self.top_k)


class TopK(nn.Module):
    """The sampling view of a causal LM: the last position's logits outside the ``k`` largest set to -inf
    (``generate``'s top-k warper); the PPO log-probs use the full distribution, as in RL4LMs."""

    def __init__(self, lm: nn.Module, k: int) -> None:
        super().__init__()
        check_positive_int("k", k)
        self.lm, self.k = lm, k

    def forward(self, **kwargs: Any) -> Any:
        out = self.lm(**kwargs)
        last = out.logits[:, -1:]
        kth = last.topk(min(self.k, last.shape[-1]), dim=-1).values[..., -1:]
        out.logits = last.masked_fill(last < kth, float("-inf"))
        return out


@dataclass(frozen=True)
class Mixing:
    """How an arm turns the component streams into one advantage (see the module docstring)."""

    mode: str = "fixed"
    weights: tuple[float, ...] = (1.0, 1.0)
    thresholds: tuple[float, ...] = ()  # "sat": the clip levels; constrained modes: theta

    def __post_init__(self) -> None:
        check_one_of("mode", self.mode, MODES)
        if len(self.weights) != len(COMPONENTS):
            raise ValueError(f"weights must hold one weight per component {COMPONENTS}, got {self.weights}")
        if self.mode != "fixed" and len(self.thresholds) != (1 if self.mode == "task" else len(COMPONENTS)):
            raise ValueError(f"thresholds {self.thresholds} do not match the components of mode {self.mode!r}")


@dataclass
class Scores:
    """Per-episode component rewards (N_components, B), evaluation score, sequence KL, generated tokens."""

    components: torch.Tensor
    evaluation: torch.Tensor
    kl: torch.Tensor
    tokens: int


class Rewards(Protocol):
    """What the learner needs of a task's reward models: the tokenizer its replies are decoded with, per-episode
    component rewards ``(N_components, B)`` and the evaluation score E ``(B,)`` (on the CPU)."""

    tok: Any

    def components(self, replies: Sequence[Any], dialogues: Sequence[Any]) -> torch.Tensor: ...

    def evaluation(
        self, replies: Sequence[Any], dialogues: Sequence[Any], base_logprob: torch.Tensor
    ) -> torch.Tensor: ...


class RewardModels:
    """The component rewards (METEOR-like overlap, intent probability) and the evaluation score E."""

    def __init__(self, tok: WordTokenizer, classifier: IntentClassifier, base_lm: nn.Module) -> None:
        self.tok, self.classifier, self.base_lm = tok, classifier, base_lm

    @torch.no_grad()
    def components(self, replies: Sequence[Sequence[str]], dialogues: Sequence[Dialogue]) -> torch.Tensor:
        meteor = [meteor_like(r, d.reference.split()) for r, d in zip(replies, dialogues, strict=True)]
        probs = self.classifier(replies)
        intent = probs[torch.arange(len(dialogues)), torch.tensor([d.act for d in dialogues])]
        return torch.stack([torch.tensor(meteor), intent])

    @torch.no_grad()
    def evaluation(
        self, replies: Sequence[Sequence[str]], dialogues: Sequence[Dialogue], base_logprob: torch.Tensor
    ) -> torch.Tensor:
        """E = bigram F1 + 0.5 exp(mean log p_base(reply tokens)) - repetition (``base_logprob`` per reply)."""
        f1 = torch.tensor([bigram_f1(r, d.reference.split()) for r, d in zip(replies, dialogues, strict=True)])
        rep = torch.tensor([repetition_of(r) for r in replies])
        return f1 + 0.5 * base_logprob.exp() - rep


@dataclass
class Batch:
    ids: torch.Tensor
    mask: torch.Tensor
    action_mask: torch.Tensor
    old_logprobs: torch.Tensor
    old_values: torch.Tensor  # (K, B, L-1)
    advantages: torch.Tensor  # (K, B, L-1), raw GAE
    returns: torch.Tensor
    togo: torch.Tensor  # (N_components, B, L-1): undiscounted reward-to-go without KL


def _reward_to_go(token_rewards: torch.Tensor) -> torch.Tensor:
    return token_rewards.flip(-1).cumsum(-1).flip(-1)


def stream_rewards(
    components: torch.Tensor, action_mask: torch.Tensor, kl_rewards: torch.Tensor, mixing: Mixing
) -> torch.Tensor:
    """Per-token rewards of the K = N + 1 streams (N components, then KL), ``(K, B, L)``.

    Component i's episode reward sits on the reply's last token: min(r_i, theta_i) for PPO-SAT, r_i otherwise;
    for the "all" objective the KL penalty is added to every component stream (as the official code does)."""
    if mixing.mode == "sat":
        theta = torch.tensor(mixing.thresholds, dtype=components.dtype, device=components.device)
        components = torch.minimum(components, theta[:, None])
    tokens = torch.stack([outcome_token_rewards(r, action_mask, torch.float32) for r in components])
    if mixing.mode == "all":
        tokens = tokens + kl_rewards
    return torch.cat([tokens, kl_rewards[None].float()])


def clipped_surrogate(ratio: torch.Tensor, advantage: torch.Tensor, clip: float) -> torch.Tensor:
    """min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t), per token (PPO-clip)."""
    return torch.minimum(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage)


class ConstrainedPPO:
    """One PPO learner (an arm): rollouts on dialogues, the update, and its multipliers when it has any."""

    def __init__(
        self,
        policy: PolicyWithValues,
        ref_lm: nn.Module,
        rewards: Rewards,
        config: PPOConfig,
        mixing: Mixing,
        multipliers: LagrangeMultipliers | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if policy.heads.out_features != len(COMPONENTS) + 1:
            raise ValueError(f"policy needs {len(COMPONENTS) + 1} value heads (components + KL)")
        if (multipliers is None) != (mixing.mode in ("fixed", "sat")):
            raise ValueError(f"mode {mixing.mode!r} {'needs' if multipliers is None else 'takes no'} multipliers")
        self.policy, self.ref_lm, self.rewards = policy, ref_lm, rewards
        self.config, self.mixing, self.multipliers = config, mixing, multipliers
        self.generator = generator
        self.device = next(policy.parameters()).device
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
        self.tok = rewards.tok

    @torch.no_grad()
    def generate(self, dialogues: Sequence[Dialogue]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
        """Sampled replies: full ids, full attention mask, action mask (aligned with logits 0..L-2), the replies
        (top-k sampling when ``config.top_k`` > 0)."""
        tok = self.tok
        ids, mask = left_pad([tok.prompt_ids(d.prompt) for d in dialogues], tok.pad_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        lm = TopK(self.policy.lm, self.config.top_k) if self.config.top_k else self.policy.lm
        new = sample(
            lm, ids, mask, self.config.max_new_tokens, tok.eos_id, tok.pad_id,
            self.config.temperature, self.generator,
        )  # fmt: skip
        ended = torch.cumsum((new == tok.eos_id).long(), dim=1)
        gen_mask = ((ended == 0) | ((ended == 1) & (new == tok.eos_id))).long()
        full_ids, full_mask = torch.cat([ids, new], 1), torch.cat([mask, gen_mask], 1)
        action_mask = torch.cat([torch.zeros_like(mask[:, 1:]), gen_mask], 1)
        return full_ids, full_mask, action_mask, [tok.decode(row.tolist()) for row in new]

    @torch.no_grad()
    def score(
        self, dialogues: Sequence[Dialogue], replies: list, ids: torch.Tensor, mask: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Component rewards, E and the sequence KL of sampled replies; the policy's log-probs and values and
        the reference log-probs."""
        logits, values = self.policy(ids, mask)
        logp, _ = token_logprobs_and_entropy(logits, ids)
        ref_logp, _ = token_logprobs_and_entropy(
            self.ref_lm(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits, ids
        )
        comps = self.rewards.components(replies, dialogues).to(self.device)
        n_tok = action.sum(1).clamp(min=1)
        base_mean = (ref_logp * action).sum(1) / n_tok
        evaluation = self.rewards.evaluation(replies, dialogues, base_mean.cpu())
        kl = ((logp - ref_logp) * action).sum(1)
        return comps, evaluation, kl, logp, values[:, :, :-1], ref_logp

    @torch.no_grad()
    def rollout(self, dialogues: Sequence[Dialogue]) -> tuple[Batch, Scores]:
        ids, mask, action, replies = self.generate(dialogues)
        comps, evaluation, kl, logp, values, ref_logp = self.score(dialogues, replies, ids, mask, action)
        kl_rewards = -self.config.kl_coef * (logp - ref_logp) * action
        streams = stream_rewards(comps, action, kl_rewards, self.mixing)
        togo = _reward_to_go(torch.stack([outcome_token_rewards(r, action, torch.float32) for r in comps]))
        adv, ret = gae(streams, values.float(), action, 1.0, self.config.gae_lambda)
        scores = Scores(comps, evaluation, kl, int(action.sum()))
        return Batch(ids, mask, action, logp, values, adv, ret, togo), scores

    def advantage(self, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mixed advantage of one minibatch from its raw per-stream GAE advantages (K, B, L-1)."""
        mode = self.mixing.mode
        if mode in ("fixed", "sat"):
            w = torch.tensor([*self.mixing.weights, 1.0], device=adv.device)[:, None, None]
            return normalise((w * adv).sum(0, keepdim=True), mask)[0]
        norm = normalise(adv, mask)
        assert self.multipliers is not None
        lam = self.multipliers.value.to(adv.device)
        if mode == "task":
            return mixed_advantage(norm[:2], lam, "task")
        return mixed_advantage(norm[:-1], lam, mode, kl=norm[-1])

    def update(self, batch: Batch) -> dict[str, float]:
        """``epochs`` passes of shuffled minibatches; each: one Adam step, then one multiplier step."""
        c = self.config
        n = batch.ids.shape[0]
        stats: dict[str, list[float]] = {"clip_fraction": [], "value_loss": [], "lagrange_loss": []}
        for _ in range(c.epochs):
            order = torch.randperm(n, generator=self.generator, device=self.device)
            for start in range(0, n, c.minibatch_episodes):
                idx = order[start : start + c.minibatch_episodes]
                m = batch.action_mask[idx]
                logits, values = self.policy(batch.ids[idx], batch.mask[idx])
                logp, entropy = token_logprobs_and_entropy(logits, batch.ids[idx])
                adv = self.advantage(batch.advantages[:, idx], m)
                # r_t = pi / pi_old; L_clip = -E[min(r A, clip(r, 1-eps, 1+eps) A)]
                ratio = torch.exp(logp - batch.old_logprobs[idx])
                surrogate = clipped_surrogate(ratio, adv, c.clip)
                v = values[:, :, :-1].float()
                sq = (v - batch.returns[:, idx]) ** 2
                v_con = masked_mean(sq[:-1], m.expand_as(sq[:-1]))
                v_kl = masked_mean(sq[-1], m)
                loss = (
                    -masked_mean(surrogate, m)
                    - c.ent_coef * masked_mean(entropy, m)
                    + c.constraint_vf_coef * v_con
                    + c.kl_vf_coef * v_kl
                )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm)
                self.optimizer.step()
                stats["clip_fraction"].append(float(masked_mean(((ratio - 1).abs() > c.clip).float(), m)))
                stats["value_loss"].append(float(v_con.detach() + v_kl.detach()))
                if self.multipliers is not None:
                    togo = batch.togo[:, idx]
                    g = (togo * m).sum((-2, -1)) / m.sum().clamp(min=1)
                    if self.mixing.mode == "task":
                        g = g[1:]
                    stats["lagrange_loss"].append(self.multipliers.step(g.cpu()))
        return {k: sum(v) / len(v) for k, v in stats.items() if v}

    def iterate(self, dialogues: Sequence[Dialogue]) -> dict[str, float]:
        """One PPO iteration: a rollout on ``dialogues`` and the update; returns the rollout's means."""
        start = time.perf_counter()
        batch, scores = self.rollout(dialogues)
        stats = self.update(batch)
        out = {f"V_{name}": float(scores.components[i].mean()) for i, name in enumerate(COMPONENTS)}
        out |= {"E": float(scores.evaluation.mean()), "kl": float(scores.kl.mean()), "tokens": scores.tokens}
        if self.multipliers is not None:
            out |= {f"lambda_{i}": float(v) for i, v in enumerate(self.multipliers.value)}
        return out | stats | {"iteration_s": time.perf_counter() - start}

    @torch.no_grad()
    def evaluate(self, dialogues: Sequence[Dialogue], generator: torch.Generator) -> dict[str, float]:
        """Sampled replies on held-out dialogues (own generator): mean components, E and sequence KL."""
        own, self.generator = self.generator, generator
        try:
            ids, mask, action, replies = self.generate(dialogues)
        finally:
            self.generator = own
        comps, evaluation, kl, *_ = self.score(dialogues, replies, ids, mask, action)
        out = {f"V_{name}": float(comps[i].mean()) for i, name in enumerate(COMPONENTS)}
        return out | {"E": float(evaluation.mean()), "kl": float(kl.mean())}
