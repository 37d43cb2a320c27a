"""The gradient-ascent baseline: an MLP proxy on the one-hot sequence, fitted to the offline data, and Adam
ascent on the design logits through the per-base straight-through one-hot (``KmerSTE(k=1)``), from the same
starting logits, learning rate and number of steps as the BIB arms."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from paperzoo.bib.design import BatchedAdam
from paperzoo.bib.encoder import KmerSTE
from paperzoo.shared.validate import check_positive, check_positive_int


def fit_mlp_proxy(
    tokens: np.ndarray, y: np.ndarray, seed: int, hidden: int = 64, epochs: int = 50, batch: int = 128, lr: float = 1e-3
) -> nn.Module:
    """A 2-hidden-layer ReLU MLP on the flattened one-hot ``(N, 4L)``, MSE on standardised labels ``y``, Adam."""
    for name, value in (("hidden", hidden), ("epochs", epochs), ("batch", batch)):
        check_positive_int(name, value)
    check_positive("lr", lr)
    torch.manual_seed(seed)
    x = nn.functional.one_hot(torch.as_tensor(tokens, dtype=torch.long), 4).flatten(1).float()
    target = torch.as_tensor(y, dtype=torch.float32)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    model.append(nn.Linear(hidden, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(x), generator=generator).split(batch):
            loss = ((model(x[rows]).squeeze(-1) - target[rows]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval().requires_grad_(False)


def gradient_ascent(proxy: nn.Module, X0: Tensor, steps: int = 100, lr: float = 0.1) -> np.ndarray:
    """Adam ascent on ``proxy(STE one-hot(X))``, all candidates at once; decoded sequences per step ``(T, B, L)``."""
    check_positive_int("steps", steps)
    check_positive("lr", lr)
    ste = KmerSTE(k=1)
    X = X0.detach().clone().requires_grad_(True)
    adam = BatchedAdam(X.data)
    rates = torch.full((len(X),), lr, device=X.device)
    seqs = []
    for _ in range(steps):
        score = proxy(ste(X).flatten(1)).sum()
        (grad,) = torch.autograd.grad(-score, X)
        adam.step(grad, rates)
        seqs.append(X.detach().argmax(-1).cpu().numpy())
    return np.stack(seqs)
