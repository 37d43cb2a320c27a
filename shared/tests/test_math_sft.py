"""The math fine-tuning testbed: answer extraction and matching, the record loader, prompt masking, a tiny run."""

import json
import math

import pytest
import torch

from paperzoo.shared.testbeds import math_sft as m


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so x = 3 and \\boxed{5}. Then \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\} \\cup {3}}", "\\{1, 2\\} \\cup {3}"),
        ("Janet has 3 eggs.\nThe answer is: 18", "18"),
        ("The answer is 1,234.\nExtra words", "1,234."),
        ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
        ("steps \\boxed{7} The answer is: 8", "7"),
        ("no final answer here", None),
        ("The answer is:   ", None),
        ("\\boxed{unbalanced", None),
    ],
)
def test_extract_answer(text, answer):
    assert m.extract_answer(text) == answer


@pytest.mark.parametrize(
    ("predicted", "reference", "same"),
    [
        ("18", "18", True),
        ("18.00", "18", True),
        ("$18", "18", True),
        ("18.", "18", True),
        ("1,234", "1234", True),
        (" 1 234 ", "1234", True),
        ("\\frac{1}{2}", "1/2", True),
        ("\\dfrac{3}{4}", "0.75", True),
        ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{3}}{2}", True),
        ("\\text{(B)}", "(B)", True),
        ("17", "18", False),
        ("1,23", "123", False),
        ("x+1", "x-1", False),
        (None, "18", False),
        ("", "18", False),
    ],
)
def test_answers_match(predicted, reference, same):
    assert m.answers_match(predicted, reference) is same


def test_load_records_from_jsonl_and_folder(tmp_path):
    rows = [{"query": f"q{i}", "response": f"The answer is: {i}", "n": i} for i in range(5)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    got = m.load_records(str(path))
    assert got[3] == {"query": "q3", "response": "The answer is: 3", "n": "3"}
    assert len(got) == 5
    assert m.load_records(str(path), limit=2) == got[:2]
    assert m.load_records(str(tmp_path), split="train") == got
    with pytest.raises(FileNotFoundError):
        m.load_records(str(tmp_path / "missing.jsonl"))


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    folder = m.write_stand_in(tmp_path_factory.mktemp("stand-in"))
    return m.load_model_and_tokenizer(str(folder), dtype="float32", local_only=True)


def test_sft_batch_masks_the_prompt_and_padding(stand_in):
    _, tok = stand_in
    records = [{"query": "1+1?", "response": "The answer is: 2"}, {"query": "10+20?", "response": "30"}]
    b = m.sft_batch(tok, records, max_length=512)
    for i, r in enumerate(records):
        n_prompt = len(m.prompt_ids(tok, r["query"]))
        response = tok(" " + r["response"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        row = b["labels"][i]
        assert (row[:n_prompt] == -100).all()
        assert row[n_prompt : n_prompt + len(response)].tolist() == response
        assert (row[n_prompt + len(response) :] == -100).all()
        assert int(b["attention_mask"][i].sum()) == n_prompt + len(response)
        assert b["input_ids"][i, 0] == tok.bos_token_id
    cut = m.sft_batch(tok, records, max_length=20)
    assert cut["input_ids"].shape[1] == 20 and (cut["labels"] == -100).all()


def test_finetune_learns_and_evaluate_counts(stand_in):
    model, tok = stand_in
    torch.manual_seed(0)
    records = [{"query": "q", "response": "The answer is: 7"}] * 16
    recipe = m.Recipe(lr=1e-2, batch_size=4, grad_accum=1, epochs=10, warmup_ratio=0.0)
    losses = m.finetune(model, tok, records, recipe, seed=0)
    assert len(losses) == 40 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.2 * losses[0]
    ev = m.evaluate(model, tok, [{"question": "q", "answer": "#### 7"}], "question", "answer", max_new_tokens=20)
    assert ev.n == 1 and 0.0 <= ev.accuracy <= 1.0


def test_score_is_a_hand_count():
    ev = m.score(["The answer is: 7", "\\boxed{8}", "nothing", "#### 1,000"], ["7", "9", "3", "1000"])
    assert (ev.correct, ev.n, ev.accuracy, ev.predicted) == (2, 4, 0.5, ["7", "8", None, "1,000"])
