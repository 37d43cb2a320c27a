"""DynaICL's meta controller: k* labels from a black-box generalist, supervised stage 1, REINFORCE stage 2.

Zhou et al., "Efficient Prompting via Dynamic In-Context Learning" (arXiv 2305.11170). No official code exists;
the items marked (R) are recalled from the paper and unverified.

1. Labels. For a training input ``x`` and each ``k`` in 0..K, ``m`` demonstration sets of size ``k`` are drawn
   (fixed per (input, k, draw) by a seed: :class:`DemoSampler`) and sent to G; ``acc(x, k)`` is the fraction
   answered correctly and

       k*(x) = min{k : acc(x, k) >= delta}, or K when no k reaches delta.               (label_k_star)

2. Stage 1: the controller ``C(k | x, instruction)`` is trained by cross-entropy over the K + 1 classes,
   ``L_1 = -log C(k*(x) | x)``.                                                         (train_stage1)
3. Stage 2 (R): ``k ~ C(. | x)``, reward ``R = 1[G correct with k demos] - gamma k / K``, REINFORCE with a
   moving-average baseline ``b <- beta b + (1 - beta) mean(R)``: ``L_2 = -(R - b) log C(k | x)``.  (train_stage2)

The controller sees the input and the task instruction only; G's answers reach stage 2 only through the scalar
reward, and G itself only through ``predict`` (the black-box contract).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range

# correct(k, draw) -> bool array over the N labelled inputs: G's correctness with draw ``draw`` of k demos each.
Oracle = Callable[[int, int], np.ndarray]


class DemoSampler:
    """Demonstrations fixed per (input, k, draw) by a seed: the first ``k`` of a permutation of the pool that
    ``derive(seed, key, draw)`` fixes, so the demos of one draw are nested in k (``key`` names the input)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def demos(self, pool: Sequence[str], key: str, k: int, draw: int) -> list[str]:
        """``k`` demonstration inputs from ``pool`` for input ``key``; ``ValueError`` when ``k`` exceeds the pool."""
        if not 0 <= k <= len(pool):
            raise ValueError(f"k must be in [0, {len(pool)}] (the pool size), got {k}")
        order = random.Random(derive(self.seed, key, draw)).sample(range(len(pool)), len(pool))
        return [pool[i] for i in order[:k]]


def label_k_star(correct: Oracle, n: int, K: int, m: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """``k*`` per input and the estimated ``acc(x, k)`` (shape ``(n, K + 1)``) from ``m`` draws per k.

    ``k*(x) = min{k : acc(x, k) >= delta}``, else ``K``. ``ValueError`` for ``K < 1``, ``m < 1`` or ``delta``
    outside (0, 1].
    """
    check_positive_int("n", n)
    check_positive_int("K", K)
    check_positive_int("m", m)
    check_range("delta", delta, 0.0, 1.0, low_inclusive=False)
    acc = np.zeros((n, K + 1))
    for k in range(K + 1):
        for draw in range(m):
            acc[:, k] += np.asarray(correct(k, draw), dtype=np.float64) / m
    reached = acc >= delta - 1e-12
    k_star = np.where(reached.any(axis=1), reached.argmax(axis=1), K)
    return k_star, acc


@dataclass(frozen=True)
class ControllerConfig:
    """The controller's network: a small transformer encoder (default) or a T5 encoder-decoder (the paper's
    FLAN-T5 (R), here from a small random config) over the instruction and input tokens."""

    backbone: str = "transformer"
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    max_len: int = 16

    def __post_init__(self) -> None:
        check_one_of("backbone", self.backbone, ("transformer", "t5"))
        for name in ("d_model", "n_layer", "n_head", "max_len"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model must be a multiple of n_head, got {self.d_model} and {self.n_head}")


class MetaController(nn.Module):
    """``C(k | x)``: logits over k in 0..K from the token ids of (instruction, input).

    ``transformer``: embeddings + learned positions, a pre-norm ``nn.TransformerEncoder``, mean pooling over the
    non-pad tokens, a linear head. ``t5``: a ``T5ForConditionalGeneration`` whose vocabulary is the input
    vocabulary plus K + 1 class tokens; the class logits are its first decoding step's logits on those tokens.
    """

    def __init__(
        self,
        vocab_size: int,
        K: int,
        config: ControllerConfig = ControllerConfig(),
        pad_id: int = 0,
        t5: nn.Module | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("K", K)
        self.K, self.vocab_size, self.pad_id, self.config = K, vocab_size, pad_id, config
        if t5 is not None:  # a given (pretrained) T5: K + 1 class tokens appended to its vocabulary
            if config.backbone != "t5":
                raise ValueError(f"backbone must be 't5' when a T5 model is given, got {config.backbone!r}")
            self.t5 = t5
            self.t5.resize_token_embeddings(vocab_size + K + 1)
        elif config.backbone == "t5":
            from transformers import T5Config, T5ForConditionalGeneration

            self.t5 = T5ForConditionalGeneration(
                T5Config(
                    vocab_size=vocab_size + K + 1,
                    d_model=config.d_model,
                    d_kv=config.d_model // config.n_head,
                    d_ff=2 * config.d_model,
                    num_layers=config.n_layer,
                    num_heads=config.n_head,
                    dropout_rate=0.0,
                    pad_token_id=pad_id,
                    decoder_start_token_id=pad_id,
                )
            )
        else:
            self.embed = nn.Embedding(vocab_size, config.d_model, padding_idx=pad_id)
            self.pos = nn.Embedding(config.max_len, config.d_model)
            layer = nn.TransformerEncoderLayer(
                config.d_model, config.n_head, 2 * config.d_model, dropout=0.0, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, config.n_layer, enable_nested_tensor=False)
            self.head = nn.Linear(config.d_model, K + 1)

    @classmethod
    def from_pretrained(cls, name_or_path: str, K: int, **kwargs: object) -> MetaController:
        """A pretrained ``T5ForConditionalGeneration`` (hub id or local folder; the paper's FLAN-T5 (R)) as the
        backbone, with K + 1 new class tokens after its vocabulary; ``kwargs`` go to ``from_pretrained``."""
        from transformers import T5ForConditionalGeneration

        t5 = T5ForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
        c = t5.config
        config = ControllerConfig("t5", c.d_model, c.num_layers, c.num_heads)
        return cls(c.vocab_size, K, config, pad_id=c.pad_token_id, t5=t5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K + 1)`` of ``C(k | x)`` from right-padded ids ``(B, T)`` (``pad_id`` is padding)."""
        ids = ids.to(next(self.parameters()).device)
        mask = ids != self.pad_id
        if self.config.backbone == "t5":
            start = torch.full((ids.shape[0], 1), self.t5.config.decoder_start_token_id, device=ids.device)
            logits = self.t5(input_ids=ids, attention_mask=mask.long(), decoder_input_ids=start).logits[:, 0]
            return logits[:, self.vocab_size : self.vocab_size + self.K + 1]
        h = self.embed(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        h = self.encoder(h, src_key_padding_mask=~mask)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.head(pooled)

    @torch.no_grad()
    def expected_k(self, ids: torch.Tensor) -> np.ndarray:
        """``E_{k ~ C(.|x)}[k]`` per input: the prediction the allocation scales."""
        probs = self(ids).float().softmax(-1)
        k = torch.arange(self.K + 1, dtype=probs.dtype, device=probs.device)
        return (probs @ k).cpu().numpy().astype(np.float64)


def train_stage1(
    controller: MetaController, ids: torch.Tensor, k_star: np.ndarray, epochs: int, batch: int, lr: float, seed: int
) -> list[float]:
    """Stage 1: AdamW on ``-log C(k*(x) | x)`` (mean over a minibatch), ``epochs`` passes in a seeded order.
    Returns the per-step losses."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch", batch)
    check_positive("lr", lr)
    targets = torch.as_tensor(k_star, dtype=torch.long)
    if targets.min() < 0 or targets.max() > controller.K:
        raise ValueError(f"k_star must lie in [0, K={controller.K}]")
    opt = torch.optim.AdamW(controller.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    controller.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(ids), generator=gen).split(batch):
            logits = controller(ids[idx])
            loss = F.cross_entropy(logits.float(), targets[idx].to(logits.device))  # L_1 = -log C(k* | x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    controller.eval()
    return losses


def train_stage2(
    controller: MetaController,
    ids: torch.Tensor,
    correct: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    gamma: float,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    beta: float = 0.9,
) -> dict[str, list[float]]:
    """Stage 2: REINFORCE on ``R = 1[correct] - gamma k / K`` with a moving-average baseline.

    ``correct(rows, ks, step)`` queries G (through ``predict`` only) for inputs ``rows`` with ``ks`` demos (draw
    ``step``) and returns a bool per row. Returns per-step ``reward``, ``mean_k`` and ``loss``. ``ValueError``
    for ``gamma < 0`` or ``beta`` outside [0, 1).
    """
    check_non_negative("gamma", gamma)
    check_range("beta", beta, 0.0, 1.0, high_inclusive=False)
    check_positive_int("steps", steps)
    check_positive_int("batch", batch)
    check_positive("lr", lr)
    opt = torch.optim.AdamW(controller.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    baseline: float | None = None
    out: dict[str, list[float]] = {"reward": [], "mean_k": [], "loss": []}
    controller.train()
    for step in range(steps):
        rows = torch.randint(len(ids), (batch,), generator=gen)
        logp = controller(ids[rows]).float().log_softmax(-1)
        k = torch.multinomial(logp.exp().detach().cpu(), 1, generator=gen).squeeze(1)  # k ~ C(.|x)
        hit = np.asarray(correct(rows.numpy(), k.numpy(), step), dtype=np.float64)
        reward = torch.as_tensor(hit) - gamma * k.double() / controller.K  # R = 1[correct] - gamma k / K
        baseline = float(reward.mean()) if baseline is None else baseline
        advantage = (reward - baseline).float().to(logp.device)
        loss = -(advantage * logp.gather(1, k[:, None].to(logp.device)).squeeze(1)).mean()  # L_2 = -(R - b) log C(k|x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        baseline = beta * baseline + (1 - beta) * float(reward.mean())  # b <- beta b + (1 - beta) mean R
        out["reward"].append(float(reward.mean()))
        out["mean_k"].append(float(k.double().mean()))
        out["loss"].append(loss.item())
    controller.eval()
    return out
