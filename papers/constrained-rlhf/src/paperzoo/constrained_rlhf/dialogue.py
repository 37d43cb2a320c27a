"""The CPU-scale stand-in for DailyDialog: generated two-turn dialogues, a word tokenizer, the two component
reward models (METEOR-like overlap, intent classifier), the held-out evaluation score E, and the pretrained
tiny GPT-2 policy.

A dialogue is ``a : <user turn> b :`` followed by B's reply. The user turn has a topic (its noun) and a dialogue
act; the act fixes the act of the gold reply (question -> inform, inform -> question, directive -> commissive,
commissive -> directive), and the gold reply is one of three templates of that act about the user's noun.

- r_meteor (METEOR stand-in): unigram matches m (clipped counts) with the reference; P = m/|y|, R = m/|ref|,
  F_mean = 10 P R / (R + 9 P) (METEOR's recall-weighted harmonic mean) times (1 - 0.5 (chunks/m)^3).
- r_intent: p(reply act = gold act) under a bag-of-words logistic classifier trained here on clean replies
  (counts, strong L2: a single clean reply scores ~0.6-0.8, repeated act words push it towards 1).
- E (the "human" score, never optimised): bigram F1 with the reference + 0.5 exp(mean log p_base(reply))
  - repetition (fraction of reply tokens that repeat an earlier one). Recall-weighted stuffing raises r_meteor
  but lowers bigram precision and fluency; repeating act words raises r_intent but costs repetition.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.cache import cached, config_key
from paperzoo.shared.torch.lm import left_pad, position_ids
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

TOPICS: dict[str, tuple[str, ...]] = {
    "food": ("pizza", "soup", "cake"),
    "weather": ("rain", "sun", "snow"),
    "work": ("meeting", "report", "office"),
    "travel": ("train", "hotel", "beach"),
    "music": ("song", "concert", "guitar"),
    "sport": ("game", "match", "team"),
}
ADJECTIVES = ("good", "nice", "great", "bad", "cold", "busy", "fun", "late")
ACTS = ("inform", "question", "directive", "commissive")
USER_TURNS: dict[str, tuple[str, ...]] = {
    "inform": ("the {noun} is {adj} today", "i saw the {noun} yesterday"),
    "question": ("what about the {noun} ?", "did you see the {noun} ?"),
    "directive": ("can you bring the {noun} ?", "please look at the {noun}"),
    "commissive": ("i will take the {noun} tomorrow", "let me fix the {noun}"),
}
REPLY_ACT = {"question": "inform", "inform": "question", "directive": "commissive", "commissive": "directive"}
REPLIES: dict[str, tuple[str, ...]] = {
    "inform": ("i think the {noun} is {adj}", "the {noun} was really {adj}", "yes the {noun} is {adj} now"),
    "question": ("really ? why is the {noun} {adj} ?", "do you like the {noun} ?", "how was the {noun} ?"),
    "directive": ("please call me about the {noun}", "you should check the {noun} first", "please send it soon"),
    "commissive": ("sure i will bring the {noun}", "ok i can do that for you", "i promise to get it later"),
}
NOUNS = tuple(n for nouns in TOPICS.values() for n in nouns)


def _vocabulary() -> tuple[str, ...]:
    words: dict[str, None] = dict.fromkeys(["a", "b", ":"])
    for text in [t for ts in (*USER_TURNS.values(), *REPLIES.values()) for t in ts]:
        words |= dict.fromkeys(w for w in text.split() if w not in ("{noun}", "{adj}"))
    return tuple(words | dict.fromkeys(NOUNS) | dict.fromkeys(ADJECTIVES))


class WordTokenizer:
    """One token per word of the dialogue vocabulary, after ``<pad>`` (0), ``<bos>`` (1) and ``<eos>`` (2)."""

    def __init__(self) -> None:
        self.tokens: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", *_vocabulary())
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of the space-separated words of ``text``; ``ValueError`` naming an unknown word."""
        bad = [w for w in text.split() if w not in self.index]
        if bad:
            raise ValueError(f"text contains {bad[0]!r}, which the tokenizer cannot encode: {text!r}")
        return [self.bos_id] * bos + [self.index[w] for w in text.split()] + [self.eos_id] * eos

    def prompt_ids(self, text: str) -> list[int]:
        """The ids a prompt is fed to the policy as: ``<bos>`` then its words."""
        return self.encode(text, bos=True)

    def decode(self, ids: Sequence[int]) -> list[str]:
        """The words of ``ids`` up to the first ``<eos>``, skipping ``<pad>`` and ``<bos>``."""
        out = []
        for i in map(int, ids):
            if i == self.eos_id:
                break
            if i > self.eos_id:
                out.append(self.tokens[i])
        return out


@dataclass(frozen=True)
class Dialogue:
    """A context (``a : <user turn> b :``), its topic noun, the act the reply should carry, and the gold reply."""

    prompt: str
    noun: str
    act: int
    reference: str


def _fill(template: str, noun: str, rng: random.Random) -> str:
    return template.format(noun=noun, adj=rng.choice(ADJECTIVES))


def make_dialogues(n: int, seed: int) -> list[Dialogue]:
    """``n`` dialogues drawn from ``seed``: topic noun, user act and template, gold reply template."""
    check_positive_int("n", n)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        noun, user_act = rng.choice(NOUNS), rng.choice(ACTS)
        act = REPLY_ACT[user_act]
        prompt = f"a : {_fill(rng.choice(USER_TURNS[user_act]), noun, rng)} b :"
        out.append(Dialogue(prompt, noun, ACTS.index(act), _fill(rng.choice(REPLIES[act]), noun, rng)))
    return out


def pretraining_reply(d: Dialogue, rng: random.Random, p_act: float, p_noun: float, p_long: float) -> str:
    """A reply of the pretraining corpus: a template of the gold act with probability ``p_act`` (else another
    act), about the dialogue's noun with probability ``p_noun`` (else a random noun); with probability ``p_long``
    a second such sentence follows (a rambling speaker). The base model is a mediocre, sometimes long-winded
    speaker: there is room to improve, and room to over-optimise a recall-weighted overlap by rambling."""

    def sentence() -> str:
        act = ACTS[d.act] if rng.random() < p_act else rng.choice([a for a in ACTS if a != ACTS[d.act]])
        noun = d.noun if rng.random() < p_noun else rng.choice(NOUNS)
        return _fill(rng.choice(REPLIES[act]), noun, rng)

    first = sentence()
    return f"{first} {sentence()}" if rng.random() < p_long else first


# ------------------------------------------------------------------------------------------ component rewards
def meteor_like(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """Unigram METEOR without stemming or synonyms: F_mean = 10PR/(R+9P) times (1 - 0.5 (chunks/m)^3).

    Matches are aligned greedily left to right (each reference word used once); a chunk is a maximal run of
    matches adjacent in both the hypothesis and the reference. 0 when nothing matches."""
    used = [False] * len(reference)
    align = []
    for i, w in enumerate(hypothesis):
        j = next((j for j, r in enumerate(reference) if r == w and not used[j]), None)
        if j is not None:
            used[j] = True
            align.append((i, j))
    m = len(align)
    if m == 0:
        return 0.0
    p, r = m / len(hypothesis), m / len(reference)
    chunks = 1 + sum(1 for (i0, j0), (i1, j1) in pairwise(align) if (i1, j1) != (i0 + 1, j0 + 1))
    return 10 * p * r / (r + 9 * p) * (1 - 0.5 * (chunks / m) ** 3)


def bigram_f1(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """F1 of clipped bigram matches (with sentence boundaries) between hypothesis and reference."""

    def grams(words: Sequence[str]) -> dict[tuple[str, str], int]:
        seq = ["<s>", *words, "</s>"]
        out: dict[tuple[str, str], int] = {}
        for g in pairwise(seq):
            out[g] = out.get(g, 0) + 1
        return out

    h, r = grams(hypothesis), grams(reference)
    m = sum(min(c, r.get(g, 0)) for g, c in h.items())
    if m == 0:
        return 0.0
    p, rec = m / sum(h.values()), m / sum(r.values())
    return 2 * p * rec / (p + rec)


def repetition(words: Sequence[str]) -> float:
    """Fraction of the words that repeat an earlier word of the same reply (0 for an empty reply)."""
    return (len(words) - len(set(words))) / len(words) if words else 0.0


class IntentClassifier(nn.Module):
    """p(act | reply) = softmax(W counts(reply) + b): bag-of-words counts, trained on clean gold replies."""

    def __init__(self, tok: WordTokenizer) -> None:
        super().__init__()
        self.tok = tok
        self.linear = nn.Linear(tok.vocab_size, len(ACTS))

    def features(self, replies: Sequence[Sequence[str]]) -> torch.Tensor:
        x = torch.zeros(len(replies), self.tok.vocab_size)
        for row, words in enumerate(replies):
            for w in words:
                x[row, self.tok.index[w]] += 1.0
        return x

    def forward(self, replies: Sequence[Sequence[str]]) -> torch.Tensor:
        return F.softmax(self.linear(self.features(replies)), dim=-1)

    def fit(self, dialogues: Sequence[Dialogue], l2: float, steps: int = 200) -> IntentClassifier:
        """Full-batch L-BFGS on cross-entropy + l2 ||W||^2 over the gold replies of ``dialogues``."""
        check_positive("l2", l2)
        x = self.features([d.reference.split() for d in dialogues])
        y = torch.tensor([d.act for d in dialogues])
        opt = torch.optim.LBFGS(self.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(self.linear(x), y) + l2 * self.linear.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self


# ------------------------------------------------------------------------------------------ the policy LM
@dataclass(frozen=True)
class ModelConfig:
    """A tiny ``GPT2LMHeadModel`` built from a config (no dropout)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 40

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_embd", "n_head", "n_positions"):
            check_positive_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be a multiple of n_head, got {self.n_embd} and {self.n_head}")


def build_gpt2(config: ModelConfig, tok: WordTokenizer) -> nn.Module:
    """A randomly initialised ``transformers.GPT2LMHeadModel`` of ``config`` over the word vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=tok.vocab_size,
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=tok.pad_id,
        bos_token_id=tok.bos_id,
        eos_token_id=tok.eos_id,
    )
    return GPT2LMHeadModel(cfg)


@dataclass(frozen=True)
class PretrainConfig:
    """Next-token pretraining of the base policy on generated dialogues (loss on the reply and ``<eos>``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 400
    batch_size: int = 64
    lr: float = 3e-3
    p_act: float = 0.5
    p_noun: float = 0.7
    p_long: float = 0.25
    seed: int = 1234

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive("lr", self.lr)
        check_range("p_act", self.p_act, 0.0, 1.0)
        check_range("p_noun", self.p_noun, 0.0, 1.0)
        check_range("p_long", self.p_long, 0.0, 1.0)

    def key(self) -> str:
        return config_key({"format": 1, "arch": "GPT2LMHeadModel", **dataclasses.asdict(self)})


def reply_batch(tok: WordTokenizer, prompts: Sequence[str], replies: Sequence[str]) -> dict[str, torch.Tensor]:
    """Left-padded prompts followed by right-padded replies; ``labels`` -100 except on reply tokens and ``<eos>``."""
    q = [tok.encode(p, bos=True) for p in prompts]
    a = [tok.encode(r, eos=True) for r in replies]
    ids, mask = left_pad(q, tok.pad_id)
    reply_ids, _ = left_pad([x[::-1] for x in a], tok.pad_id)
    reply_ids = reply_ids.flip(1)
    reply_mask = (reply_ids != tok.pad_id).long()
    labels = torch.cat([torch.full_like(ids, -100), reply_ids.masked_fill(reply_mask == 0, -100)], dim=1)
    return {
        "input_ids": torch.cat([ids, reply_ids], 1),
        "attention_mask": torch.cat([mask, reply_mask], 1),
        "labels": labels,
    }


def pretrain(config: PretrainConfig, tok: WordTokenizer) -> tuple[nn.Module, float]:
    """A fresh tiny GPT-2 trained with AdamW on ``steps`` batches of fresh dialogues; (model, final loss)."""
    torch.manual_seed(config.seed)
    model = build_gpt2(config.model, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    rng = random.Random(config.seed)
    losses = []
    for _ in range(config.steps):
        ds = make_dialogues(config.batch_size, rng.randrange(2**31))
        replies = [pretraining_reply(d, rng, config.p_act, config.p_noun, config.p_long) for d in ds]
        b = reply_batch(tok, [d.prompt for d in ds], replies)
        out = model(
            input_ids=b["input_ids"], attention_mask=b["attention_mask"], position_ids=position_ids(b["attention_mask"])
        )
        loss = F.cross_entropy(out.logits[:, :-1].flatten(0, 1), b["labels"][:, 1:].flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return model, sum(losses[-20:]) / 20


def pretrained_state(
    config: PretrainConfig, tok: WordTokenizer, cache_dir: str | Path | None = "~/.cache/paperzoo/constrained-rlhf"
) -> dict[str, torch.Tensor]:
    """The pretrained base weights from ``cache_dir/base-<hash>.pt`` when present, else trained and cached
    (:func:`paperzoo.shared.cache.cached`: atomic write, a corrupt file rebuilt)."""

    def build() -> dict[str, torch.Tensor]:
        model, _ = pretrain(config, tok)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    state, _ = cached(
        cache_dir,
        "base",
        config.key(),
        build,
        save=torch.save,
        load=lambda path: torch.load(path, map_location="cpu", weights_only=True),
    )
    return state
