"""POLAR's reward-model input: the reference template of xtuner's ``tokenize_ref``, as ids and as text.

For a prompt x, a reference y_ref and a candidate y, the "sft" wrapper builds

    T(x, y_ref, y) = x + "\\n" + y_ref + "<|reward|>" + x + "\\n" + y

(the "pretrain" wrapper, or an empty response, has no "\\n" before that response), encodes it whole and appends
the reward token's id (official: ``[UNUSED_TOKEN_130]``, id 92527 of InternLM2), the only labelled position;
the reward head reads the final hidden state there. Truncation as the official code: x, y_ref and y are
encoded separately (with the tokenizer's special tokens); each response keeps its first
``max_response_length`` tokens; the prompt, which appears twice, keeps its last
``(max_length - 4 - |y_ref| - |y|) // 2`` tokens (4: ``<|reward|>``, two "\\n", the reward token; for a
preference pair the minimum over chosen and rejected); the pieces are decoded without special tokens and the
template is assembled as text, then re-encoded. Any tokenizer with Hugging Face's ``encode(text,
add_special_tokens=...)`` and ``decode(ids, skip_special_tokens=...)`` works, :class:`PolarTokenizer` included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from paperzoo.shared.validate import check_one_of, check_positive_int

REWARD_TEXT = "<|reward|>"  # the separator between the reference half and the candidate half
REWARD_TOKEN = "[UNUSED_TOKEN_130]"  # the official reward token, appended as an id
WRAPPERS = ("sft", "pretrain")
# Tokens the template adds besides the three texts: <|reward|>, two "\n", the reward token.
TEMPLATE_TOKENS = 4
PAD, BOS = "<pad>", "<s>"
# The characters of the generated tasks (lower-case words, numbers, a few symbols) and the template's "\n".
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz +-=:.,!?'\n"


class Tokenizer(Protocol):
    """The slice of a Hugging Face tokenizer the template needs."""

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str: ...

    def convert_tokens_to_ids(self, token: str) -> Any: ...


class PolarTokenizer:
    """A character tokenizer with Hugging Face's encode/decode interface and POLAR's special tokens.

    Ids: ``<pad>`` 0, ``<s>`` 1 (the BOS ``encode`` prepends with ``add_special_tokens``), ``<|reward|>`` 2,
    ``[UNUSED_TOKEN_130]`` 3, then one id per character of ``chars``. The special strings are single tokens
    wherever they appear in the text; ``decode(..., skip_special_tokens=True)`` drops them. ``ValueError``
    for a character outside the vocabulary or an alphabet that repeats a character.
    """

    special_tokens = (PAD, BOS, REWARD_TEXT, REWARD_TOKEN)

    def __init__(self, chars: str = ALPHABET) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise ValueError(f"chars must be distinct characters (at least one), got {chars!r}")
        self.tokens: tuple[str, ...] = (*self.special_tokens, *chars)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_token_id, self.bos_token_id = 0, 1
        self.reward_token_id = self.index[REWARD_TOKEN]

    def __len__(self) -> int:
        return len(self.tokens)

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.index[token]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Ids of ``text`` (special strings as one token each), after ``<s>`` when ``add_special_tokens``."""
        ids = [self.bos_token_id] if add_special_tokens else []
        i = 0
        while i < len(text):
            for special in (REWARD_TEXT, REWARD_TOKEN):
                if text.startswith(special, i):
                    ids.append(self.index[special])
                    i += len(special)
                    break
            else:
                if text[i] not in self.index:
                    raise ValueError(f"text contains {text[i]!r}, which the tokenizer cannot encode: {text!r}")
                ids.append(self.index[text[i]])
                i += 1
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        n_special = len(self.special_tokens)
        return "".join(self.tokens[i] for i in map(int, ids) if not (skip_special_tokens and i < n_special))


def _join(prompt: str, response: str, wrapper: str) -> str:
    """x + "\\n" + y, without the "\\n" for the pretrain wrapper or an empty response (xtuner's rule)."""
    return prompt + response if wrapper == "pretrain" or response == "" else prompt + "\n" + response


def polar_text(prompt: str, reference: str, candidate: str, wrapper: str = "sft") -> str:
    """The official client's string form of the input: T(x, y_ref, y) followed by ``[UNUSED_TOKEN_130]`` as text.

    Unlike the client (whose empty-response check ``len(r) == ""`` never fires), an empty response gets no
    "\\n", as xtuner's training data does.
    """
    check_one_of("wrapper", wrapper, WRAPPERS)
    return _join(prompt, reference, wrapper) + REWARD_TEXT + _join(prompt, candidate, wrapper) + REWARD_TOKEN


def _check_lengths(max_length: int, max_response_length: int) -> None:
    check_positive_int("max_response_length", max_response_length)
    if not isinstance(max_length, int) or max_length <= TEMPLATE_TOKENS:
        raise ValueError(
            f"max_length must be an integer > {TEMPLATE_TOKENS} (the template's special tokens), got {max_length!r}"
        )


def _reward_id(tokenizer: Tokenizer, reward_token_id: int | None) -> int:
    return int(tokenizer.convert_tokens_to_ids(REWARD_TOKEN)) if reward_token_id is None else int(reward_token_id)


def encode_polar(
    prompt: str,
    reference: str,
    candidates: str | Sequence[str],
    tokenizer: Tokenizer,
    wrapper: str = "sft",
    max_length: int = 16384,
    max_response_length: int = 4096,
    reward_token_id: int | None = None,
) -> list[int] | list[list[int]]:
    """The ids of T(x, y_ref, y) + [reward token] for one candidate (a list of ids) or several (a list of lists).

    Several candidates (the chosen and the rejected of a preference pair) share one prompt cut: the prompt
    keeps its last ``min_y (max_length - 4 - |y_ref| - |y|) // 2`` tokens (none when that is <= 0; the official
    slice ``ids[-0:]`` would keep all of them). ``reward_token_id`` defaults to the tokenizer's id of
    ``[UNUSED_TOKEN_130]``. ``ValueError`` for an unknown ``wrapper``, ``max_response_length < 1`` or
    ``max_length <= 4`` (no room beyond the template's special tokens).
    """
    check_one_of("wrapper", wrapper, WRAPPERS)
    _check_lengths(max_length, max_response_length)
    single = isinstance(candidates, str)
    cands = [candidates] if single else list(candidates)
    if not cands:
        raise ValueError("candidates must hold at least one response")
    budget = max_length - TEMPLATE_TOKENS
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=True)
    ref_ids = tokenizer.encode(reference, add_special_tokens=True)[:max_response_length]
    cand_ids = [tokenizer.encode(c, add_special_tokens=True)[:max_response_length] for c in cands]
    keep = min((budget - len(ref_ids) - len(c)) // 2 for c in cand_ids)
    if len(prompt_ids) > keep:
        prompt_ids = prompt_ids[len(prompt_ids) - max(keep, 0) :]
    x = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    head = _join(x, tokenizer.decode(ref_ids, skip_special_tokens=True), wrapper) + REWARD_TEXT
    reward_id = _reward_id(tokenizer, reward_token_id)
    out = [
        [*tokenizer.encode(head + _join(x, tokenizer.decode(c, skip_special_tokens=True), wrapper)), reward_id]
        for c in cand_ids
    ]
    return out[0] if single else out


def encode_reference_free(
    prompt: str,
    candidate: str,
    tokenizer: Tokenizer,
    wrapper: str = "sft",
    max_length: int = 16384,
    max_response_length: int = 4096,
    reward_token_id: int | None = None,
) -> list[int]:
    """The standard (reference-free) Bradley-Terry RM input: x + "\\n" + y + [reward token], cut the same way
    (the response keeps its first ``max_response_length`` tokens, the prompt its last ``max_length - 2 - |y|``)."""
    check_one_of("wrapper", wrapper, WRAPPERS)
    _check_lengths(max_length, max_response_length)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=True)
    cand_ids = tokenizer.encode(candidate, add_special_tokens=True)[:max_response_length]
    keep = max(max_length - 2 - len(cand_ids), 0)
    prompt_ids = prompt_ids[len(prompt_ids) - min(keep, len(prompt_ids)) :]
    text = _join(tokenizer.decode(prompt_ids, True), tokenizer.decode(cand_ids, True), wrapper)
    return [*tokenizer.encode(text), _reward_id(tokenizer, reward_token_id)]
