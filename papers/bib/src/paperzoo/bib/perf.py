"""BIB's speed figures (``--perf``), measured in one process on the full scale's encoder shape (the tiny BERT,
weights at initialisation: the cost does not depend on them) and offline set:

- one BIB step (one forward pass, three gradients: L_f, L_b, f_aux) against one BDI step (one forward pass, one
  gradient), 128 candidates (the issue's bound: <= 2.5x);
- the 128 candidates batched in one tensor against a loop over them, one candidate at a time (bound: >= 20x).
"""

from __future__ import annotations

import time

import torch

from paperzoo.bib.design import design, init_designs
from paperzoo.bib.encoder import tiny_encoder
from paperzoo.bib.experiment import ExperimentConfig, load_landscape
from paperzoo.bib.landscape import OfflineTask
from paperzoo.bib.losses import AuxProxyEnsemble, BidirectionalLoss
from paperzoo.shared.torch import configure


def perf(device: str, steps: int = 20, loop_steps: int = 3) -> dict[str, float]:
    """Seconds per design step of BDI and BIB (``steps`` steps each, after a warm-up) and of BDI batched vs
    looped over the candidates (``loop_steps`` steps)."""
    configure(threads=1, deterministic=False)
    config = ExperimentConfig(device=device)
    task = OfflineTask(load_landscape(config), config.n_offline, config.n_starts)
    encoder, _ = tiny_encoder(config.encoder, pretrained=False, cache_dir=None)
    encoder = encoder.to(device)
    phi_l = encoder.embed_sequences(task.tokens)
    y = torch.as_tensor(task.y_std, device=device)
    loss, aux = BidirectionalLoss(phi_l, y), AuxProxyEnsemble(phi_l, y, task.mean, task.std)
    X0 = init_designs(task.starts, 0).to(device)

    def seconds_per_step(X: torch.Tensor, n: int, **kwargs: object) -> float:
        start = time.perf_counter()
        design(encoder, loss, X, steps=n, aux=aux, **kwargs)
        return (time.perf_counter() - start) / n

    seconds_per_step(X0, 2, adaptive_gamma=True)  # warm-up
    bdi, bib = seconds_per_step(X0, steps), seconds_per_step(X0, steps, adaptive_gamma=True)
    batched = seconds_per_step(X0, loop_steps)
    looped = sum(seconds_per_step(X0[i : i + 1], loop_steps) for i in range(len(X0)))
    return {
        "step/bdi_s": bdi,
        "step/bib_s": bib,
        "step/bib_over_bdi": bib / bdi,
        "candidates/batched_step_s": batched,
        "candidates/loop_step_s": looped,
        "candidates/batched_speedup": looped / batched,
    }
