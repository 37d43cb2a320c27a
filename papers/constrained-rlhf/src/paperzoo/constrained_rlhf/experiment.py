"""The scale runners of constrained-rlhf: ``run_smoke`` and ``run_full`` (``(config, seed) -> Result``).

full (and paper) run the brief's two steps from one pretrained base policy per seed:

1. fixed-weight PPO with several weightings of (METEOR, intent); each run's held-out curve of (V_meteor,
   V_intent, E) gives the proxy points theta_i = the components' values where the smoothed E peaks (the best
   run's peak);
2. at equal environment steps: the best fixed-weight run (highest final E), PPO-SAT at theta, constrained PPO
   "kl" (equality at theta), constrained PPO "all" (upper bounds at theta) and NM-PPO (thresholds searched by
   Nelder-Mead during one run, scored by E on a validation set).

Every run of a seed starts from the same weights and sees the same rollout prompts; held-out evaluation samples
the same test dialogues with the same generator seed. Sub-seeds come from :func:`paperzoo.shared.seeding.derive`.

The paper scale runs the same two steps on DailyDialog (:mod:`paperzoo.constrained_rlhf.dailydialog`: GPT-2 from
the hub, nltk METEOR, the RoBERTa intent classifier), with step 2 at the official thresholds (METEOR 0.238,
intent 0.44) instead of the located ones, which it records as ``proxy/*``.
"""

from __future__ import annotations

import copy
import functools
import logging
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from paperzoo.constrained_rlhf.dailydialog import (
    DialogRewards,
    HFTokenizer,
    IntentReward,
    MeteorReward,
    load_dailydialog,
    nltk_resources,
    sample_turns,
)
from paperzoo.constrained_rlhf.dialogue import (
    IntentClassifier,
    WordTokenizer,
    build_gpt2,
    make_dialogues,
    pretrained_state,
)
from paperzoo.constrained_rlhf.lagrange import LagrangeMultipliers
from paperzoo.constrained_rlhf.nelder_mead import CachedFunction, nelder_mead
from paperzoo.constrained_rlhf.ppo import COMPONENTS, ConstrainedPPO, Mixing, PolicyWithValues, RewardModels
from paperzoo.shared import Result
from paperzoo.shared.parallel import run_jobs
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure

if TYPE_CHECKING:
    from paperzoo.constrained_rlhf.bench import FullConfig, SmokeConfig

log = logging.getLogger("paperzoo.constrained_rlhf")
STEP2 = ("sat", "mu_kl", "mu_all", "nm")


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("transformers").setLevel(logging.ERROR)


@dataclass(frozen=True)
class World:
    """What every run of a seed shares: a constructor of fresh copies of the base LM, the reward models (given
    the frozen base copy), the training prompts (``prompts(n, seed)``) and the held-out test / validation sets."""

    new_lm: Callable[[], nn.Module]
    rewards: Callable[[nn.Module], Any]
    prompts: Callable[[int, int], list]
    test: list
    val: list


@functools.cache
def _world(config: Any, seed: int) -> World:
    """The generated dialogues (``config.dialog`` unset: the pretrained tiny GPT-2, the trained intent classifier)
    or DailyDialog (:func:`_dialog_world`) of one seed."""
    if getattr(config, "dialog", None) is not None:
        return _dialog_world(config, seed)
    tok = WordTokenizer()
    state = pretrained_state(config.pretrain, tok, config.cache_dir)
    torch.manual_seed(derive(seed, "classifier"))
    clf = IntentClassifier(tok).fit(make_dialogues(2000, derive(seed, "classifier data")), l2=config.classifier_l2)
    test = make_dialogues(config.eval_dialogues, derive(seed, "test"))
    val = make_dialogues(config.eval_dialogues, derive(seed, "validation"))

    def new_lm() -> nn.Module:
        lm = build_gpt2(config.pretrain.model, tok)
        lm.load_state_dict(state)
        return lm

    return World(new_lm, lambda base: RewardModels(tok, clf, base), make_dialogues, test, val)


def _dialog_world(config: Any, seed: int) -> World:
    """The paper's task: DailyDialog (train prompts; ``eval_dialogues`` test / validation examples drawn per
    seed), the hub policy LM (GPT-2) and reward models (nltk METEOR, the intent classifier)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = config.dialog
    wordnet, words = nltk_resources(d.nltk_data)

    def split(name: str) -> list:
        return load_dailydialog(d.data, name, d.context_size, d.hub_dataset, d.hub_revision)

    train = split("train")
    test = sample_turns(split("test"), config.eval_dialogues, derive(seed, "test"))
    val = sample_turns(split("validation"), config.eval_dialogues, derive(seed, "validation"))
    tok = HFTokenizer(AutoTokenizer.from_pretrained(d.policy_model), d.max_prompt_length)
    base = AutoModelForCausalLM.from_pretrained(d.policy_model).eval()
    intent = IntentReward(d.intent_model, config.device, d.intent_batch)
    rewards = DialogRewards(tok, MeteorReward(wordnet, words), intent, words)
    return World(lambda: copy.deepcopy(base), lambda _: rewards, lambda n, s: sample_turns(train, n, s), test, val)


def _learner(config: Any, seed: int, mixing: Mixing, kind: str | None) -> ConstrainedPPO:
    _quiet()
    configure(threads=1)
    world = _world(config, seed)
    base = world.new_lm().to(config.device)
    base.eval()
    lm = world.new_lm()
    torch.manual_seed(derive(seed, "value heads"))
    policy = PolicyWithValues(lm, len(COMPONENTS) + 1).to(config.device)
    mult = None
    if kind is not None:
        mult = LagrangeMultipliers(mixing.thresholds, kind, lr=config.lagrange_lr, momentum=config.lagrange_momentum)
    gen = torch.Generator(config.device).manual_seed(derive(seed, "rollouts"))
    return ConstrainedPPO(policy, base, world.rewards(base), config.ppo, mixing, mult, gen)


class ArmRun:
    """One arm's training run: ``step()`` is one PPO iteration (fresh prompts from the seed's prompt stream);
    every ``eval_every`` iterations (and at 0) the held-out test score is appended to ``curve``."""

    def __init__(self, config: Any, seed: int, mixing: Mixing, kind: str | None = None) -> None:
        self.config, self.seed = config, seed
        self.learner = _learner(config, seed, mixing, kind)
        self.world = _world(config, seed)
        self.test, self.val = self.world.test, self.world.val
        self.prompts = random.Random(derive(seed, "prompts"))
        self.iteration = 0
        self.curve: list[dict[str, float]] = [self.evaluate(self.test)]
        self.lambdas: list[list[float]] = []

    def evaluate(self, dialogues: list) -> dict[str, float]:
        gen = torch.Generator(self.config.device).manual_seed(derive(self.seed, "evaluation"))
        return self.learner.evaluate(dialogues, gen)

    def step(self) -> None:
        self.learner.iterate(self.world.prompts(self.config.ppo.batch_episodes, self.prompts.randrange(2**31)))
        self.iteration += 1
        if self.learner.multipliers is not None:
            self.lambdas.append(self.learner.multipliers.value.tolist())
        if self.iteration % self.config.eval_every == 0:
            self.curve.append(self.evaluate(self.test))

    def train(self) -> None:
        while self.iteration < self.config.iterations:
            self.step()

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: [c[key] for c in self.curve] for key in self.curve[0]}
        if self.lambdas:
            out |= {f"lambda_{name}": [row[i] for row in self.lambdas] for i, name in enumerate(COMPONENTS)}
        return out


def run_arm(config: Any, seed: int, mixing: Mixing, kind: str | None) -> dict[str, Any]:
    """Train one arm for ``config.iterations`` PPO iterations; its curves (a worker job)."""
    run = ArmRun(config, seed, mixing, kind)
    run.train()
    return run.record()


def run_nm(config: Any, seed: int, init: tuple[float, ...], span: tuple[float, ...]) -> dict[str, Any]:
    """NM-PPO: one constrained ("kl", equality) run whose thresholds Nelder-Mead moves (official driver).

    Simplex: N + 1 vertices init_i + span_i U(0, 1). Scoring theta: continue training with theta for up to
    ``iterations // 10`` iterations, validating every ``eval_every``; stop as soon as every component is within
    5% of its threshold; the score is -E of the last validation. When the simplex converges before the budget
    is spent, training goes on at the best vertex until ``iterations`` (equal environment steps)."""
    rng = np.random.default_rng(derive(seed, "simplex"))
    simplex = np.array(init) + np.array(span) * rng.uniform(size=(len(init) + 1, len(init)))
    run = ArmRun(config, seed, Mixing("kl", thresholds=tuple(simplex[0])), "equality")
    mult = run.learner.multipliers
    assert mult is not None
    reached = [0]

    def score(theta: np.ndarray) -> float:
        mult.set_thresholds(theta.tolist())
        last = None
        for _ in range(max(1, config.iterations // 10)):
            if run.iteration >= config.iterations:
                break
            run.step()
            if run.iteration % config.eval_every == 0:
                last = run.evaluate(run.val)
                values = np.array([last[f"V_{n}"] for n in COMPONENTS])
                if np.all(np.abs(values - theta) <= 0.05 * np.abs(theta)):
                    reached[0] += 1
                    break
        return -last["E"] if last is not None else 0.0

    f = CachedFunction(score)
    final = nelder_mead(f, simplex, tol=config.nm_tol, more=lambda: run.iteration < config.iterations)
    mult.set_thresholds(final[0].tolist())
    run.train()
    out = run.record()
    return out | {"evaluations": [float(len(f.values))], "reached": [float(reached[0])], "theta": final[0].tolist()}


def _smooth(x: list[float]) -> np.ndarray:
    """Centred 3-point moving average (the ends use the points they have)."""
    a = np.asarray(x, dtype=float)
    padded = np.concatenate([a[:1], a, a[-1:]])
    out = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    out[0], out[-1] = a[:2].mean(), a[-2:].mean()
    return out


def proxy_points(curves: list[dict[str, list[float]]]) -> tuple[np.ndarray, int, int]:
    """theta_i: the smoothed V_i where the smoothed E of the fixed-weight runs peaks; (theta, run, index)."""
    smoothed = [_smooth(c["E"]) for c in curves]
    run = int(np.argmax([s.max() for s in smoothed]))
    idx = int(np.argmax(smoothed[run]))
    return np.array([_smooth(curves[run][f"V_{n}"])[idx] for n in COMPONENTS]), run, idx


def arm_metrics(curve: dict[str, list[float]], theta: np.ndarray) -> dict[str, float]:
    """final / max smoothed E, final components, their distance to theta, KL, and how far E fell from its peak
    while the proxy (sum of components) rose."""
    e = _smooth(curve["E"])
    comps = np.stack([_smooth(curve[f"V_{n}"]) for n in COMPONENTS])
    peak = int(np.argmax(e))
    proxy = comps.sum(0)
    out = {
        "final_E": float(e[-1]),
        "max_E": float(e.max()),
        "peak_drop": float(e.max() - e[-1]),
        "proxy_rise": float(proxy[-1] - proxy[peak]),
        "gap": float(np.abs(comps[:, -1] - theta).sum()),
        "kl": float(_smooth(curve["kl"])[-1]),
    }
    out |= {f"V_{n}": float(comps[i, -1]) for i, n in enumerate(COMPONENTS)}
    traces = {n: np.asarray(curve[f"lambda_{n}"]) for n in COMPONENTS if f"lambda_{n}" in curve}
    out |= {f"lambda_{n}": float(t[-1]) for n, t in traces.items()}
    if traces:  # the range each multiplier swept during the run
        out["lambda_moved"] = max(float(t.max() - t.min()) for t in traces.values())
    return out


def run_full(config: FullConfig, seed: int) -> Result:
    """Step 1 (fixed weightings -> theta, unless ``config.thresholds`` gives theta: the paper scale's official
    0.238 / 0.44), then step 2 at equal environment steps; see the module docstring. With ``config.dialog`` set the
    task is DailyDialog with the real METEOR and intent rewards (the paper scale), else the generated dialogues."""
    _quiet()
    _world(config, seed)  # pretrain (or load) the base once, before the workers start
    fixed = run_jobs(
        [(run_arm, (config, seed, Mixing("fixed", weights=w), None)) for w in config.fixed_weights],
        config.workers,
        desc=f"seed {seed}: fixed-weight PPO",
    )
    located, peak_run, _ = proxy_points(fixed)
    theta = located if config.thresholds is None else np.array(config.thresholds, dtype=float)
    stacked = np.array([[v for c in fixed for v in c[f"V_{n}"]] for n in COMPONENTS])
    init = stacked[:, 0]
    span = np.maximum(stacked.max(1) - init, 1e-3)
    th = tuple(float(t) for t in theta)
    jobs = [
        (run_arm, (config, seed, Mixing("sat", weights=(1.0, 1.0), thresholds=th), None)),
        (run_arm, (config, seed, Mixing("kl", thresholds=th), "equality")),
        (run_arm, (config, seed, Mixing("all", thresholds=th), "upper")),
        (run_nm, (config, seed, tuple(init), tuple(span))),
    ]
    step2 = run_jobs(jobs, config.workers, desc=f"seed {seed}: constrained arms")
    metrics: dict[str, float] = {f"theta/{n}": float(t) for n, t in zip(COMPONENTS, theta, strict=True)}
    if config.thresholds is not None:  # the given thresholds (the paper's); where step 1 located them
        metrics |= {f"proxy/{n}": float(t) for n, t in zip(COMPONENTS, located, strict=True)}
    metrics |= {"base/E": fixed[0]["E"][0], **{f"base/V_{n}": fixed[0][f"V_{n}"][0] for n in COMPONENTS}}
    metrics["theta/peak_run"] = float(peak_run)
    series: dict[str, list[float]] = {}
    fixed_metrics = [arm_metrics(c, theta) for c in fixed]
    for i, (c, m) in enumerate(zip(fixed, fixed_metrics, strict=True)):
        metrics |= {f"fixed_{i}/{k}": v for k, v in m.items()}
        series |= {f"fixed_{i}/{k}": v for k, v in c.items()}
    best = int(np.argmax([m["final_E"] for m in fixed_metrics]))
    metrics |= {f"fixed_best/{k}": v for k, v in fixed_metrics[best].items()} | {"fixed_best/index": float(best)}
    # the run whose peak located theta: where step 1 has to show overoptimisation
    metrics |= {f"fixed_peak/{k}": v for k, v in fixed_metrics[peak_run].items()}
    for name, c in zip(STEP2, step2, strict=True):
        metrics |= {f"{name}/{k}": v for k, v in arm_metrics(c, theta).items()}
        series |= {f"{name}/{k}": v for k, v in c.items() if k not in ("evaluations", "reached", "theta")}
    nm = step2[-1]
    metrics |= {"nm/evaluations": nm["evaluations"][0], "nm/reached": nm["reached"][0]}
    metrics |= {f"nm/theta_{n}": float(t) for n, t in zip(COMPONENTS, nm["theta"], strict=True)}
    return Result(metrics=metrics, series=series)


# ----------------------------------------------------------------------------------------------- smoke
def scripted_multipliers(steps: int) -> dict[str, float]:
    """1 when a scripted return stream moves each kind's multiplier the documented way: G above theta lowers an
    equality or lower-bound multiplier and raises an upper-bound one (and the reverse below theta)."""
    out = {}
    for kind, sign_above in (("equality", -1.0), ("lower", -1.0), ("upper", 1.0)):
        ok = True
        for offset in (0.1, -0.1):
            mult = LagrangeMultipliers([0.5], kind)
            start = float(mult.value[0])
            for _ in range(steps):
                mult.step(torch.tensor([0.5 + offset]))
            moved = float(mult.value[0]) - start
            ok &= bool(np.sign(moved) == sign_above * np.sign(offset))
        out[f"scripted/{kind}_direction_ok"] = float(ok)
    return out


def run_smoke(config: SmokeConfig, seed: int) -> Result:
    """``iterations`` PPO iterations with one constraint (task = METEOR, intent held at ``threshold`` by a
    sigmoid "lower"-bound multiplier), plus the scripted multiplier check."""
    _quiet()
    run = ArmRun(config, seed, Mixing("task", thresholds=(config.threshold,)), "lower")
    finite = True
    kls = []
    for _ in range(config.iterations):
        batch, scores = run.learner.rollout(make_dialogues(config.ppo.batch_episodes, run.prompts.randrange(2**31)))
        finite &= bool(torch.isfinite(run.learner.advantage(batch.advantages, batch.action_mask)).all())
        run.learner.update(batch)
        run.iteration += 1
        kls.append(float(scores.kl.mean()))
    end = run.evaluate(run.test)
    lam = run.learner.multipliers.value  # type: ignore[union-attr]
    metrics = {
        "smoke/advantages_finite": float(finite),
        "smoke/kl": float(np.mean(kls[1:])),
        "smoke/E": end["E"],
        "smoke/V_intent": end["V_intent"],
        "smoke/lambda": float(lam[0]),
        "smoke/lambda_moved": abs(float(lam[0]) - 0.5),
    } | scripted_multipliers(config.scripted_steps)
    return Result(metrics=metrics, series={"smoke/kl": kls})
