"""Tokenizer, traces, verifier and splits."""

from __future__ import annotations

import pytest

from paperzoo.amft.task import (
    ID_DIGITS,
    ID_LENGTHS,
    OOD_LENGTHS,
    Problem,
    length_pairs,
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
    for p in make_split(200, (1, 2, 3, 4, 5), seed):
        assert verify(p, p.trace) == 1.0
        wrong = p.trace.rsplit("=", 1)[0] + f"={p.answer + 1}"
        assert verify(p, wrong) == 0.0
    p = Problem(47, 85)
    assert verify(p, "garbage") == 0.0
    assert verify(p, "7+5=12 c1|=") == 0.0
    assert verify(p, "=132") == 1.0  # the outcome reward checks the final answer only


def test_id_and_ood_length_mixes_are_disjoint_but_share_every_length():
    id_pairs = operand_lengths(make_split(2000, ID_LENGTHS, 0))
    ood_pairs = operand_lengths(make_split(2000, OOD_LENGTHS, 0))
    assert id_pairs == set(ID_LENGTHS) and ood_pairs == {(1, 3), (3, 1)}
    assert not id_pairs & ood_pairs
    # each OOD operand length is an ID length: only the mix of lengths is held out
    assert {n for p in ood_pairs for n in p} <= {n for p in id_pairs for n in p} == set(ID_DIGITS)
    assert all(abs(a - b) <= 1 for a, b in id_pairs)


def test_length_pairs():
    assert length_pairs((1, 2)) == ((1, 1), (1, 2), (2, 1), (2, 2))
    assert length_pairs(((3, 1),)) == ((3, 1),)
    with pytest.raises(ValueError, match="lengths"):
        length_pairs(())
    with pytest.raises(ValueError, match="lengths"):
        length_pairs(((0, 2),))


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
    assert max_trace_tokens((4, 5)) >= max(len(p.trace) + 1 for p in make_split(500, (4, 5), 0))
    assert max_trace_tokens(OOD_LENGTHS) == max_trace_tokens(ID_LENGTHS) == max_trace_tokens((3,))
