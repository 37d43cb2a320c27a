"""The paper's task: DailyDialog, METEOR and the RoBERTa intent classifier (RL4LMs' datapool and rewards).

- Examples (RL4LMs ``DailyDialog.prepare``, ``context_size`` 5 in the official dialog config): for every utterance
  that has at least ``context_size`` earlier turns in its dialogue, the prompt is the last ``context_size`` turns
  joined by ``<EOU>`` followed by `` <EOU>``, the reference is the utterance followed by ``<EOU>``, and the intent
  is the utterance's dialogue act (DailyDialog's 1-4, inform / question / directive / commissive, minus 1).
- r_meteor (RL4LMs ``MeteorMetric``, the hub metric over nltk): nltk's METEOR of the reply against the reference,
  both split by ``word_tokenize`` (alpha 0.9, beta 3, gamma 0.5; exact, Porter-stem and WordNet-synonym matches):
  F_mean = P R / (alpha P + (1 - alpha) R), score = F_mean (1 - gamma (chunks / matches)^beta).
- r_intent (RL4LMs ``IntentAccuracyDailyDialog``): 1 when the classifier's argmax on ``last context turn + reply``
  equals the reply's gold intent, else 0 (an accuracy: the official threshold 0.44 is on this scale).
- E (our stand-in for the paper's evaluation score, never optimised): bigram F1 with the reference + 0.5
  exp(mean log p_base(reply tokens)) - repetition, on lower-cased ``word_tokenize`` words (as at CPU scale).

``datasets``, nltk's data and the hub models are needed only here; everything is imported lazily.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from paperzoo.constrained_rlhf.dialogue import bigram_f1, repetition
from paperzoo.shared.validate import check_one_of, check_positive_int

EOU = "<EOU>"  # RL4LMs' end-of-utterance token
SPLITS = ("train", "validation", "test")
INTENTS = ("inform", "question", "directive", "commissive")
NLTK_DATA = ("download", "installed", "none")
NLTK_RESOURCES = (("corpora/wordnet", "wordnet"), ("tokenizers/punkt_tab", "punkt_tab"))


@dataclass(frozen=True)
class Turn:
    """One example: the context (previous turns joined by ``<EOU>``), the reference reply and its intent (0-3)."""

    prompt: str
    reference: str
    intent: int


def dialogue_examples(dialogues: Sequence[tuple[Sequence[str], Sequence[int]]], context_size: int) -> list[Turn]:
    """RL4LMs' DailyDialog datapool from ``(utterances, acts)`` pairs, acts in DailyDialog's 1-4."""
    check_positive_int("context_size", context_size)
    out = []
    for utterances, acts in dialogues:
        if len(utterances) != len(acts):
            raise ValueError(f"a dialogue has {len(utterances)} utterances but {len(acts)} acts")
        for k, (utterance, act) in enumerate(zip(utterances, acts, strict=True)):
            if not 1 <= int(act) <= len(INTENTS):
                raise ValueError(f"act must be in 1..{len(INTENTS)} (DailyDialog's labels), got {act!r}")
            if k >= context_size:
                prompt = EOU.join(utterances[k - context_size : k]) + " " + EOU
                out.append(Turn(prompt, utterance + EOU, int(act) - 1))
    return out


def read_dailydialog(folder: str | Path, split: str) -> list[tuple[list[str], list[int]]]:
    """``(utterances, acts)`` of one split from the original release's text files (``ijcnlp_dailydialog``):
    ``<folder>/<split>/dialogues_<split>.txt`` (a dialogue per line, each utterance followed by ``__eou__``) and
    ``<folder>/<split>/dialogues_act_<split>.txt`` (the acts 1-4 of its utterances, space-separated); parsed as
    the hub's loading script does (utterances unstripped, reading stops at the first empty line)."""
    check_one_of("split", split, SPLITS)
    root = Path(folder).expanduser() / split
    text, act = root / f"dialogues_{split}.txt", root / f"dialogues_act_{split}.txt"
    for path in (text, act):
        if not path.is_file():
            raise ValueError(f"data has no {split}/{path.name} (looked for {path})")
    out = []
    with text.open(encoding="utf-8") as f, act.open(encoding="utf-8") as a:
        for line, acts in zip(f, a, strict=False):
            if not line.strip():
                break
            out.append((line.split("__eou__")[:-1], [int(x) for x in acts.split()]))
    if not out:
        raise ValueError(f"{text} holds no dialogues")
    return out


def hub_dailydialog(name: str, split: str, revision: str | None = None) -> list[tuple[list[str], list[int]]]:
    """``(utterances, acts)`` of one split of the hub's DailyDialog (``datasets``, the ``paper`` extra; its act
    labels keep DailyDialog's 1-4 after a ``__dummy__`` 0, as RL4LMs expects)."""
    from datasets import load_dataset

    check_one_of("split", split, SPLITS)
    rows = load_dataset(name, split=split, revision=revision)
    return [(list(item["dialog"]), list(item["act"])) for item in rows]


def load_dailydialog(
    data: str,
    split: str,
    context_size: int,
    hub_name: str = "li2017dailydialog/daily_dialog",
    hub_revision: str | None = None,
) -> list[Turn]:
    """The examples of ``split``: ``data == "hub"`` loads ``hub_name`` with ``datasets`` (a download), any other
    value is a folder of the original text files (:func:`read_dailydialog`)."""
    if data == "hub":
        return dialogue_examples(hub_dailydialog(hub_name, split, hub_revision), context_size)
    return dialogue_examples(read_dailydialog(data, split), context_size)


# ------------------------------------------------------------------------------------------ nltk data
class NoSynonyms:
    """A WordNet stand-in without synonyms (METEOR then matches exact words and Porter stems only)."""

    def synsets(self, word: str) -> list:
        return []


def nltk_resources(mode: str) -> tuple[Any, Callable[[str], list[str]]]:
    """The WordNet reader and word tokenizer METEOR uses. ``"download"``: nltk's ``wordnet`` and ``punkt_tab``
    data, downloaded when missing (the paper scale, as the hub metric did); ``"installed"``: the same data, which
    must already be installed; ``"none"``: offline stand-ins (no synonym matches, no sentence splitting)."""
    import nltk
    from nltk.tokenize import word_tokenize

    check_one_of("nltk_data", mode, NLTK_DATA)
    if mode == "none":
        return NoSynonyms(), lambda text: word_tokenize(text, preserve_line=True)
    for path, name in NLTK_RESOURCES:
        try:
            nltk.data.find(path)
        except LookupError as err:
            if mode == "installed":
                raise ValueError(
                    f"nltk_data='installed' but nltk's {name!r} is missing: nltk.download({name!r})"
                ) from err
            nltk.download(name, quiet=True)
    from nltk.corpus import wordnet

    return wordnet, word_tokenize


# ------------------------------------------------------------------------------------------ rewards
class MeteorReward:
    """Per-reply METEOR against the reference (nltk ``meteor_score`` on ``tokenize``d words, one reference):
    F_mean = P R / (alpha P + (1 - alpha) R) times (1 - gamma (chunks / matches)^beta); RL4LMs' METEOR reward."""

    def __init__(
        self,
        wordnet: Any = None,
        tokenize: Callable[[str], list[str]] | None = None,
        alpha: float = 0.9,
        beta: float = 3.0,
        gamma: float = 0.5,
    ) -> None:
        if wordnet is None or tokenize is None:
            default_wordnet, default_tokenize = nltk_resources("installed")
            wordnet, tokenize = wordnet or default_wordnet, tokenize or default_tokenize
        self.wordnet, self.tokenize = wordnet, tokenize
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def __call__(self, replies: Sequence[str], references: Sequence[str]) -> torch.Tensor:
        from nltk.translate.meteor_score import meteor_score

        kwargs = {"wordnet": self.wordnet, "alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}
        scores = [
            meteor_score([self.tokenize(ref)], self.tokenize(reply), **kwargs)
            for reply, ref in zip(replies, references, strict=True)
        ]
        return torch.tensor(scores, dtype=torch.float32)


def classifier_input(prompt: str, reply: str) -> str:
    """RL4LMs' classifier input: the last non-empty ``<EOU>``-separated turn of the context, then the reply."""
    history = [u for u in prompt.split(EOU) if u != ""]
    return history[-1] + reply


class IntentReward:
    """r_intent = 1[argmax_c f_c(last context turn + reply) = gold intent] for a ``transformers`` sequence
    classifier ``f`` (hub id or folder; RL4LMs: ``rajkumarrrk/roberta-daily-dialog-intent-classifier``)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        check_positive_int("batch_size", batch_size)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForSequenceClassification.from_pretrained(model).to(device).eval()
        if self.model.config.num_labels != len(INTENTS):
            raise ValueError(f"model must classify the {len(INTENTS)} intents, has {self.model.config.num_labels}")
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str], replies: Sequence[str], intents: Sequence[int]) -> torch.Tensor:
        texts = [classifier_input(p, r) for p, r in zip(prompts, replies, strict=True)]
        preds = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[start : start + self.batch_size], return_tensors="pt", truncation=True, padding=True
            ).to(self.device)
            preds.append(self.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits.argmax(-1))
        return (torch.cat(preds).cpu() == torch.tensor(list(intents))).float()


# ------------------------------------------------------------------------------------------ policy side
class HFTokenizer:
    """A ``transformers`` tokenizer behind the interface the PPO learner uses: prompts left-truncated to
    ``max_prompt_length`` tokens (RL4LMs: 128, no BOS), replies decoded up to ``<eos>`` without special tokens;
    the pad id is ``<eos>`` when the tokenizer has no pad token (RL4LMs' ``pad_token_as_eos_token``)."""

    def __init__(self, tokenizer: Any, max_prompt_length: int = 128) -> None:
        check_positive_int("max_prompt_length", max_prompt_length)
        if tokenizer.eos_token_id is None:
            raise ValueError("tokenizer must have an eos token")
        self.tokenizer, self.max_prompt_length = tokenizer, max_prompt_length
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    def prompt_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)[-self.max_prompt_length :]

    def decode(self, ids: Sequence[int]) -> str:
        ids = list(map(int, ids))
        end = ids.index(self.eos_id) if self.eos_id in ids else len(ids)
        return self.tokenizer.decode(ids[:end], skip_special_tokens=True)


class DialogRewards:
    """The paper scale's reward models on text replies: components (METEOR, intent) and the evaluation score E."""

    def __init__(
        self, tok: HFTokenizer, meteor: MeteorReward, intent: IntentReward, words: Callable[[str], list[str]]
    ) -> None:
        self.tok, self.meteor, self.intent, self.words = tok, meteor, intent, words

    @torch.no_grad()
    def components(self, replies: Sequence[str], turns: Sequence[Turn]) -> torch.Tensor:
        """(r_meteor, r_intent) per reply, ``(2, B)``."""
        meteor = self.meteor(replies, [t.reference for t in turns])
        intent = self.intent([t.prompt for t in turns], replies, [t.intent for t in turns])
        return torch.stack([meteor, intent])

    @torch.no_grad()
    def evaluation(self, replies: Sequence[str], turns: Sequence[Turn], base_logprob: torch.Tensor) -> torch.Tensor:
        """E = bigram F1 + 0.5 exp(mean log p_base(reply tokens)) - repetition, on lower-cased words."""
        hyp = [[w.lower() for w in self.words(r)] for r in replies]
        ref = [[w.lower() for w in self.words(t.reference.removesuffix(EOU))] for t in turns]
        f1 = torch.tensor([bigram_f1(h, r) for h, r in zip(hyp, ref, strict=True)])
        rep = torch.tensor([repetition(h) for h in hyp])
        return f1 + 0.5 * base_logprob.cpu().exp() - rep


def sample_turns(pool: Sequence[Turn], n: int, seed: int) -> list[Turn]:
    """``n`` examples drawn from ``pool`` without replacement (all of it when ``n >= len(pool)``)."""
    check_positive_int("n", n)
    return random.Random(seed).sample(list(pool), min(n, len(pool)))
