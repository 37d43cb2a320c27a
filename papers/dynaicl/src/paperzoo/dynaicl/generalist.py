"""The generalist G: a tiny Llama meta-trained here for in-context learning, used only as a black box.

The paper's generalist is a large LM behind an API: the controller pipeline sees its answers, never its logits or
gradients. :class:`GeneralistLM` keeps that contract: its one public method is :meth:`GeneralistLM.predict`
(prompts -> label strings); the model sits in a private attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from paperzoo.dynaicl.tasks import KNOWN, LABELS, meta_training_stream, tokenizer
from paperzoo.shared.testbeds.arithmetic_lm import (
    CharTokenizer,
    ModelConfig,
    PretrainConfig,
    build_llama,
    pretrained_base,
)
from paperzoo.shared.validate import check_positive_int


@dataclass(frozen=True)
class GeneralistConfig:
    """G's size and meta-training (AdamW, warm-up + cosine; batches of :func:`meta_training_stream`)."""

    model: ModelConfig = field(
        default_factory=lambda: ModelConfig(n_layer=3, d_model=96, d_ff=192, n_head=4, max_positions=80)
    )
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    k_max: int = 16
    seed: int = 4321

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "k_max", "seed"):
            check_positive_int(name, getattr(self, name))


class GeneralistLM:
    """A frozen causal LM answering in-context prompts with one label token: ``argmax_{y in labels} h W_y^T``,
    ``h`` the trunk's last hidden state at the prompt's last token and ``W_y`` the output-embedding row of
    label ``y`` (only those rows are projected; the full vocabulary's logits are never formed).

    ``encode`` maps a prompt to token ids (``<bos>`` included), ``labels`` a label string to its token id. Two
    batchings of the same forward pass (the answers agree up to float rounding of the batched matmuls):

    - ``share_prefixes=True`` (default): the prompts are sorted and packed, ``row_tokens`` tokens at most per
      row, into prefix trees: a token shared by several prompts of a row (the same prefix) is computed once.
      Each row is one sequence of its tree's nodes in depth-first order with a tree attention mask (node ``i``
      attends to node ``j`` iff ``j`` is ``i`` or one of its ancestors) and positions = depth, so every
      prompt's last node sees exactly the causal context of that prompt alone. The k* labelling prompts of one
      input share their demonstrations (the sets of one draw are nested in k), so K + 1 prompts cost about one.
    - ``share_prefixes=False``: prompts grouped by token length (never padded), a plain causal forward;
      ``batch=1`` is the one-prompt-per-forward reference of the speed figure.

    ``batch`` rows go through one forward (a row is one prompt when ``share_prefixes=False``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        encode: Callable[[str], list[int]],
        labels: Mapping[str, int],
        batch: int = 32,
        share_prefixes: bool = True,
        row_tokens: int = 128,
    ) -> None:
        check_positive_int("batch", batch)
        check_positive_int("row_tokens", row_tokens)
        if not labels:
            raise ValueError("labels must map at least one label to its token id")
        self._model = model.eval()
        self._encode = encode
        self._labels = list(labels)
        self._label_ids = torch.tensor(list(labels.values()))
        self._batch = batch
        self._share = share_prefixes
        self._row_tokens = row_tokens

    @torch.inference_mode()
    def predict(self, prompts: Sequence[str]) -> list[str]:
        """The label G gives each prompt: ``argmax_{y in labels} p_G(y | prompt)``."""
        encoded = [self._encode(p) for p in prompts]
        if not prompts:
            return []
        hidden = self._hidden_by_prefix_tree(encoded) if self._share else self._hidden_by_length(encoded)
        head = self._model.get_output_embeddings()
        rows = self._label_ids.to(head.weight.device)
        scores = hidden.float() @ head.weight[rows].float().T  # h W_y^T in float32, label rows only
        if getattr(head, "bias", None) is not None:
            scores = scores + head.bias[rows].float()
        return [self._labels[i] for i in scores.argmax(-1).tolist()]

    def _trunk(self, ids: list[list[int]], **kwargs: torch.Tensor) -> torch.Tensor:
        """The trunk's last hidden states ``(B, T, d)`` (the final norm included; no output projection)."""
        device = next(self._model.parameters()).device
        kwargs = {k: v.to(device) for k, v in kwargs.items()}
        ids_t = torch.tensor(ids, device=device)
        return self._model.base_model(input_ids=ids_t, use_cache=False, **kwargs).last_hidden_state

    def _hidden_by_length(self, encoded: list[list[int]]) -> torch.Tensor:
        """Last-token hidden states, the prompts of one length ``batch`` at a time through a causal forward."""
        groups: dict[int, list[int]] = {}
        for i, ids in enumerate(encoded):
            groups.setdefault(len(ids), []).append(i)
        out: list[torch.Tensor | None] = [None] * len(encoded)
        for idx in groups.values():
            for start in range(0, len(idx), self._batch):
                chunk = idx[start : start + self._batch]
                last = self._trunk([encoded[i] for i in chunk])[:, -1]
                for i, h in zip(chunk, last, strict=True):
                    out[i] = h
        return torch.stack(out)  # type: ignore[arg-type]

    def _hidden_by_prefix_tree(self, encoded: list[list[int]]) -> torch.Tensor:
        """Last-token hidden states with shared prefixes computed once (class docstring)."""
        rows = pack_prefix_trees(encoded, self._row_tokens)
        rows.sort(key=lambda r: len(r.tokens))
        states, order = [], []
        for start in range(0, len(rows), self._batch):
            chunk = rows[start : start + self._batch]
            width = max(len(r.tokens) for r in chunk)
            ids = [r.tokens + [0] * (width - len(r.tokens)) for r in chunk]  # pads attend to themselves only
            pos = torch.tensor([r.depths + list(range(len(r.depths), width)) for r in chunk])
            ends = torch.tensor([r.subtree_ends() + list(range(len(r.tokens) + 1, width + 1)) for r in chunk])
            i = torch.arange(width)
            # node q attends to node j iff j <= q < end(j): j is q or an ancestor of q (depth-first order)
            attend = (i[None, :] <= i[:, None])[None] & (i[None, :, None] < ends[:, None, :])
            dtype = next(self._model.parameters()).dtype  # an additive mask: 0 where attended, the dtype's min else
            mask = torch.zeros(attend.shape, dtype=dtype).masked_fill_(~attend, torch.finfo(dtype).min)
            h = self._trunk(ids, attention_mask=mask[:, None], position_ids=pos)
            picks = [(p, b, node) for b, row in enumerate(chunk) for p, node in row.ends]
            p_idx, b_idx, node_idx = (list(v) for v in zip(*picks, strict=True))
            states.append(h[b_idx, node_idx])
            order += p_idx
        return torch.cat(states)[torch.argsort(torch.tensor(order))]


@dataclass
class PrefixTreeRow:
    """One packed row: the nodes of a prefix tree of prompts in depth-first order (``tokens``, ``depths``) and,
    per prompt, the node of its last token (``ends``: (prompt index, node index))."""

    tokens: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)

    def subtree_ends(self) -> list[int]:
        """Per node ``j``, one past the last node of its subtree: the first later node at depth <= depth(j)."""
        end = [len(self.tokens)] * len(self.tokens)
        stack: list[int] = []
        for k, d in enumerate(self.depths):
            while stack and self.depths[stack[-1]] >= d:
                end[stack.pop()] = k
            stack.append(k)
        return end


def pack_prefix_trees(encoded: Sequence[Sequence[int]], row_tokens: int) -> list[PrefixTreeRow]:
    """Prompts (token lists) packed into prefix-tree rows of at most ``row_tokens`` nodes (a longer prompt gets a
    row of its own). In sorted order, a prompt shares with the row's tree exactly its longest common prefix with
    the previous prompt, so it adds ``len - lcp`` nodes (a trie built in depth-first order)."""
    check_positive_int("row_tokens", row_tokens)
    rows: list[PrefixTreeRow] = []
    prev: Sequence[int] = ()
    path: list[int] = []  # node index per depth of the previous prompt in the current row
    for p in sorted(range(len(encoded)), key=lambda i: list(encoded[i])):
        ids = encoded[p]
        if not ids:
            raise ValueError("every encoded prompt must hold at least one token")
        lcp, limit = 0, min(len(ids), len(prev)) if rows else 0
        while lcp < limit and ids[lcp] == prev[lcp]:
            lcp += 1
        if not rows or len(rows[-1].tokens) + len(ids) - lcp > row_tokens:
            rows.append(PrefixTreeRow())
            lcp = 0
        row = rows[-1]
        del path[lcp:]
        for depth in range(lcp, len(ids)):
            path.append(len(row.tokens))
            row.tokens.append(ids[depth])
            row.depths.append(depth)
        row.ends.append((p, path[len(ids) - 1]))
        prev = ids
    return rows


def meta_trained_generalist(
    config: GeneralistConfig, cache_dir: str | Path | None, batch: int = 32, share_prefixes: bool = True
) -> tuple[GeneralistLM, dict[str, float]]:
    """G meta-trained on random non-held-out tasks of both families (cached on disk by config), and its info
    (``final_loss``, ``pretrain_s``, ``cache_hit``)."""
    tok = tokenizer()
    pretrain = PretrainConfig(
        model=config.model, steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=config.seed
    )
    stream = meta_training_stream(tok, config.k_max)
    state, info = pretrained_base(
        pretrain, tok, cache_dir, stream=stream, stream_name=f"dynaicl-icl-known{KNOWN}-k{config.k_max}"
    )
    model = build_llama(config.model, tok)
    model.load_state_dict(state)
    return char_generalist(model, tok, batch, share_prefixes), {k: float(v) for k, v in info.items() if k != "path"}


def char_generalist(
    model: torch.nn.Module, tok: CharTokenizer, batch: int = 32, share_prefixes: bool = True
) -> GeneralistLM:
    """:class:`GeneralistLM` over the CPU scale's character tokenizer (``<bos>`` + one token per character)."""
    return GeneralistLM(
        model, lambda p: tok.encode(p, bos=True), {c: tok.index[c] for c in LABELS}, batch, share_prefixes
    )
