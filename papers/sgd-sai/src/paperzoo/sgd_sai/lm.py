"""The character language model's data and training loop (the full scale's second task).

:func:`lm_data` samples the train stream and the held-out windows of one :class:`~paperzoo.sgd_sai.language.
SyntheticLanguage`; :func:`train_lm` trains a :class:`~paperzoo.sgd_sai.models.CharTransformer` on random
windows; :func:`evaluate_lm` is next-character accuracy and cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.sgd_sai.language import ALPHABET, SyntheticLanguage, encode
from paperzoo.sgd_sai.models import CharTransformer
from paperzoo.sgd_sai.training import MakeScheduler

if TYPE_CHECKING:
    from paperzoo.sgd_sai.bench import TransformerConfig

# The sampling seeds of the language's text: fixed data, the same for every run seed (not derived from it).
TRAIN_TEXT_SEED, VAL_TEXT_SEED, TEST_TEXT_SEED = 1, 2, 3


@dataclass
class LMData:
    """The synthetic language's train stream and fixed validation/test windows (token tensors)."""

    train: torch.Tensor  # (n,)
    val: torch.Tensor  # (windows, context + 1)
    test: torch.Tensor
    majority_accuracy: float  # the most frequent character's share of the test targets


def lm_data(config: TransformerConfig) -> LMData:
    """Train text and non-overlapping held-out windows, each from its own sampling seed of one language."""
    language = SyntheticLanguage(config.language_seed)
    width = config.lm_context + 1

    def windows(seed: int) -> torch.Tensor:
        tokens = torch.from_numpy(encode(language.text(config.lm_eval_chars, seed)))
        return tokens[: len(tokens) // width * width].view(-1, width)

    train = torch.from_numpy(encode(language.text(config.lm_train_chars, seed=TRAIN_TEXT_SEED)))
    test = windows(TEST_TEXT_SEED)
    counts = torch.bincount(test[:, 1:].flatten(), minlength=len(ALPHABET))
    return LMData(
        train.to(config.device),
        windows(VAL_TEXT_SEED).to(config.device),
        test.to(config.device),
        majority_accuracy=(counts.max() / counts.sum()).item(),
    )


@torch.no_grad()
def evaluate_lm(model: nn.Module, windows: torch.Tensor) -> tuple[float, float]:
    """Next-character accuracy (a fraction) and mean cross-entropy (nats) over every position of the windows."""
    model.eval()
    logits = model(windows[:, :-1])
    targets = windows[:, 1:]
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item()
    accuracy = (logits.argmax(-1) == targets).float().mean().item()
    return accuracy, loss


@dataclass
class LMHistory:
    """Curves of one language-model run: train loss per step, validation accuracy/loss every ``eval_every``."""

    train_loss: list[float]
    val_accuracy: list[float]
    val_loss: list[float]


def train_lm(
    model: CharTransformer,
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    data: LMData,
    steps: int,
    batch_size: int,
    eval_every: int,
    seed: int,
    make_scheduler: MakeScheduler,
    grad_clip: float = 0.0,
) -> LMHistory:
    """Minibatch next-character training on random windows of the train stream (order fixed by ``seed``).

    ``grad_clip > 0`` clips the global gradient norm to it before every step (``clip_grad_norm_``).
    """
    optimizer = make_optimizer(list(model.parameters()))
    schedule = make_scheduler(optimizer, steps)
    gen = torch.Generator().manual_seed(seed)
    width = model.context + 1
    starts = torch.randint(len(data.train) - width, (steps, batch_size), generator=gen).to(data.train.device)
    offsets = torch.arange(width, device=data.train.device)
    history = LMHistory([], [], [])
    for step, batch_starts in enumerate(starts, start=1):
        model.train()
        batch = data.train[batch_starts[:, None] + offsets]
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        schedule.step()
        history.train_loss.append(loss.item())
        if step % eval_every == 0 or step == steps:
            accuracy, val_loss = evaluate_lm(model, data.val)
            history.val_accuracy.append(accuracy)
            history.val_loss.append(val_loss)
    return history
