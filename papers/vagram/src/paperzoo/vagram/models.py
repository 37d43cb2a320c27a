"""The deterministic dynamics ensemble of MBPO/VaGraM and its training round (mbrl-lib's ``ModelTrainer``).

f_θ(s, a) = (Δ̂, r̂): E members, each an MLP on the normalised input x = ((s, a) - μ_x) / σ_x, predicting the
state delta Δ = s' - s (so ŝ' = s + Δ̂ and ŝ' - s' = Δ̂ - Δ) and the reward. All members are evaluated at once as
batched matrix products (weights (E, in, out)); the official ``VAMLMLP``: 7 members, 5 elites, 4 x 200 SiLU,
truncated-normal init (std 1 / (2 sqrt(in)), cut at 2 std), Adam with L2 weight decay. The small model of the
paper's Pendulum experiment is the same ensemble with one narrow hidden layer (:func:`small_model`).

A training round (:func:`train_model`): a fixed 80/20 train/validation split; every member trains on its own
bootstrap resample of the training part; after every epoch the validation score of each member (the training
loss on the validation set) is compared with its best, a member whose score improved by more than 1 % keeps
its new weights; training stops after ``patience`` epochs without such an improvement or ``epochs`` epochs; the
best weights are restored and the ``elites`` best members are the ones used for rollouts.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range
from paperzoo.vagram.losses import NormScale, ValueWeights, mse_loss, vagram_loss
from paperzoo.vagram.values import GradientCache, ValueFn

__all__ = ["LOSSES", "ModelEnsemble", "ModelTrainConfig", "RoundStats", "small_model", "train_model"]

LOSSES = ("mse", "vagram", "taylor")
IMPROVEMENT = 0.01  # mbrl-lib's relative improvement threshold of a member's validation score


class ModelEnsemble(nn.Module):
    """E deterministic MLPs (SiLU) on normalised (s, a), predicting (s' - s, r); elites used for rollouts.

    Args:
        obs_dim, act_dim: state and action sizes.
        hidden: hidden widths (official 4 x 200).
        members: E (official 7).
        elites: how many of them are used for rollouts (official 5), at most ``members``.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (200,) * 4, members: int = 7, elites: int = 5
    ) -> None:
        super().__init__()
        check_positive_int("obs_dim", obs_dim)
        check_positive_int("act_dim", act_dim)
        check_positive_int("members", members)
        check_positive_int("elites", elites)
        if elites > members:
            raise ValueError(f"elites must be <= members ({members}), got {elites}")
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive ints, got {hidden!r}")
        self.obs_dim, self.act_dim, self.members = obs_dim, act_dim, members
        widths = (obs_dim + act_dim, *hidden, obs_dim + 1)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(widths):
            w = torch.empty(members, fan_in, fan_out)
            std = 1.0 / (2.0 * math.sqrt(fan_in))
            nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(members, 1, fan_out)))
        self.register_buffer("input_mean", torch.zeros(obs_dim + act_dim))
        self.register_buffer("input_std", torch.ones(obs_dim + act_dim))
        self.register_buffer("elites", torch.arange(elites))

    def fit_normalizer(self, obs: Tensor, actions: Tensor) -> None:
        """μ_x, σ_x from the training inputs (σ < 1e-12 -> 1)."""
        x = torch.cat([obs, actions], dim=-1)
        self.input_mean.copy_(x.mean(0))
        std = x.std(0)
        self.input_std.copy_(torch.where(std < 1e-12, torch.ones_like(std), std))

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        """(E, B, D+1) predicted (Δ̂, r̂) for (B, ·) inputs shared by the members or (E, B, ·) per-member inputs."""
        h = (torch.cat([obs, actions], dim=-1) - self.input_mean) / self.input_std
        if h.ndim == 2:
            h = h.expand(self.members, *h.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)  # every member at once: h_e W_e + b_e
            if i < last:
                h = nn.functional.silu(h)
        return h

    def predict(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """The elites' mean prediction (ŝ', r̂) (E, B, D) and (E, B) for every member: s + Δ̂."""
        out = self(obs, actions)
        return obs + out[..., :-1], out[..., -1]

    def sample(self, obs: Tensor, actions: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One step with a uniformly drawn elite per sample (mbrl-lib's ``random_model`` propagation)."""
        next_obs, reward = self.predict(obs, actions)
        pick = self.elites[torch.randint(len(self.elites), (obs.shape[0],), generator=generator).to(obs.device)]
        rows = torch.arange(obs.shape[0], device=obs.device)
        return next_obs[pick, rows], reward[pick, rows]


def small_model(obs_dim: int, act_dim: int, width: int = 16, members: int = 7, elites: int = 5) -> ModelEnsemble:
    """The paper's small model: one hidden layer of ``width`` units, same ensemble."""
    return ModelEnsemble(obs_dim, act_dim, (check_positive_int("width", width),), members, elites)


@dataclass(frozen=True)
class ModelTrainConfig:
    """One model-training round (official Pendulum: lr 1e-3, wd 2e-5, batch 256, 50 epochs, patience 1)."""

    loss: str = "vagram"
    lr: float = 1e-3
    weight_decay: float = 2e-5
    batch_size: int = 256
    epochs: int = 50
    patience: int = 1
    validation_ratio: float = 0.2
    clip_quantile: float | None = 0.95
    norm_momentum: float | None = None  # the later official running norm scale (None: the ICLR code)

    def __post_init__(self) -> None:
        check_one_of("loss", self.loss, LOSSES)
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("epochs", self.epochs)
        check_positive_int("patience", self.patience)
        check_range("validation_ratio", self.validation_ratio, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        if self.clip_quantile is not None:
            check_range("clip_quantile", self.clip_quantile, 0.0, 1.0, low_inclusive=False)
        if self.norm_momentum is not None:
            check_range("norm_momentum", self.norm_momentum, 0.0, 1.0, high_inclusive=False)


@dataclass
class RoundStats:
    """What a round did: epochs run, the elites' mean validation score, gradients computed."""

    epochs: int
    val_score: float
    grads_computed: int


def train_model(
    model: ModelEnsemble,
    data: dict[str, Tensor],
    config: ModelTrainConfig,
    generator: torch.Generator,
    values: ValueFn | None = None,
    cache: GradientCache | None = None,
    add_mse: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
) -> RoundStats:
    """One training round of ``model`` on ``data`` (obs, actions, rewards, next_obs: the first N rows used).

    The value-aware losses need ``values`` (the agent's value functions) and a ``cache`` of their gradients at the
    real next states, reset here (a new agent) and filled in batched chunks once for the whole round. ``add_mse``
    adds the plain MSE over all D+1 outputs (the official code does so during the first epoch of MBPO).
    """
    obs, act, rew, nxt = data["obs"], data["actions"], data["rewards"], data["next_obs"]
    n = len(obs)
    if not (len(act) == len(rew) == len(nxt) == n) or n < 2:
        raise ValueError(f"data must hold >= 2 rows of equal length, got {[len(v) for v in data.values()]}")
    value_aware = config.loss != "mse"
    if value_aware and (values is None or cache is None):
        raise ValueError(f"loss {config.loss!r} needs values and cache (the agent's value functions)")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    target = torch.cat([nxt - obs, rew.reshape(-1, 1)], dim=1)
    perm = torch.randperm(n, generator=generator).to(obs.device)
    n_val = max(1, int(n * config.validation_ratio))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    model.fit_normalizer(obs[train_idx], act[train_idx])
    grads_before = cache.computed if cache is not None else 0
    norm_scale = NormScale(config.norm_momentum) if config.norm_momentum is not None else None
    if value_aware:
        cache.reset()
        # every gradient of the round, in batched chunks; VaGraM precomputes their squares and norms once
        grads = cache.lookup(values, nxt, torch.arange(n, device=obs.device))
        if config.loss == "vagram":
            weights_of = ValueWeights(grads, config.clip_quantile, replace_nan=norm_scale is not None)

    def loss_of(
        pred: Tensor, tgt: Tensor, idx: Tensor, reduction: str, scale: NormScale | None, weights: Tensor | None = None
    ) -> Tensor:
        if config.loss == "mse":
            return mse_loss(pred, tgt, reduction)
        if config.loss == "vagram":
            return mse_loss(pred, tgt, reduction, weights_of(idx, scale) if weights is None else weights)
        return vagram_loss(pred, tgt, grads[:, idx], config.clip_quantile, True, scale, reduction)  # Taylor-VAML

    def validate() -> Tensor:
        with torch.no_grad():
            return loss_of(model(obs[val_idx], act[val_idx]), target[val_idx], val_idx, "member", None)

    # each member's bootstrap resample of the training part
    boot = train_idx[torch.randint(len(train_idx), (model.members, len(train_idx)), generator=generator).to(obs.device)]
    best = validate()
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    stale, epochs = 0, 0
    for _ in range(config.epochs):
        epochs += 1
        order = boot.gather(1, torch.argsort(torch.rand(boot.shape, generator=generator), dim=1).to(obs.device))
        full, epoch_weights = order.shape[1] // config.batch_size, None
        if config.loss == "vagram" and full:  # the weights of the epoch's full minibatches at once: (full, E, b, D)
            batches = order[:, : full * config.batch_size].reshape(model.members, full, config.batch_size)
            epoch_weights = weights_of.minibatches(batches.transpose(0, 1), norm_scale)
        for i, start in enumerate(range(0, order.shape[1], config.batch_size)):
            idx = order[:, start : start + config.batch_size]  # (E, b): every member its own minibatch
            pred = model(obs[idx], act[idx])
            weights = epoch_weights[i] if i < full and epoch_weights is not None else None
            loss = loss_of(pred, target[idx], idx, "mean", norm_scale, weights)
            if add_mse:
                loss = loss + (pred - target[idx]).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        score = validate()
        improved = (best - score) / best.abs().clamp_min(1e-12) > IMPROVEMENT
        if improved.any():
            best = torch.where(improved, score, best)
            for key, value in model.state_dict().items():
                if key in ("input_mean", "input_std", "elites"):
                    continue
                best_state[key][improved] = value[improved]
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    best_state["input_mean"], best_state["input_std"] = model.input_mean.clone(), model.input_std.clone()
    best_state["elites"] = torch.argsort(best)[: len(model.elites)]
    model.load_state_dict(best_state)
    elites_score = float(best[model.elites].mean())
    return RoundStats(epochs, elites_score, (cache.computed if cache is not None else 0) - grads_before)
