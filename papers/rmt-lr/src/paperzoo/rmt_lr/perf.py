"""rmt-lr's speed figures (``make perf-rmt-lr``), as ratios measured in one process (1 thread).

On the full scale's 26k-parameter MLP with a batch of 512: one Hessian-vector product (double backward, and
``torch.func``'s forward-over-reverse) over one forward-backward; SLQ with its 3 start vectors batched over
sequential; and one learner call on the GroupNorm ResNet over one training epoch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from paperzoo.rmt_lr.hessian import gradient_and_operator, hvp, n_params, trainable
from paperzoo.rmt_lr.lanczos import slq
from paperzoo.rmt_lr.models import MLP
from paperzoo.shared.torch import configure


def _median_s(fn: Callable[[], object], repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_over_reverse(
    model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], v: torch.Tensor
) -> torch.Tensor:
    """Hv as ``torch.func.jvp`` of ``torch.func.grad`` (forward-over-reverse), flat."""
    from torch.func import functional_call, grad, jvp

    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = tuple(p.detach() for p in trainable(model))
    tangents = tuple(t.view_as(p) for t, p in zip(v.split([p.numel() for p in params]), params, strict=True))

    def loss(*ps: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, dict(zip(names, ps, strict=True)), (batch[0],)), batch[1])

    _, out = jvp(grad(loss, argnums=tuple(range(len(params)))), params, tangents)
    return torch.cat([o.reshape(-1) for o in out])


def perf(device: str) -> dict[str, float]:
    configure(threads=1)
    torch.manual_seed(0)
    model = MLP().to(device)
    gen = torch.Generator().manual_seed(0)
    batch = (torch.rand(512, 1, 8, 8, generator=gen).to(device), torch.randint(0, 10, (512,), generator=gen).to(device))
    v = torch.randn(n_params(model), generator=gen).to(device)

    def forward_backward() -> None:
        model.zero_grad()
        F.cross_entropy(model(batch[0]), batch[1]).backward()

    base = _median_s(forward_backward)
    _, matvec = gradient_and_operator(model, F.cross_entropy, batch)
    sequential = _median_s(lambda: slq(matvec, v.numel(), 30, 3, torch.Generator().manual_seed(1), batched=False), 5)
    batched = _median_s(lambda: slq(matvec, v.numel(), 30, 3, torch.Generator().manual_seed(1), batched=True), 5)
    return {
        "forward_backward_ms": 1e3 * base,
        "hvp_over_forward_backward": _median_s(lambda: hvp(model, F.cross_entropy, batch, v)) / base,
        "hvp_retained_graph_over_forward_backward": _median_s(lambda: matvec(v)) / base,
        "forward_over_reverse_over_forward_backward": _median_s(lambda: forward_over_reverse(model, batch, v)) / base,
        "slq_3_vectors_batched_over_sequential": batched / sequential,
    }
