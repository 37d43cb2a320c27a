"""The scale runners of vagram: ``run_smoke``, ``run_full``, ``run_paper`` (``(config, seed) -> Result``).

- smoke: the loss's properties on 300 random Pendulum transitions with a fixed random SB3 critic, and a few
  steps of the MBPO loop with VaGraM.
- full: (a) the value-aware fit test: an SB3 SAC trained on Pendulum-v1 + 5 distractors and frozen; transitions
  of its stochastic policy; small ensembles (1 x 16 and 1 x 64) fitted with MSE and with VaGraM on the same
  data, minibatches and initial weights; held-out state error and value error |V(ŝ') - V(s')|,
  V(s) = min_j Q_j(s, μ(s)) of the frozen SAC. (b) MBPO-lite with the 1 x 16 model, MSE vs VaGraM.
- paper: MBPO on Hopper-v5 with 20 distractors at the official overrides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.runtime import configure_framework
from paperzoo.shared.seeding import derive
from paperzoo.vagram.envs import make_env
from paperzoo.vagram.losses import clip_value_gradients, mse_loss, vagram_loss
from paperzoo.vagram.mbpo import evaluate, make_sac, random_return, run_mbpo
from paperzoo.vagram.models import ModelTrainConfig, small_model, train_model
from paperzoo.vagram.values import GradientCache, sac_values, value_grad

ARMS = ("mse", "vagram")


# ---------------------------------------------------------------------------------------------- smoke
def run_smoke(config: Any, seed: int) -> Result:
    """Loss checks on random Pendulum data with an untrained (fixed) SB3 critic, and a short MBPO run."""
    torch.manual_seed(derive(seed, "torch"))
    env = make_env("Pendulum-v1")
    sac = make_sac(env, config.mbpo.sac, derive(seed, "sac"))
    rng = np.random.default_rng(derive(seed, "data"))
    obs, _ = env.reset(seed=derive(seed, "episode"))
    rows = []
    for _ in range(config.transitions):
        action = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
        nxt, reward, *_ = env.step(2.0 * action)
        rows.append((obs, action, reward, nxt))
        obs = nxt
    o, a, r, n = (torch.as_tensor(np.array(x), dtype=torch.float32) for x in zip(*rows, strict=True))
    grads = value_grad(sac, n)
    target = torch.cat([n - o, r.reshape(-1, 1)], 1)
    model = small_model(3, 1, width=16)
    pred = model(o, a)
    ones = vagram_loss(pred, target, torch.ones_like(grads), clip_quantile=0.95)
    loss = vagram_loss(pred, target, grads)
    loss.backward()
    critic_grad = sum(float(p.grad.abs().sum()) for p in sac.critic.parameters() if p.grad is not None)
    clipped, _ = clip_value_gradients(grads, 0.95)
    q = torch.quantile(torch.linalg.vector_norm(grads, dim=-1), 0.95, dim=1)
    excess = float((torch.linalg.vector_norm(clipped, dim=-1).max(1).values - q).max())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(loss.detach())
    for _ in range(config.adam_steps):
        optimizer.zero_grad()
        step_loss = vagram_loss(model(o, a), target, grads)
        step_loss.backward()
        optimizer.step()
    mbpo = run_mbpo(config.mbpo, seed)
    return Result(
        metrics={
            "loss/g1_minus_mse": abs(ones.item() - mse_loss(pred, target).item()),
            "loss/critic_grad_abs_sum": critic_grad,
            "loss/adam_relative_drop": (first - float(step_loss)) / first,
            "loss/clipped_norm_excess": excess,
            "mbpo/grads_computed": mbpo["grads_computed"],
            "mbpo/final_return": mbpo["final_return"],
        },
        series={"mbpo/return_curve": mbpo["return_curve"]},
    )


# ---------------------------------------------------------------------------------------------- full (a)
def _collect(sac: Any, env_id: str, distractors: int, transitions: int, seed: int, n_envs: int = 10) -> dict:
    """Transitions of the SAC's stochastic policy from ``n_envs`` envs stepped in lockstep."""
    envs = [make_env(env_id, distractors, derive(seed, "distractors")) for _ in range(n_envs)]
    obs = np.stack([e.reset(seed=derive(seed, "collect", i))[0] for i, e in enumerate(envs)])
    out: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "next_obs": []}
    for _ in range(-(-transitions // n_envs)):
        with torch.no_grad():
            scaled = sac.actor(torch.as_tensor(obs), deterministic=False).numpy()
        steps = [e.step(sac.policy.unscale_action(s)) for e, s in zip(envs, scaled, strict=True)]
        nxt = np.stack([s[0] for s in steps])
        out["obs"].append(obs)
        out["actions"].append(scaled)
        out["rewards"].append(np.array([s[1] for s in steps], np.float32))
        out["next_obs"].append(nxt)
        # Pendulum only truncates: restart the finished envs (their last transition is already stored)
        obs = np.stack([e.reset()[0] if (s[2] or s[3]) else n for e, s, n in zip(envs, steps, nxt, strict=True)])
    return {k: torch.as_tensor(np.concatenate(v)[:transitions], dtype=torch.float32) for k, v in out.items()}


def fit_test(config: Any, seed: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(a): train and freeze SAC; fit every (loss, width) ensemble on its transitions; held-out errors."""
    configure_framework("torch")
    fc = config.fit
    env = make_env(fc.env_id, fc.distractors, derive(seed, "distractors"))
    sac = make_sac(
        env, fc.sac, derive(seed, "frozen sac"), buffer_size=fc.sac_steps, learning_starts=fc.sac_learning_starts
    )
    env.reset(seed=derive(seed, "frozen sac env"))
    sac.learn(fc.sac_steps)
    metrics = {"fit/sac_return": evaluate(sac, env, fc.eval_episodes, derive(seed, "frozen sac eval"))}
    data = _collect(sac, fc.env_id, fc.distractors, fc.transitions, derive(seed, "collect"))
    n_test = int(fc.transitions * fc.test_fraction)
    test = {k: v[:n_test] for k, v in data.items()}
    train = {k: v[n_test:] for k, v in data.items()}
    values = sac_values(sac)

    def v_min(states: torch.Tensor) -> torch.Tensor:  # V(s) = min_j Q_j(s, μ(s))
        with torch.no_grad():
            return torch.minimum(*values(states)[:2])

    v_true = v_min(test["next_obs"])
    metrics["fit/zero_delta/state_mse"] = float((test["obs"] - test["next_obs"]).square().mean())
    metrics["fit/zero_delta/value_error"] = float((v_min(test["obs"]) - v_true).abs().mean())
    series: dict[str, list[float]] = {}
    obs_dim, act_dim = train["obs"].shape[1], train["actions"].shape[1]
    for width in fc.widths:
        for loss in ARMS:
            torch.manual_seed(derive(seed, "model init", width))  # both losses start from the same weights
            model = small_model(obs_dim, act_dim, width, fc.members, fc.elites)
            cache = GradientCache(len(train["obs"]), obs_dim)
            stats = train_model(
                model,
                train,
                ModelTrainConfig(loss=loss, epochs=fc.epochs, patience=fc.epochs, weight_decay=fc.weight_decay),
                torch.Generator().manual_seed(derive(seed, "model batches", width)),
                values=values,
                cache=cache,
            )
            with torch.no_grad():
                pred, _ = model.predict(test["obs"], test["actions"])
                pred = pred[model.elites]
                err = (pred - test["next_obs"]).square()
                value_err = (v_min(pred.reshape(-1, obs_dim)).reshape(len(pred), -1) - v_true).abs()
            arm = f"fit/{loss}_w{width}"
            metrics[f"{arm}/state_mse"] = float(err.mean())
            metrics[f"{arm}/base_state_mse"] = float(err[..., : obs_dim - fc.distractors].mean())
            metrics[f"{arm}/value_error"] = float(value_err.mean())
            metrics[f"{arm}/epochs"] = float(stats.epochs)
    return metrics, series


# ---------------------------------------------------------------------------------------------- full (b)
def with_loss(config: Any, loss: str) -> Any:
    """An MBPO config whose model is trained with ``loss``."""
    return dataclasses.replace(config, model=dataclasses.replace(config.model, loss=loss))


def mbpo_arm(config: Any, loss: str, seed: int) -> dict[str, Any]:
    """(b): one MBPO run with the model loss ``loss``."""
    configure_framework("torch")
    return run_mbpo(with_loss(config.mbpo, loss), seed)


def run_full(config: Any, seed: int) -> Result:
    """(a) and (b) for one seed, as three jobs on ``config.workers`` processes; the random-policy reference."""
    jobs = [(fit_test, (config, seed))] + [(mbpo_arm, (config, arm, seed)) for arm in ARMS]
    (fit_metrics, fit_series), *arms = run_jobs(jobs, config.workers, desc=f"vagram seed {seed}")
    metrics = dict(fit_metrics)
    series = dict(fit_series)
    mc = config.mbpo
    metrics["mbpo/random/return"] = random_return(mc.env_id, mc.distractors, mc.final_eval_episodes, seed)
    for arm, out in zip(ARMS, arms, strict=True):
        metrics[f"mbpo/{arm}/return"] = out["final_return"]
        metrics[f"mbpo/{arm}/curve_mean"] = float(np.mean(out["return_curve"]))
        metrics[f"mbpo/{arm}/grads_computed"] = out["grads_computed"]
        series[f"mbpo/{arm}/return_curve"] = out["return_curve"]
        series[f"mbpo/{arm}/val_score"] = out["val_score_curve"]
    return Result(metrics=metrics, series=series)


# ---------------------------------------------------------------------------------------------- paper
def run_paper(config: Any, seed: int) -> Result:
    """MBPO with MSE and VaGraM at the official Hopper-with-distractors overrides (an accelerator's job)."""
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    for arm in ARMS:
        out = run_mbpo(with_loss(config.mbpo, arm), seed, device=config.device)
        metrics[f"mbpo/{arm}/return"] = out["final_return"]
        series[f"mbpo/{arm}/return_curve"] = out["return_curve"]
    return Result(metrics=metrics, series=series)
