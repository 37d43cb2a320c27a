"""Tokenizer, traces, verifier and splits."""

from __future__ import annotations

import pytest

from paperzoo.amft.task import (
    ID_DIGITS,
    OOD_DIGITS,
    Problem,
    left_pad,
    make_split,
    max_trace_tokens,
    operand_lengths,
    sft_batch,
    verify,
)


def test_trace_matches_the_brief_example():
    assert Problem(47, 85).prompt == "47+85="
    assert Problem(47, 85).trace == "7+5=12 c1|4+8+1=13 c1|=132"
    assert Problem(5, 123).trace == "5+3=8 c0|0+2=2 c0|0+1=1 c0|=128"


@pytest.mark.parametrize("seed", [0, 1])
def test_verifier_accepts_every_correct_trace_and_rejects_wrong_answers(seed):
    for p in make_split(200, (*ID_DIGITS, *OOD_DIGITS), seed):
        assert verify(p, p.trace) == 1.0
        wrong = p.trace.rsplit("=", 1)[0] + f"={p.answer + 1}"
        assert verify(p, wrong) == 0.0
    p = Problem(47, 85)
    assert verify(p, "garbage") == 0.0
    assert verify(p, "7+5=12 c1|=") == 0.0
    assert verify(p, "=132") == 1.0  # the outcome reward checks the final answer only


def test_id_and_ood_operand_lengths_are_disjoint():
    id_lengths = operand_lengths(make_split(2000, ID_DIGITS, 0))
    ood_lengths = operand_lengths(make_split(2000, OOD_DIGITS, 0))
    assert id_lengths == set(ID_DIGITS) and ood_lengths == set(OOD_DIGITS)
    assert not id_lengths & ood_lengths


def test_tokenizer_round_trip_and_untokenizable_prompt(tok):
    p = Problem(907, 95)
    ids = tok.encode(p.prompt + p.trace, bos=True, eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == p.prompt + p.trace
    with pytest.raises(ValueError, match=r"'x' at position 2"):
        tok.encode("12x3=")
    with pytest.raises(ValueError, match="cannot encode"):
        tok.encode("1.5+2=")


def test_sft_batch_masks_prompt_and_padding(tok):
    problems = [Problem(1, 2), Problem(123, 456)]
    batch = sft_batch(tok, problems)
    for i, p in enumerate(problems):
        labelled = batch["labels"][i][batch["labels"][i] != -100].tolist()
        assert tok.decode(labelled) == p.trace and labelled[-1] == tok.eos_id
        assert int(batch["attention_mask"][i].sum()) == len(p.prompt) + len(p.trace) + 2
    ids, mask = left_pad([[5, 6], [7]], tok.pad_id)
    assert ids.tolist() == [[5, 6], [tok.pad_id, 7]] and mask.tolist() == [[1, 1], [0, 1]]
    assert max_trace_tokens(OOD_DIGITS) >= max(len(p.trace) + 1 for p in make_split(500, OOD_DIGITS, 0))
