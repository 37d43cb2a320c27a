"""Sequence embeddings phi(x) for BIB: the straight-through k-mer tokens and a frozen BERT masked LM.

- :class:`KmerSTE`: design logits ``X (B, L, 4)`` -> ``P = softmax(X)`` per position -> the 4^k-way k-mer
  probabilities ``P_l(a) P_{l+1}(b) P_{l+2}(c)`` (first base most significant) -> straight-through tokens: the
  forward value is the exact one-hot of the argmax k-mer (= the k-mer of the argmax bases), the gradient flows
  through the soft probabilities (the official ``m_func``). ``k = 1`` is the per-base straight-through one-hot.
- :class:`BertEncoder`: a ``transformers`` ``BertForMaskedLM`` read through ``inputs_embeds``: the soft
  one-hot k-mer tokens times the word embeddings, ``[CLS]`` and ``[SEP]`` around them, and
  ``phi = mean of the last-layer states of the k-mer tokens`` (``[CLS]``/``[SEP]`` excluded), as the official
  ``MyBert``. Frozen, in eval mode (no dropout), float32; the losses cast phi to float64.
- :func:`pretrained_bert`: the CPU-scale LM stand-in, a 2-layer d = 64 BERT pretrained by masked LM on the
  UNLABELLED set of all 4^L sequences (no score is ever read), cached on disk by config hash.
- :class:`OneHotEncoder`: the "no LM" ablation: phi = the flattened straight-through k-mer one-hot.
- :func:`hub_bert`: the paper scale's DNABERT (3-mer) from the hub or a local folder (tokenizer vocab lookup).

``transformers`` is imported inside the functions that build models (importing it costs seconds).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from paperzoo.bib.landscape import ALPHABET, all_sequences
from paperzoo.shared.cache import cached, config_key
from paperzoo.shared.torch import warmup_cosine_schedule
from paperzoo.shared.validate import check_positive, check_positive_int, check_range

log = logging.getLogger("paperzoo.bib")
DEFAULT_CACHE_DIR = "~/.cache/paperzoo/bib"
CACHE_FORMAT = 1  # bump when the saved artefact or the pretraining code changes meaning
CLS, SEP, MASK = 0, 1, 2  # the tiny BERT's vocabulary: [CLS] [SEP] [MASK], then the 4^k k-mers
N_SPECIAL = 3


class _StraightThrough(torch.autograd.Function):
    """Forward: the exact one-hot of the argmax; backward: the gradient of the soft input, unchanged."""

    @staticmethod
    def forward(ctx: Any, soft: Tensor) -> Tensor:
        return nn.functional.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


class KmerSTE(nn.Module):
    """Straight-through k-mer tokens of design logits: ``(B, L, 4) -> (B, L - k + 1, 4^k)`` (module docstring)."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.k = check_positive_int("k", k)

    def probabilities(self, X: Tensor) -> Tensor:
        """The soft k-mer probabilities ``prod_j softmax(X)_{l+j}(a_j)``; each position's row sums to 1."""
        if X.ndim != 3 or X.shape[-1] != 4 or X.shape[1] < self.k:
            raise ValueError(f"X must be (B, L >= {self.k}, 4), got {tuple(X.shape)}")
        P = X.softmax(-1)
        n = X.shape[1] - self.k + 1
        probs = P[:, :n]
        for j in range(1, self.k):  # outer product, the earlier base most significant
            probs = (probs.unsqueeze(-1) * P[:, j : j + n].unsqueeze(-2)).flatten(-2)
        return probs

    def forward(self, X: Tensor) -> Tensor:
        return _StraightThrough.apply(self.probabilities(X))


def kmer_ids(tokens: np.ndarray | Tensor, k: int = 3) -> Tensor:
    """The k-mer index (0..4^k-1, first base most significant) of each window of integer sequences ``(N, L)``."""
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    windows = tokens.unfold(1, k, 1)
    return (windows * 4 ** torch.arange(k - 1, -1, -1)).sum(-1)


@dataclass(frozen=True)
class EncoderConfig:
    """The tiny BERT (2 layers, d = 64, 4 heads, 3-mer vocabulary + [CLS]/[SEP]/[MASK]) and its MLM pretraining.

    Pretraining masks one contiguous span of ``mask_span`` k-mer tokens per sequence (overlapping k-mers
    reveal a single masked one, as DNABERT notes), AdamW with warm-up and cosine decay.
    """

    length: int = 8
    k: int = 3
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    d_ff: int = 256
    steps: int = 1500
    batch: int = 256
    lr: float = 1e-3
    warmup: int = 100
    mask_span: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("length", "k", "layers", "d_model", "heads", "d_ff", "steps", "batch", "mask_span"):
            check_positive_int(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_range("warmup", self.warmup, 0, self.steps)
        if self.d_model % self.heads:
            raise ValueError(f"d_model must be divisible by heads={self.heads}, got {self.d_model}")
        if self.k > self.length or self.mask_span > self.length - self.k + 1:
            raise ValueError("k and mask_span must fit in the sequence: k <= length, mask_span <= length - k + 1")

    def key(self) -> str:
        """The cache key: every field, the model class and :data:`CACHE_FORMAT`."""
        return config_key({**dataclasses.asdict(self), "model": "BertForMaskedLM", "format": CACHE_FORMAT})


def build_bert(config: EncoderConfig) -> nn.Module:
    """A randomly initialised ``BertForMaskedLM`` (seeded by ``config.seed``) with the k-mer vocabulary."""
    from transformers import BertConfig, BertForMaskedLM

    bert_config = BertConfig(
        vocab_size=N_SPECIAL + 4**config.k,
        hidden_size=config.d_model,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.d_ff,
        max_position_embeddings=config.length - config.k + 3,
        type_vocab_size=1,
        pad_token_id=None,  # every sequence has the same length: no padding token
    )
    torch.manual_seed(config.seed)
    return BertForMaskedLM(bert_config)


def mlm_batch(ids: Tensor, span: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``[CLS] k-mers [SEP]`` inputs with one random span of ``span`` k-mers set to [MASK], and the MLM labels."""
    n, t = ids.shape
    start = torch.randint(0, t - span + 1, (n, 1), generator=generator)
    masked = (torch.arange(t) >= start) & (torch.arange(t) < start + span)
    kmers = ids + N_SPECIAL
    inputs = torch.where(masked, torch.full_like(kmers, MASK), kmers)
    labels = torch.where(masked, kmers, torch.full_like(kmers, -100))
    cls, sep = torch.full((n, 1), CLS), torch.full((n, 1), SEP)
    ignore = torch.full((n, 1), -100)
    return torch.cat([cls, inputs, sep], 1), torch.cat([ignore, labels, ignore], 1)


def pretrain(config: EncoderConfig) -> tuple[nn.Module, list[float]]:
    """Masked-LM pretraining on the unlabelled set of all 4^L sequences (no label is read); returns model, losses."""
    model = build_bert(config).train()
    ids = kmer_ids(all_sequences(config.length), config.k)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = warmup_cosine_schedule(optimizer, config.steps, config.warmup)
    losses = []
    for _ in range(config.steps):
        rows = torch.randint(0, len(ids), (config.batch,), generator=generator)
        inputs, labels = mlm_batch(ids[rows], config.mask_span, generator)
        loss = model(input_ids=inputs, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return model.eval(), losses


def pretrained_bert(
    config: EncoderConfig, cache_dir: str | Path | None = DEFAULT_CACHE_DIR
) -> tuple[nn.Module, dict[str, Any]]:
    """The MLM-pretrained tiny BERT, from ``cache_dir/bert-<key>.pt`` when present, else trained and cached.

    ``info``: ``cache_hit``, ``pretrain_s``, ``first_loss`` and ``final_loss`` (means over the first and last tenth
    of the steps).
    """

    def build() -> dict[str, Any]:
        start = time.perf_counter()
        model, losses = pretrain(config)
        window = max(1, len(losses) // 10)
        info = {
            "pretrain_s": time.perf_counter() - start,
            "first_loss": float(np.mean(losses[:window])),
            "final_loss": float(np.mean(losses[-window:])),
        }
        return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "info": info}

    saved, cache = cached(
        cache_dir,
        "bert",
        config.key(),
        build,
        save=torch.save,
        load=lambda path: torch.load(path, map_location="cpu", weights_only=True),
    )
    model = build_bert(config)
    model.load_state_dict(saved["state"])
    return model.eval(), {**saved["info"], "cache_hit": cache["cache_hit"]}


class BertEncoder(nn.Module):
    """phi(X) = mean last-layer state of the k-mer tokens of a frozen BERT fed soft one-hot k-mers (module doc).

    ``kmer_token_ids[i]`` is the vocabulary id of k-mer ``i`` (first base most significant, ACGT order);
    ``cls_id``/``sep_id`` those of [CLS]/[SEP]. The model's parameters are frozen and it is put in eval mode.
    """

    def __init__(self, model: nn.Module, kmer_token_ids: Tensor, cls_id: int, sep_id: int, k: int = 3) -> None:
        super().__init__()
        if len(kmer_token_ids) != 4**k:
            raise ValueError(f"kmer_token_ids must list the 4^k = {4**k} k-mers, got {len(kmer_token_ids)}")
        self.model = model.eval().requires_grad_(False)
        self.ste = KmerSTE(k)
        self.register_buffer("kmer_token_ids", torch.as_tensor(kmer_token_ids, dtype=torch.long))
        self.cls_id, self.sep_id = cls_id, sep_id
        self.dim = model.config.hidden_size

    def embed_tokens(self, tokens: Tensor) -> Tensor:
        """phi of (soft or one-hot) k-mer tokens ``(B, T, 4^k)``: ``(B, d)``."""
        words = self.model.get_input_embeddings().weight
        ends = words[[self.cls_id, self.sep_id]].unsqueeze(0).expand(len(tokens), -1, -1)
        embeds = torch.cat([ends[:, :1], tokens.to(words.dtype) @ words[self.kmer_token_ids], ends[:, 1:]], 1)
        states = self.model.bert(inputs_embeds=embeds).last_hidden_state
        return states[:, 1:-1].mean(1)

    def forward(self, X: Tensor) -> Tensor:
        """phi of design logits ``X (B, L, 4)`` through :class:`KmerSTE`."""
        return self.embed_tokens(self.ste(X))

    @torch.no_grad()
    def embed_sequences(self, tokens: np.ndarray, batch: int = 4096) -> Tensor:
        """phi of integer sequences ``(N, L)`` (exact one-hot k-mers), in batches: ``(N, d)`` float64."""
        ids = kmer_ids(tokens, self.ste.k)
        out = [self.embed_tokens(nn.functional.one_hot(chunk, 4**self.ste.k).float()) for chunk in ids.split(batch)]
        return torch.cat(out).double()


class OneHotEncoder(nn.Module):
    """The "no LM" ablation: phi(X) = the flattened straight-through k-mer one-hot ``(B, (L - k + 1) 4^k)``."""

    def __init__(self, length: int, k: int = 3) -> None:
        super().__init__()
        self.ste = KmerSTE(k)
        self.dim = (length - k + 1) * 4**k

    def forward(self, X: Tensor) -> Tensor:
        return self.ste(X).flatten(1)

    @torch.no_grad()
    def embed_sequences(self, tokens: np.ndarray, batch: int = 4096) -> Tensor:
        ids = kmer_ids(tokens, self.ste.k)
        return nn.functional.one_hot(ids, 4**self.ste.k).flatten(1).double()


def tiny_encoder(config: EncoderConfig, pretrained: bool, cache_dir: str | Path | None) -> tuple[BertEncoder, dict]:
    """The tiny BERT encoder: MLM-pretrained (cached) or at its random initialisation (the same init seed)."""
    model, info = pretrained_bert(config, cache_dir) if pretrained else (build_bert(config), {})
    ids = torch.arange(4**config.k) + N_SPECIAL
    return BertEncoder(model, ids, CLS, SEP, config.k), info


def hub_bert(name_or_path: str, k: int = 3) -> BertEncoder:
    """DNABERT (k-mer) from the Hugging Face hub or a local folder: the masked LM and its tokenizer's k-mer ids."""
    from transformers import BertForMaskedLM, BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(name_or_path, do_lower_case=False)
    kmers = ["".join(p) for p in itertools.product(ALPHABET, repeat=k)]
    vocab = tokenizer.get_vocab()
    missing = [m for m in kmers if m not in vocab]
    if missing:
        raise ValueError(f"the tokenizer of {name_or_path} lacks the k-mers {missing[:4]}...")
    ids = torch.tensor([vocab[m] for m in kmers])
    model = BertForMaskedLM.from_pretrained(name_or_path)
    return BertEncoder(model, ids, tokenizer.cls_token_id, tokenizer.sep_token_id, k)
