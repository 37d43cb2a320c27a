"""The generalist G: a tiny Llama meta-trained here for in-context learning, used only as a black box.

The paper's generalist is a large LM behind an API: the controller pipeline sees its answers, never its logits or
gradients. :class:`GeneralistLM` keeps that contract: its one public method is :meth:`GeneralistLM.predict`
(prompts -> label strings); the model sits in a private attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """A frozen causal LM answering in-context prompts with one label token (greedy over :data:`LABELS`).

    ``batch`` prompts go through one forward; prompts are grouped by length first, so no row is ever padded
    (``batch=1`` is the one-prompt-per-forward reference of the speed figure).
    """

    def __init__(self, model: torch.nn.Module, tok: CharTokenizer, batch: int = 512) -> None:
        check_positive_int("batch", batch)
        self._model = model.eval()
        self._tok = tok
        self._label_ids = torch.tensor([tok.index[c] for c in LABELS])
        self._batch = batch

    @torch.inference_mode()
    def predict(self, prompts: Sequence[str]) -> list[str]:
        """The label G gives each prompt: ``argmax_{y in LABELS} p_G(y | prompt)``."""
        groups: dict[int, list[int]] = {}
        encoded = [self._tok.encode(p, bos=True) for p in prompts]
        for i, ids in enumerate(encoded):
            groups.setdefault(len(ids), []).append(i)
        out = [""] * len(prompts)
        for idx in groups.values():
            for start in range(0, len(idx), self._batch):
                chunk = idx[start : start + self._batch]
                ids = torch.tensor([encoded[i] for i in chunk])
                logits = self._model(input_ids=ids, use_cache=False, logits_to_keep=1).logits[:, -1]
                picks = logits[:, self._label_ids].argmax(-1).tolist()
                for i, p in zip(chunk, picks, strict=True):
                    out[i] = LABELS[p]
        return out


def meta_trained_generalist(
    config: GeneralistConfig, cache_dir: str | Path | None, batch: int = 512
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
    return GeneralistLM(model, tok, batch), {k: float(v) for k, v in info.items() if k != "path"}
