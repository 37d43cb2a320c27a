"""Trainers and benchmark configs: bad input, the HF loading path, determinism, equal budgets."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paperzoo.amft.bench import BENCHMARK, MU_MOVED, FullConfig, PaperConfig, SmokeConfig, full_claims, smoke_claims
from paperzoo.amft.experiment import scripted_controller
from paperzoo.amft.model import ModelConfig, PolicyWithValue
from paperzoo.amft.task import ID_DIGITS, make_split
from paperzoo.amft.train import (
    REGIMES,
    BaseConfig,
    TrainConfig,
    clone_policy,
    make_controller,
    regime_schedule,
    train_regime,
)

TINY = TrainConfig(
    steps=4, batch_size=2, group_size=2, max_new_tokens=8, warmup_steps=1, meta_update_freq=2, val_batch=2
)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: TrainConfig(lr=-1e-3), "lr"),
        (lambda: TrainConfig(lr=0.0), "lr"),
        (lambda: TrainConfig(mu_min=-0.1), "mu_min"),
        (lambda: TrainConfig(mu_max=1.1), "mu_max"),
        (lambda: TrainConfig(mu_min=0.9, mu_max=0.1), "mu_min"),
        (lambda: TrainConfig(warmup_steps=100, steps=10), "warmup_steps"),
        (lambda: TrainConfig(meta_objective="loss"), "meta_objective"),
        (lambda: TrainConfig(weight_decay=-0.1), "weight_decay"),
        (lambda: ModelConfig(n_embd=30, n_head=4), "n_embd"),
        (lambda: ModelConfig(arch="bert"), "arch"),
        (lambda: BaseConfig(sft_digits=(4,)), "sft_digits"),
        (lambda: BaseConfig(sft_digits=()), "sft_digits"),
        (lambda: FullConfig(regimes=("amft", "dpo")), "regimes"),
        (lambda: SmokeConfig(n_demos=0), "n_demos"),
        (lambda: PaperConfig(dtype="int8"), "dtype"),
        (lambda: PaperConfig(prompt_template="Q:"), "prompt_template"),
        (lambda: PaperConfig(n_val=2), "n_val"),
        (lambda: SmokeConfig(regimes=("sft", "rl")), "regimes"),
        (lambda: FullConfig(regimes=()), "regimes"),
        (lambda: TrainConfig(mixed_precision="fp8"), "mixed_precision"),
        (lambda: regime_schedule("ppo_only", TrainConfig()), "regime"),
        (lambda: make_controller("amft_v2", TrainConfig()), "regime"),
        (lambda: TrainConfig(target_entropy_positions="prompt"), "target_entropy_positions"),
        (lambda: FullConfig(ood_lengths=((1, 1),)), "ood_lengths"),
        (lambda: FullConfig(id_lengths=()), "id_lengths"),
        (lambda: FullConfig(workers=0), "workers"),
    ],
)
def test_bad_input_raises_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(("arch", "cls"), [("llama", "LlamaForCausalLM"), ("gpt2", "GPT2LMHeadModel")])
def test_build_lm_architectures(tok, arch, cls):
    """Both built-in architectures are real HF causal LMs of the configured width, usable as a policy."""
    from paperzoo.amft.model import build_lm

    lm = build_lm(ModelConfig(n_layer=1, n_embd=16, n_head=2, arch=arch), tok.vocab_size)
    assert type(lm).__name__ == cls
    assert lm.get_output_embeddings().weight.shape == (tok.vocab_size, 16)
    logits, values = PolicyWithValue(lm)(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    assert logits.shape == (2, 3, tok.vocab_size) and values.shape == (2, 3)


def test_unknown_regime_in_trainer(tok, tiny_policy):
    with pytest.raises(ValueError, match="regime"):
        train_regime("dpo", tiny_policy, tok, make_split(4, ID_DIGITS, 0), make_split(4, ID_DIGITS, 1), TINY, 0)


def test_schedules_share_the_step_budget():
    cfg = TrainConfig(steps=10, warmup_steps=2)
    assert [regime_schedule("sft_then_rl", cfg)(t) for t in range(10)] == [1.0] * 5 + [0.0] * 5
    assert regime_schedule("fixed_mu_0.2", cfg)(7) == 0.2
    assert [regime_schedule("amft", cfg)(t) for t in (0, 1, 2)] == [1.0, 1.0, None]
    official = make_controller("amft_official_sign", cfg)
    assert (official.meta_objective, official.meta_sign) == ("val_ce", "official")
    assert not make_controller("amft_no_meta", cfg).use_meta and not make_controller("amft_no_entropy", cfg).use_entropy
    assert len(REGIMES) == 10 and len(set(REGIMES)) == 10


def test_tiny_hf_llama_runs_one_amft_step(tok):
    """The paper's loading path (AutoModelForCausalLM) on a tiny randomly initialised Llama config."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=tok.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
    )  # fmt: skip
    policy = PolicyWithValue(AutoModelForCausalLM.from_config(cfg))
    before = [p.detach().clone() for p in policy.lm.parameters()]
    cfg_train = TrainConfig(steps=2, batch_size=2, group_size=2, max_new_tokens=6, warmup_steps=1, val_batch=2)
    policy, log = train_regime(
        "amft", policy, tok, make_split(8, ID_DIGITS, 0), make_split(8, ID_DIGITS, 1), cfg_train, 0
    )
    assert log.optimizer_steps == 2 and len(log.meta_term) == 1 and log.generated_tokens > 0
    assert 0.05 <= log.mu[-1] <= 0.95 and log.target_entropy > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.lm.parameters(), strict=True))


def test_same_seed_same_run(tok, tiny_policy):
    demos, val = make_split(16, ID_DIGITS, 0), make_split(8, ID_DIGITS, 1)
    runs = [train_regime("amft", clone_policy(tiny_policy), tok, demos, val, TINY, 3) for _ in range(2)]
    (p1, l1), (p2, l2) = runs
    assert l1.mu == l2.mu and l1.reward == l2.reward and l1.generated_tokens == l2.generated_tokens
    assert all(torch.equal(a, b) for a, b in zip(p1.parameters(), p2.parameters(), strict=True))
    _, l3 = train_regime("amft", clone_policy(tiny_policy), tok, demos, val, TINY, 4)
    assert l3.mu != l1.mu or l3.reward != l1.reward


def test_trainer_meta_gradient_uses_the_policy_lr_and_the_current_mu(tok, tiny_policy, monkeypatch):
    """The look-ahead theta' = theta - alpha (...) uses alpha = the policy's lr and the mu before the update,
    and the controller receives exactly the meta-gradient computed."""
    import paperzoo.amft.train as train

    calls = []

    def spy(model, loss_sft, loss_rl, val_objective, mu, lr):
        m = train_meta_gradient(model, loss_sft, loss_rl, val_objective, mu, lr)
        calls.append((mu, lr, m))
        return m

    train_meta_gradient = train.meta_gradient
    monkeypatch.setattr(train, "meta_gradient", spy)
    cfg = dataclasses.replace(TINY, steps=6, lr=2e-3, eta_meta=3.0)
    demos, val = make_split(16, ID_DIGITS, 0), make_split(8, ID_DIGITS, 1)
    _, log = train_regime("amft", tiny_policy, tok, demos, val, cfg, 0)
    assert [c[1] for c in calls] == [2e-3] * 3  # post-warm-up steps 0, 2, 4
    assert [c[0] for c in calls] == [cfg.mu0, *(log.mu[t] for t in (2, 4))]  # mu before steps 1+2, 1+4
    meta_terms = [x for i, x in enumerate(log.meta_term) if i % 2 == 0]
    assert meta_terms == pytest.approx([3.0 * c[2] for c in calls], rel=1e-12)


def test_scripted_controller_metrics():
    m = scripted_controller(20)
    assert m["controller/mu_change_low_entropy"] > 0 > m["controller/mu_change_high_entropy"]
    assert m["controller/mu_min_seen"] == 0.05 and m["controller/mu_max_seen"] == 0.95


def _fake_means(acc: float, mu_range: float = 0.3) -> dict[str, float]:
    """Every regime at ``acc``; AMFT's mu moved over ``mu_range`` (enough for the mechanism guard by default)."""
    mu = {"amft/mu_min_seen": 0.5, "amft/mu_max_seen": 0.5 + mu_range, "amft/mu_early": 0.5 + mu_range}
    mu["amft/mu_late"] = 0.5  # and fell: the paper's shape
    return {f"{r}/{m}": acc for r in REGIMES for m in ("id_accuracy", "ood_accuracy")} | mu


def test_full_claims_are_inconclusive_when_everything_is_zero_and_decided_otherwise():
    zero = BENCHMARK.summarize("full", [_fake_means(0.0)])["claims"][:4]  # the accuracy claims
    assert {c["verdict"] for c in zero} == {"inconclusive"}
    means = _fake_means(0.3) | {"amft/ood_accuracy": 0.1}
    verdicts = [c["verdict"] for c in BENCHMARK.summarize("full", [means])["claims"]]
    assert verdicts == ["not reproduced", "not reproduced", "reproduced", "reproduced", "reproduced"]
    rising = means | {"amft/mu_early": 0.5, "amft/mu_late": 0.8}  # mu moved, but towards imitation
    assert BENCHMARK.summarize("full", [rising])["claims"][4]["verdict"] == "not reproduced"


def test_every_full_claim_is_inconclusive_when_mu_did_not_move():
    """The issue's mechanism guard: a claim about the adaptive weight needs mu to have moved by >= 0.1."""
    better_ood = {"amft/ood_accuracy": 0.35}
    still = BENCHMARK.summarize("full", [_fake_means(0.3, mu_range=0.003) | better_ood])["claims"]
    assert {c["verdict"] for c in still} == {"inconclusive"}
    assert all("mechanism did not act" in c["detail"] for c in still)
    moved = BENCHMARK.summarize("full", [_fake_means(0.3, mu_range=MU_MOVED) | better_ood])["claims"]
    assert [c["verdict"] for c in moved] == ["reproduced"] * 5


def _id_seeds(amft: list[float], rival: list[float]) -> list[dict[str, float]]:
    """Three seeds: AMFT's and SFT->RL's ID accuracy as given, every other arm and OOD at 0.3, mu moved."""
    return [
        _fake_means(0.3) | {"amft/id_accuracy": a, "sft_then_rl/id_accuracy": b}
        for a, b in zip(amft, rival, strict=True)
    ]


def test_no_id_loss_follows_the_interval_rule_to_one_test_problem():
    claim = full_claims(FullConfig())[3]  # AMFT's ID accuracy >= SFT->RL's - 1 point, paired by seed
    assert claim.text.startswith("No ID loss") and "SFT->RL" in claim.text
    rival = [0.30, 0.40, 0.35]  # the seeds differ by 10 points; the paired differences do not
    # half a point below in every seed: the interval lies above -1 point
    assert claim.evaluate(_id_seeds([0.295, 0.396, 0.344], rival))["verdict"] == "reproduced"
    # two points below in every seed: the interval lies below -1 point
    assert claim.evaluate(_id_seeds([0.281, 0.380, 0.329], rival))["verdict"] == "not reproduced"
    # 1.1 points below: a tenth of a point from the threshold, less than one of the 500 test problems (0.2 points)
    close = claim.evaluate(_id_seeds([0.289, 0.389, 0.339], rival))
    assert close["verdict"] == "inconclusive" and "resolution 0.002" in close["detail"]
    # with 5000 test problems the same gap is 5 problems wide: decided
    fine = full_claims(FullConfig(n_eval=5000))[3].evaluate(_id_seeds([0.289, 0.389, 0.339], rival))
    assert fine["verdict"] == "not reproduced"
    # a noisy difference (+6, -8, +5 points) straddles -1 point
    noisy = claim.evaluate(_id_seeds([0.36, 0.32, 0.40], rival))
    assert noisy["verdict"] == "inconclusive" and "straddles" in noisy["detail"]


def test_full_claims_are_built_from_the_config_that_ran():
    """The OOD claims need the SFT arm at >= 5% OOD (and one test problem); claims name only regimes that ran."""
    means = _fake_means(0.3) | {f"{r}/ood_accuracy": 0.0 for r in REGIMES} | {"amft/ood_accuracy": 0.1}
    no_sft = BENCHMARK.summarize("full", [means])["claims"]
    assert [c["verdict"] for c in no_sft[:2]] == ["inconclusive", "inconclusive"]  # SFT at 0% OOD
    assert "sft/ood_accuracy >= 0.05" in no_sft[0]["guards"]
    scored = BENCHMARK.summarize("full", [means | {"sft/ood_accuracy": 0.05}])["claims"]
    assert [c["verdict"] for c in scored[:2]] == ["reproduced", "reproduced"]
    tiny = BENCHMARK.summarize("full", [means | {"sft/ood_accuracy": 0.05}], config=FullConfig(n_eval=10))["claims"]
    assert [c["verdict"] for c in tiny[:2]] == ["inconclusive", "inconclusive"]  # 5% < one problem of 10
    texts = [c.text for c in full_claims(FullConfig(regimes=("sft", "amft", "fixed_mu_0.5")))]
    assert texts == [
        "AMFT's OOD accuracy >= the best fixed mu's",
        "No ID loss: AMFT's ID accuracy within 1 point of the best fixed mu's or better",
        "AMFT's mu falls over training: imitation early, exploration later (mean mu, first vs last third)",
    ]
    without_sft = full_claims(FullConfig(regimes=("amft", "fixed_mu_0.5")))[0]
    assert "max(*/ood_accuracy) >= 0.05" in without_sft.evaluate([means])["guards"]
    assert full_claims(FullConfig(regimes=("sft", "rl"))) == ()


def test_smoke_claims_use_the_configured_mu_bounds():
    narrow = SmokeConfig(train=TrainConfig(steps=30, warmup_steps=3, mu0=0.5, mu_min=0.2, mu_max=0.6))
    claims = smoke_claims(narrow)
    assert "[0.2, 0.6]" in claims[1].text
    m = {"amft/mu_min_seen": 0.1, "amft/mu_max_seen": 0.5}
    assert claims[1].evaluate([m])["verdict"] == "not reproduced"  # 0.1 < mu_min = 0.2
    assert smoke_claims(SmokeConfig())[1].evaluate([m])["verdict"] == "reproduced"  # 0.1 >= 0.05
    scripted = scripted_controller(20, 0.2, 0.6)
    assert (scripted["controller/mu_min_seen"], scripted["controller/mu_max_seen"]) == (0.2, 0.6)


def test_plot_draws_mu_terms_and_curves(tmp_path):
    from paperzoo.amft.plots import plot_full

    series = {"amft/mu": [0.8, 0.79], "amft/meta_term": [0.0], "amft/entropy_term": [-1e-3]}
    series |= {f"{r}/eval_id_accuracy": [0.1, 0.2] for r in ("sft", "amft")}
    records = [{"scale": "full", "series": series} for _ in range(2)]
    paths = plot_full(FullConfig(), records, tmp_path)
    assert [p.name for p in paths] == ["amft_mu.png", "amft_mu_terms.png", "id_accuracy_curves.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    only_sft = plot_full(FullConfig(regimes=("sft",)), records, tmp_path / "sft")
    assert [p.name for p in only_sft] == ["id_accuracy_curves.png"]


def test_load_lm_reads_a_saved_checkpoint(tok, tiny_policy, tmp_path):
    """``load_lm`` (the paper scale's ``from_pretrained`` path) on a tiny checkpoint written here, offline."""
    from paperzoo.amft.model import load_lm

    tiny_policy.lm.save_pretrained(tmp_path)
    loaded = PolicyWithValue(load_lm(str(tmp_path), torch.float32))
    ids = torch.tensor([tok.encode("12+3=", bos=True)])
    mask = torch.ones_like(ids)
    assert torch.allclose(loaded(ids, mask)[0], tiny_policy(ids, mask)[0])
