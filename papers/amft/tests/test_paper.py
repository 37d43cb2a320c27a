"""The paper scale on a stand-in: a tiny random Llama and byte-level tokenizer saved locally, tiny JSONL data.

Nothing is downloaded: the model, tokenizer and data files are written to ``tmp_path`` and loaded through the
same hub paths (``from_pretrained``, the shared math testbed's ``load_records``) the paper scale uses.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from paperzoo.amft.bench import BENCHMARK, PaperConfig
from paperzoo.amft.math_rl import HFTokenizer, MathData, MathProblem, exact_match, field_text, load_problems
from paperzoo.amft.train import TrainConfig

# Trivially learnable: the answer to "a+b" is always the same boxed token sequence shape.
SUMS = [(1, 1), (2, 3), (4, 4), (3, 5), (6, 1), (2, 2), (5, 4), (7, 2)]


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, **{ch: i + 1 for i, ch in enumerate(sorted(alphabet))}}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>")


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """A tiny Llama + byte-level tokenizer folder and tiny train/eval JSONL files (verl/LUFFY-style fields)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = _tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                    eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    )  # fmt: skip
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    train = [
        {"prompt": [{"role": "system", "content": "x"}, {"role": "user", "content": f"{a}+{b}"}],
         "target": [{"role": "assistant", "content": f"\\boxed{{{a + b}}}"}],
         "reward_model": {"ground_truth": str(a + b), "style": "rule"}}
        for a, b in SUMS
    ]  # fmt: skip
    train.append({"prompt": "9+9", "target": "9" * 500 + " \\boxed{18}", "reward_model": {"ground_truth": "18"}})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    evals = [{"problem": f"{a}+{b}", "answer": str(a + b)} for a, b in SUMS[:4]]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return tmp_path


def _config(folder, **train) -> PaperConfig:
    cfg = dict(steps=8, batch_size=4, group_size=2, lr=1e-2, max_new_tokens=8, warmup_steps=2,
               meta_update_freq=2, val_batch=2, device="cpu")  # fmt: skip
    return PaperConfig(
        base_model=str(folder / "model"),
        eos_token="",
        prompt_template="Q: {question}\nA: ",
        train_data=MathData(str(folder / "train.jsonl"), question="prompt", solution="target", answer="reward_model"),
        eval_data=MathData(str(folder / "eval.jsonl"), split="test", question="problem", solution="", answer="answer"),
        n_val=2,
        max_seq_length=64,
        regimes=("sft", "amft"),
        train=TrainConfig(**(cfg | train)),
        eval_max_new_tokens=8,
        eval_batch=4,
        device="cpu",
    )


def test_exact_match_equals_a_hand_count():
    completions = ["so \\boxed{4}", "The answer is 7", "\\boxed{1,000}", "no final answer here", "\\boxed{12}."]
    answers = ["4", "8", "1000", "3", "12"]
    # hand count: 4 == 4, 7 != 8, 1,000 == 1000, none, 12 == 12
    assert exact_match(completions, answers) == pytest.approx(3 / 5)
    assert MathProblem("", "", "8").reward("\\boxed{8}") == 1.0
    assert MathProblem("", "", "8").reward("\\boxed{9}") == 0.0
    with pytest.raises(ValueError, match="completions"):
        exact_match(["\\boxed{1}"], ["1", "2"])


def test_field_text_reads_strings_chat_messages_and_ground_truth():
    chat = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    assert field_text(chat, role="user") == "q" and field_text(chat) == "a"
    assert field_text({"ground_truth": "42", "style": "rule"}) == "42" and field_text("x") == "x"
    # load_records turns nested values into strings: their literals are read back; other brackets stay text
    assert field_text(str(chat), role="user") == "q" and field_text(str({"ground_truth": "7"})) == "7"
    assert field_text("[0, 1]") == "[0, 1]" and field_text("{1, 2}") == "{1, 2}"
    with pytest.raises(ValueError, match="ground_truth"):
        field_text({"score": 1})


def test_tokenizer_wrapper_round_trips_and_stops_at_eos(stand_in):
    from transformers import AutoTokenizer

    tok = HFTokenizer(AutoTokenizer.from_pretrained(stand_in / "model"))
    ids = tok.encode("12+3=\\boxed{15}", bos=True, eos=True)
    assert tok.bos_id is None and ids[-1] == tok.eos_id  # no <bos> token: none is added
    assert tok.pad_id == tok.eos_id  # no pad token: pads with the end token under an explicit mask
    assert tok.decode(ids + tok.encode("junk")) == "12+3=\\boxed{15}"
    with pytest.raises(ValueError, match="eos_token"):
        HFTokenizer(AutoTokenizer.from_pretrained(stand_in / "model"), eos_token="<|im_end|>")


def test_loader_builds_prompts_answers_and_drops_overlong_demonstrations(stand_in):
    from transformers import AutoTokenizer

    tok = HFTokenizer(AutoTokenizer.from_pretrained(stand_in / "model"))
    cfg = _config(stand_in)
    problems = load_problems(cfg.train_data, tok, cfg.prompt_template, cfg.max_seq_length)
    assert len(problems) == len(SUMS)  # the 500-character demonstration exceeds 64 tokens
    assert problems[0] == MathProblem("Q: 1+1\nA: ", "\\boxed{2}", "2")
    evals = load_problems(cfg.eval_data, tok, cfg.prompt_template, cfg.max_seq_length, need_solution=False)
    assert [p.answer for p in evals] == ["2", "5", "8", "8"] and evals[0].trace == ""
    with pytest.raises(ValueError, match="lacks field"):
        load_problems(dataclasses.replace(cfg.train_data, question="query"), tok, "{question}", 64)


def test_paper_scale_trains_and_evaluates_on_a_stand_in(stand_in):
    """The real runner: loads the saved model/tokenizer/data, runs SFT and AMFT steps, greedy exact match."""
    config = _config(stand_in)
    result = BENCHMARK.run["paper"](config, 0)
    m = result.metrics
    assert all(math.isfinite(v) for v in m.values())
    assert m["data/train_problems"] == len(SUMS) - config.n_val and m["data/eval_problems"] == 4
    for key in ("base/eval_accuracy", "sft/eval_accuracy", "amft/eval_accuracy"):
        assert m[key] * 4 == round(m[key] * 4) and 0.0 <= m[key] <= 1.0  # a count out of 4 problems
    assert m["sft/optimizer_steps"] == m["amft/optimizer_steps"] == 8
    assert m["sft/sft_loss_last"] < 0.8 * m["sft/sft_loss_first"]  # a trivially learnable set: the loss falls
    assert m["amft/generated_tokens"] > 0 and m["sft/generated_tokens"] == 0
    assert 0.05 <= m["amft/final_mu"] <= 0.95 and m["amft/target_entropy"] > 0
    assert len(result.series["amft/meta_term"]) == 8 - 2
    timing = ("_time_s", "tokens_per_s", "time_share")
    again = BENCHMARK.run["paper"](config, 0).metrics
    assert {k: v for k, v in again.items() if not k.endswith(timing)} == {
        k: v for k, v in m.items() if not k.endswith(timing)
    }
