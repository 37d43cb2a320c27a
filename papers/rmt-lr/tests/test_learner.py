"""The learner on a quadratic (closed-form α, ρ and the heavy-ball rate), as a scheduler; max_stable_lr."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paperzoo.rmt_lr import LanczosLRMomentumScheduler, heavy_ball_params, lr_grid_sqrt2, max_stable_lr
from paperzoo.rmt_lr.models import MLP, GroupNormResNet
from paperzoo.shared.testbeds.classify import train_classifier


class Quadratic(nn.Module):
    """f(θ) = ½ Σ a_i θ_i² as a "model" whose output is the loss (the inputs are ignored)."""

    def __init__(self, curvatures: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("a", curvatures)
        self.theta = nn.Parameter(torch.ones_like(curvatures))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.a * self.theta**2).sum().expand(len(x))


def mean_output(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return outputs.mean()


MU, L = 0.5, 8.0


def quadratic_scheduler(rho_cap: float = 0.99, **kwargs):
    model = Quadratic(torch.linspace(MU, L, 20, dtype=torch.float64))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.0)
    data = (torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4))
    scheduler = LanczosLRMomentumScheduler(
        optimizer, model, mean_output, data, batch_size=4, m=20, n_v=2, w_min=0.0, rho_cap=rho_cap, **kwargs
    )
    return model, optimizer, scheduler


def test_learner_on_a_quadratic_gives_the_closed_form_and_its_rate():
    model, optimizer, _ = quadratic_scheduler()
    alpha = 4 / (math.sqrt(L) + math.sqrt(MU)) ** 2
    rho = ((math.sqrt(L) - math.sqrt(MU)) / (math.sqrt(L) + math.sqrt(MU))) ** 2
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(alpha, rel=1e-9) and group["momentum"] == pytest.approx(rho, rel=1e-9)
    steps = 200
    for _ in range(steps):  # torch's SGD momentum is heavy ball: θ ← θ − α g + ρ(θ − θ_prev)
        optimizer.zero_grad()
        model(torch.zeros(1)).sum().backward()
        optimizer.step()
    rate = (model.theta.detach().norm() / math.sqrt(20)).item() ** (1 / steps)
    assert rate == pytest.approx(math.sqrt(rho), rel=0.05)


def test_rho_cap_keeps_an_optimal_stable_pair():
    alpha, rho = heavy_ball_params(10.0, 1e-6, rho_cap=0.81)
    assert rho == pytest.approx(0.81) and alpha == pytest.approx((1 + 0.9) ** 2 / 10.0)
    assert alpha < 2 * (1 + rho) / 10.0  # inside heavy ball's stability region for λ_max
    assert heavy_ball_params(4.0, 4.0) == pytest.approx((1 / 4, 0.0))  # one eigenvalue: Newton's step, no momentum


def test_lr_cap_and_the_gradient_rule():
    _, optimizer, _ = quadratic_scheduler(lr_cap=0.05)
    assert optimizer.param_groups[0]["lr"] == 0.05
    model, optimizer, _ = quadratic_scheduler(rule="gradient")
    g = (model.a * model.theta).detach()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(float(g @ g / (g @ (model.a * g))), rel=1e-9)
    assert optimizer.param_groups[0]["momentum"] == 0.0  # left as it was


def test_scheduler_in_train_classifier_sets_real_sgd_groups():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 1, 8, 8, generator=gen), torch.randint(0, 3, (96,), generator=gen)
    data = {"x_train": x, "y_train": y, "x_val": x[:16], "y_val": y[:16], "x_test": x[:16], "y_test": y[:16]}
    model = GroupNormResNet(width=4, groups=2, n_classes=3)
    made = []

    def make(optimizer, total_steps):
        made.append(LanczosLRMomentumScheduler(optimizer, model, F.cross_entropy, (x, y), batch_size=32, every=3, m=8))
        return made[0]

    train_classifier(model, lambda ps: torch.optim.SGD(ps, lr=0.0), data, 2, 16, 0, make)
    scheduler = made[0]
    assert [c["step"] for c in scheduler.history] == [0.0, 3.0, 6.0, 9.0, 12.0]  # 12 steps, a call every 3
    last = scheduler.history[-1]
    group = scheduler.optimizer.param_groups[0]
    assert group["lr"] == last["lr"] and group["momentum"] == last["momentum"] and 0 <= last["momentum"] <= 0.99
    state = scheduler.state_dict()
    assert "model" not in state and "data" not in state
    scheduler.load_state_dict(state)


def test_learner_bad_inputs():
    model = MLP((64, 4, 10))
    data = (torch.rand(10, 8, 8), torch.zeros(10, dtype=torch.long))
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    cases = {
        "rho_cap": {"rho_cap": 1.0},
        "m must": {"m": 1},
        "n_v": {"n_v": 0},
        "batch_size": {"batch_size": 11},
        "lr_cap": {"lr_cap": 0.0},
    }
    for match, kwargs in cases.items():
        with pytest.raises(ValueError, match=match):
            LanczosLRMomentumScheduler(sgd, model, F.cross_entropy, data, **({"batch_size": 10} | kwargs))
    with pytest.raises(ValueError, match="m must"):
        LanczosLRMomentumScheduler(sgd, model, F.cross_entropy, data, batch_size=10, m=10_000)
    with pytest.raises(ValueError, match="optimizer"):
        LanczosLRMomentumScheduler(torch.optim.Adam(model.parameters()), model, F.cross_entropy, data, batch_size=10)
    with pytest.raises(ValueError, match="rho_cap"):
        heavy_ball_params(1.0, 0.1, rho_cap=-0.1)


def test_max_stable_lr_of_gradient_descent_is_two_over_lambda_max():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64) * torch.tensor(
        [3.0, 1, 1, 0.5, 0.2], dtype=torch.float64
    )
    y = x @ torch.randn(5, generator=gen, dtype=torch.float64)
    model = nn.Linear(5, 1, bias=False).double()
    loss = lambda out, target: F.mse_loss(out.squeeze(1), target)  # noqa: E731  Hessian 2XᵀX/N
    top = torch.linalg.eigvalsh(2 * x.T @ x / len(x))[-1].item()
    grid = lr_grid_sqrt2(1e-3, 10.0)
    scan = max_stable_lr("sgd", model, loss, (x, y), 40, grid, steps=100)  # B = N: gradient descent
    assert scan.lr <= 2 / top < scan.lr * math.sqrt(2) and not scan.at_edge and scan.diverged[-1]
    again = max_stable_lr("sgd", model, loss, (x, y), 40, grid, steps=100)
    assert again == scan  # the same init and batches for every lr: deterministic
    bad = [({"lr_grid": (0.1, 0.0)}, "lr_grid"), ({"lr_grid": (-1.0,)}, "lr_grid"), ({"batch_size": 41}, "batch_size")]
    for kwargs, match in [*bad, ({"opt_name": "rmsprop"}, "opt_name")]:
        args = {"opt_name": "sgd", "batch_size": 40, "lr_grid": grid} | kwargs
        with pytest.raises(ValueError, match=match):
            max_stable_lr(args["opt_name"], model, loss, (x, y), args["batch_size"], args["lr_grid"])
