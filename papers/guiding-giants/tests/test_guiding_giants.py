"""Tests of WAS: the controller, the direction, training, the steering hooks (Llama and GPT-2), the corpus."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from paperzoo.guiding_giants import (
    SteeringController,
    SteeringHooks,
    act_diff_direction,
    last_token_activations,
    refusal_direction,
    tasks,
    train_controller,
)
from paperzoo.guiding_giants.bench import BENCHMARK, ToyConfig
from paperzoo.guiding_giants.steering import decoder_layers, harmful_loss
from paperzoo.shared.testbeds.arithmetic_lm import ModelConfig, build_llama
from paperzoo.shared.torch.lm import left_pad, position_ids

TOK = tasks.WordTokenizer()
WIDTH = 32


def llama() -> nn.Module:
    torch.manual_seed(0)
    return build_llama(ModelConfig(n_layer=3, d_model=WIDTH, d_ff=64, n_head=2, max_positions=40), TOK).eval()


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=TOK.vocab_size, n_positions=40, n_embd=WIDTH, n_layer=3, n_head=2)
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = 0.0
    return GPT2LMHeadModel(config).eval()


MODELS = {"llama": llama, "gpt2": gpt2}


def controller(n_layers: int = 3, n_inputs: int = 2, scale: float = 1.0) -> SteeringController:
    torch.manual_seed(1)
    c = SteeringController(n_inputs * WIDTH, n_layers, hidden_dim=16)
    with torch.no_grad():
        for p in c.parameters():
            p.mul_(scale)
    return c.eval()


def unit(seed: int = 2) -> torch.Tensor:
    return nn.functional.normalize(torch.randn(WIDTH, generator=torch.Generator().manual_seed(seed)), dim=0)


def prompts(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    reqs = tasks.make_requests(tasks.make_splits(0).benign_train, False, n, held_out=True, seed=3)
    return left_pad([TOK.encode(r.prompt, bos=True) for r in reqs], TOK.pad_id)


def forward(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits


# ------------------------------------------------------------------------------------------------ controller
def test_controller_shapes_and_bad_args():
    s, w = controller(n_layers=5)(torch.randn(4, 2 * WIDTH))
    assert s.shape == (4, 1) and w.shape == (4, 5)
    with pytest.raises(ValueError, match="num_layers"):
        SteeringController(8, 0)


@pytest.mark.parametrize("arch", MODELS)
def test_zero_controller_and_alpha_zero_leave_logits_identical(arch):
    model, (ids, mask) = MODELS[arch](), prompts()
    base = forward(model, ids, mask)
    zero = controller()
    nn.init.zeros_(zero.fc2.weight)
    nn.init.zeros_(zero.fc2.bias)
    for mode in ("official", "prompt", "two_pass"):
        with SteeringHooks(model, zero, unit(), (-2, -1), mode=mode):
            assert torch.equal(forward(model, ids, mask), base)
        with SteeringHooks(model, controller(), unit(), (-2, -1), alpha=0.0, mode=mode):
            assert torch.equal(forward(model, ids, mask), base)
    with SteeringHooks(model, controller(), unit(), (-2, -1), alpha=1.0, mode="prompt"):
        assert not torch.allclose(forward(model, ids, mask), base)


def _patches(model: nn.Module, ids, mask, hooks: SteeringHooks) -> list[torch.Tensor]:
    """The exact patch each block received: its output after the steering hook minus before it."""
    before, after = {}, {}
    blocks = decoder_layers(model)

    def grab(store, i):
        return blocks[i].register_forward_hook(lambda m, a, out: store.__setitem__(i, out.clone()))

    handles = [grab(before, i) for i in range(len(blocks))]
    with hooks:
        handles += [grab(after, i) for i in range(len(blocks))]
        forward(model, ids, mask)
    for h in handles:
        h.remove()
    return [after[i] - before[i] for i in range(len(blocks))]


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("mode", ["official", "prompt", "two_pass"])
def test_patch_is_s_raw_times_sigmoid_weight_times_alpha_d_at_last_position(arch, mode):
    model, (ids, mask), d, c, alpha = MODELS[arch](), prompts(), unit(), controller(scale=3.0), 2.5
    s, logits = c(last_token_activations(model, ids, mask, (1, 2)))
    hooks = SteeringHooks(model, c, d, (-2, -1), alpha=alpha, mode=mode)
    deltas = _patches(model, ids, mask, hooks)
    patched = [2] if mode == "official" else [0, 1, 2]
    assert hooks.patched == [patched]
    for layer, delta in enumerate(deltas):
        expected = s * torch.sigmoid(logits[:, layer : layer + 1]) * alpha * d if layer in patched else 0 * d
        torch.testing.assert_close(delta[:, -1], expected.detach().expand(ids.shape[0], -1), atol=1e-5, rtol=1e-5)
        assert torch.equal(delta[:, :-1], torch.zeros_like(delta[:, :-1]))


def test_sigmoid_scalar_ones_weights_and_constant_actadd():
    model, (ids, mask), d = llama(), prompts(), unit()
    c = controller(scale=3.0)
    s, _ = c(last_token_activations(model, ids, mask, (1, 2)))
    deltas = _patches(model, ids, mask, SteeringHooks(model, c, d, (1, 2), 2.0, "prompt", "sigmoid", "ones"))
    torch.testing.assert_close(deltas[0][:, -1], (torch.sigmoid(s) * 2.0 * d).detach(), atol=1e-5, rtol=1e-5)
    deltas = _patches(model, ids, mask, SteeringHooks(model, None, d, (1, 2), alpha=3.0))
    for delta in deltas:
        torch.testing.assert_close(delta[:, -1], (3.0 * d).expand(ids.shape[0], -1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", MODELS)
def test_official_mode_patches_only_what_the_hook_order_allows_during_cached_generation(arch):
    model, (ids, mask) = MODELS[arch](), prompts()
    from paperzoo.shared.torch.lm import sample

    for layers, expected in (((-3, -2, -1), [2]), ((0,), [0, 1, 2]), ((0, 1), [1, 2])):
        with SteeringHooks(model, controller(n_inputs=len(layers)), unit(), layers, mode="official") as hooks:
            sample(model, ids, mask, 4, -1, TOK.pad_id, temperature=0.0)
        assert len(hooks.patched) == 4 and all(p == expected for p in hooks.patched)
    with SteeringHooks(model, controller(), unit(), (-2, -1), mode="prompt") as hooks:
        sample(model, ids, mask, 4, -1, TOK.pad_id, temperature=0.0)
    assert hooks.patched == [[0, 1, 2]] * 4


@pytest.mark.parametrize("arch", MODELS)
def test_prompt_mode_prefill_runs_the_prompt_once_and_equals_the_full_double_pass(arch):
    model, (ids, mask), c = MODELS[arch](), prompts(3), controller(scale=3.0)
    pos, calls = position_ids(mask), []
    counter = decoder_layers(model)[0].register_forward_hook(lambda m, a, out: calls.append(out[0].shape[-2]))
    with SteeringHooks(model, c, unit(), (-2, -1), mode="prompt") as hooks, torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]  # no cache: two full passes
        fast = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    counter.remove()
    n = ids.shape[1]
    assert calls == [n, n, n, 1] and hooks.patched == [[0, 1, 2], [0, 1, 2]]  # read + real pass, twice
    assert fast.logits.shape[1] == 1 and fast.cache.get_seq_length() == n
    torch.testing.assert_close(fast.logits[:, -1], full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["official", "prompt", "two_pass"])
def test_left_padded_batch_equals_each_prompt_alone(mode):
    model, (ids, mask), c = llama(), prompts(3), controller(scale=3.0)

    def two_steps(ids, mask):
        with SteeringHooks(model, c, unit(), (-2, -1), mode=mode), torch.no_grad():
            pos = position_ids(mask)
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            mask2 = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            out2 = model(input_ids=nxt, attention_mask=mask2, position_ids=pos[:, -1:] + 1, cache=out.cache)
        return torch.stack([out.logits[:, -1], out2.logits[:, -1]], 1)

    batched = two_steps(ids, mask)
    assert (mask == 0).any()
    for row in range(ids.shape[0]):
        keep = mask[row] == 1
        alone = two_steps(ids[row : row + 1, keep], mask[row : row + 1, keep])
        torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=1e-5)


def test_hooks_removed_on_exit_and_on_error():
    model, (ids, mask) = llama(), prompts()
    base = forward(model, ids, mask)

    def count() -> int:
        return sum(len(b._forward_hooks) for b in decoder_layers(model)) + len(model._forward_pre_hooks)

    with SteeringHooks(model, controller(), unit(), (-2, -1), mode="prompt"):
        assert count() == 4
    assert count() == 0 and torch.equal(forward(model, ids, mask), base)
    with pytest.raises(RuntimeError, match="boom"), SteeringHooks(model, None, unit(), (-1,)):
        raise RuntimeError("boom")
    assert count() == 0 and torch.equal(forward(model, ids, mask), base)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": math.inf}, "alpha"),
        ({"alpha": math.nan}, "alpha"),
        ({"input_layers": (3,)}, "input_layers"),
        ({"input_layers": (-4,)}, "input_layers"),
        ({"mode": "always"}, "mode"),
        ({"scalar": "tanh"}, "scalar"),
        ({"direction": torch.ones(WIDTH + 1)}, "direction"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, name):
    args = {"model": llama(), "controller": controller(), "direction": unit(), "input_layers": (-2, -1)} | kwargs
    with pytest.raises(ValueError, match=name):
        SteeringHooks(**args)


# ------------------------------------------------------------------------------------------------ directions
def test_refusal_direction_is_unit_mean_embedding_difference():
    model = llama()
    d = refusal_direction(model, TOK.encode, tasks.REFUSAL_PHRASES, tasks.COMPLIANCE_PHRASES)
    assert abs(float(d.norm()) - 1.0) < 1e-6
    emb = model.get_input_embeddings().weight.detach()
    r = [t for p in tasks.REFUSAL_PHRASES for t in TOK.encode(p)]
    a = [t for p in tasks.COMPLIANCE_PHRASES for t in TOK.encode(p)]
    diff = emb[r].mean(0) - emb[a].mean(0)
    torch.testing.assert_close(d, diff / diff.norm())
    with pytest.raises(ValueError, match="identical"):
        refusal_direction(model, TOK.encode, ("sure", "i cannot"), ("i cannot", "sure"))


def test_act_diff_direction_points_from_benign_to_harmful():
    g = torch.Generator().manual_seed(0)
    shift = unit()
    harmful, benign = torch.randn(400, WIDTH, generator=g) + 3 * shift, torch.randn(400, WIDTH, generator=g)
    d = act_diff_direction(harmful, benign)
    assert abs(float(d.norm()) - 1) < 1e-6 and float(d @ shift) > 0.95
    with pytest.raises(ValueError, match="same mean"):
        act_diff_direction(benign, benign)


# ------------------------------------------------------------------------------------------------ training
def _separable(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shift = torch.zeros(2 * WIDTH)
    shift[0] = 4.0
    return torch.randn(n, 2 * WIDTH, generator=g) + shift, torch.randn(n, 2 * WIDTH, generator=g) - shift


def test_training_separates_harmful_from_benign_with_the_official_losses():
    x_h, x_b = _separable()
    c = controller(n_layers=3)
    log = train_controller(c, x_h, x_b, epochs=10, lr=1e-3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float(c(x_h)[0].min()) > 0 > float(c(x_b)[0].max())
    assert log.harmful_bce[-1] < log.harmful_bce[0] and log.benign_bce[-1] < log.benign_bce[0]
    s, w = torch.tensor([[0.0]]), torch.tensor([[0.0, 2.0]])
    reg = 0.1 * ((torch.sigmoid(w) - 0.5).abs().mean() + 0.01 * torch.sigmoid(w).mean())
    torch.testing.assert_close(harmful_loss(s, w)[0], math.log(2) + reg)


def test_training_keeps_the_lowest_loss_epoch_not_the_last():
    x_h, x_b = _separable(32)

    def train(epochs: int, keep: str) -> tuple[SteeringController, list[float], int]:
        c = controller(n_layers=3)
        log = train_controller(c, x_h, x_b, epochs, lr=0.3, keep=keep, generator=torch.Generator().manual_seed(0))
        return c, log.epoch_loss, log.kept_epoch

    best, losses, kept = train(3, "best")
    assert kept == losses.index(min(losses)) and kept < 2, "lr 0.3 should make a later epoch worse"
    last, _, last_kept = train(3, "last")
    replay, _, _ = train(kept + 1, "last")
    assert last_kept == 2
    for p, q in zip(best.parameters(), replay.parameters(), strict=True):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, r) for p, r in zip(best.parameters(), last.parameters(), strict=True))


def test_training_rejects_bad_inputs():
    with pytest.raises(ValueError, match="x_benign"):
        train_controller(controller(), torch.zeros(4, 2 * WIDTH), torch.zeros(4, WIDTH))
    with pytest.raises(ValueError, match="keep"):
        train_controller(controller(), torch.zeros(4, 2 * WIDTH), torch.zeros(4, 2 * WIDTH), keep="first")


# ------------------------------------------------------------------------------------------------ corpus
def test_corpus_tokenizer_splits_and_detectors():
    text = "user please explain how to bake the cake bot"
    assert TOK.decode(TOK.encode(text, bos=True, eos=True)) == text
    with pytest.raises(ValueError, match="xyzzy"):
        TOK.encode("xyzzy")
    s = tasks.make_splits(0)
    assert not set(s.harmful_train) & set(s.harmful_test) and not set(s.benign_train) & set(s.benign_test)
    req = tasks.make_requests(s.harmful_test, True, 1, True, 0)[0]
    assert tasks.is_refusal("sorry i cannot do that") and not tasks.is_refusal("sure first bake then the cake")
    assert tasks.is_helpful(req, f"of course {req.helpful_tail}") and not tasks.is_helpful(req, "i cannot help")


def test_same_seed_same_numbers_and_bad_config():
    config = dataclasses.replace(
        BENCHMARK.scales["smoke"],
        model=ModelConfig(n_layer=2, d_model=16, d_ff=32, n_head=2, max_positions=40),
        pretrain_steps=4,
        n_controller=16,
        n_eval=8,
        hidden_dim=16,
        epochs=2,
    )
    run = BENCHMARK.run["smoke"]
    first = run(config, 0).metrics
    assert first == run(config, 0).metrics
    assert first["checks/hooks_left"] == 0 and first["checks/official_patches_final_block_only"] == 1
    with pytest.raises(ValueError, match="claim_alpha"):
        ToyConfig(claim_alpha=3.0)


def test_paper_scale_runs_on_a_tiny_stand_in(tmp_path, monkeypatch):
    """The paper runner end to end on a saved tiny Llama with a word-level HF tokenizer and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from paperzoo.guiding_giants import experiment
    from paperzoo.guiding_giants.bench import PaperConfig

    words = ["<pad>", "<bos>", "<eos>", "user", "bot", "i", "cannot", "sorry", "sure", "here", "how", "to", "bake"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    tok.chat_template = "{% for m in messages %}user {{ m['content'] }} {% endfor %}bot"
    torch.manual_seed(0)
    model = build_llama(ModelConfig(n_layer=4, d_model=16, d_ff=32, n_head=2, max_positions=40), TOK)
    model.resize_token_embeddings(len(words))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    prompts = {
        "train_h": ["how to bake"] * 4,
        "train_b": ["bake"] * 4,
        "test_h": ["how to bake"] * 2,
        "test_b": ["bake"],
    }
    monkeypatch.setattr(experiment, "_paper_prompts", lambda config: prompts)
    config = PaperConfig(model_name=str(tmp_path), dtype="float32", n_controller=4, n_eval=2, hidden_dim=8, epochs=1,
                         max_new_tokens=3, eval_batch=2, refusal_phrases=("i cannot", "sorry"),
                         compliance_phrases=("sure", "here"), device="cpu")  # fmt: skip
    metrics = experiment.run_paper(config, 0).metrics
    assert set(metrics) == {
        f"{a}/{m}" for a in ("base", "was_official", "was_prompt") for m in ("harmful_refusal", "false_refusal")
    }
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
