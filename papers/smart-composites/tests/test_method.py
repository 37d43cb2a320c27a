"""Tests of the plant, the NARX rollout, the NGPC cost and its Newton-Raphson solver, and the PID."""

import numpy as np
import pytest
import torch
from torch import nn

from paperzoo.smart_composites import control
from paperzoo.smart_composites.msd import MassSpringDamper
from paperzoo.smart_composites.narx import NARX, rollout, train_narx
from paperzoo.smart_composites.ngpc import NewtonRaphsonMPC, barrier, ngpc_cost
from paperzoo.smart_composites.pid import PID

torch.set_default_dtype(torch.float32)
F64 = torch.float64


class LinearPlantModel(nn.Module):
    """The exact one-step map of the linear plant as a NARX 'model': y(k) = A y(k-1) + B u(k-1)."""

    d_u, d_y, n_y = 2, 2, 2

    def __init__(self, plant: MassSpringDamper) -> None:
        super().__init__()
        a, b = plant.linear_map()
        self.register_buffer("a", torch.as_tensor(a))
        self.register_buffer("b", torch.as_tensor(b))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return r[..., 2:4] @ self.a.T + r[..., :1] * self.b


def random_narx(kind: str = "mlp", seed: int = 0) -> NARX:
    torch.manual_seed(seed)
    model = NARX(kind, (16, 16) if kind == "mlp" else (8,))
    with torch.no_grad():
        model.in_std.uniform_(0.3, 1.0)
        model.out_scale.uniform_(0.05, 0.2)
    return model


def test_free_response_matches_analytic():
    plant = MassSpringDamper(m=0.01, c=0.05, k=0.5)
    x0 = 0.3
    ys = plant.simulate(np.zeros(240), np.array([x0, 0.0]))
    w = np.sqrt(plant.k / plant.m)
    zeta = plant.c / (2 * np.sqrt(plant.k * plant.m))
    wd = w * np.sqrt(1 - zeta**2)
    t = np.arange(241) * plant.dt
    x = np.exp(-zeta * w * t) * (x0 * np.cos(wd * t) + zeta * w * x0 / wd * np.sin(wd * t))
    assert np.abs(ys[:, 0] - x).max() < 1e-6
    assert np.abs(ys[:, 0]).max() > 0.2  # it oscillates, it does not sit still


def test_cubic_spring_stiffens_and_linear_map_is_exact():
    linear, cubic = MassSpringDamper(), MassSpringDamper(k3=2.0)
    y = np.array([0.4, 0.1])
    a, b = linear.linear_map()
    np.testing.assert_allclose(linear.step(y, 0.3), a @ y + 0.3 * b, atol=1e-14)
    assert cubic.derivative(y, 0.0)[1] < linear.derivative(y, 0.0)[1]  # a larger restoring force
    with pytest.raises(ValueError, match="k3"):
        cubic.linear_map()


def test_rollout_feeds_predictions_back():
    model = random_narx().double()
    u_past, y_past = torch.tensor([0.2], dtype=F64), torch.tensor([[0.1, -0.2], [0.15, 0.3]], dtype=F64)
    u_future = torch.tensor([0.5, -0.4], dtype=F64)
    pred = rollout(model, u_past, y_past, u_future)
    y1 = model(torch.cat([torch.tensor([0.5, 0.2], dtype=F64), y_past[1], y_past[0]]))
    y2 = model(torch.cat([torch.tensor([-0.4, 0.5], dtype=F64), y1, y_past[1]]))
    torch.testing.assert_close(pred, torch.stack([y1, y2]))


def _mpc(model: nn.Module, **kw) -> NewtonRaphsonMPC:
    return NewtonRaphsonMPC(model, **kw)


def _history():
    return (
        torch.tensor([0.3], dtype=F64),
        torch.tensor([[0.05, 0.2], [0.08, 0.25]], dtype=F64),
        torch.tensor([[0.3, 0.0], [0.32, 0.1], [0.34, 0.0]], dtype=F64),
    )


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_autograd_derivatives_match_finite_differences(kind):
    mpc = _mpc(random_narx(kind), N_u=2, Q=np.diag([1e2, 1.0]), Lambda=0.5, s=1e-3, r=4.0)
    hist = _history()
    U = torch.tensor([0.2, -0.1], dtype=F64)
    _, g, H = mpc.derivatives(U, *hist)
    eps = 1e-5
    eye = torch.eye(2, dtype=F64) * eps
    fd_g = torch.stack([(mpc.cost(U + e, *hist) - mpc.cost(U - e, *hist)) / (2 * eps) for e in eye])
    fd_h = torch.stack([(mpc.derivatives(U + e, *hist)[1] - mpc.derivatives(U - e, *hist)[1]) / (2 * eps) for e in eye])
    torch.testing.assert_close(g, fd_g, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(H, fd_h, rtol=1e-5, atol=1e-7)
    # dŷ/dU through the recursive rollout, against finite differences too
    u_past, y_past, _ = hist
    held = lambda U: torch.cat([U, U[-1:]])  # noqa: E731
    jac = torch.autograd.functional.jacobian(lambda U: rollout(mpc.model, u_past, y_past, held(U)), U)
    fd_j = torch.stack(
        [
            (rollout(mpc.model, u_past, y_past, held(U + e)) - rollout(mpc.model, u_past, y_past, held(U - e)))
            / (2 * eps)
            for e in eye
        ],
        dim=-1,
    )
    torch.testing.assert_close(jac, fd_j, rtol=1e-6, atol=1e-9)


def test_hessian_is_gauss_newton_plus_residual_term():
    """∇²J = 2 Σ Jᵀ Q J − 2 Σ (y_r − ŷ)ᵀ Q ∂²ŷ/∂U² + 2Λ (+ barrier): the Soloway-Haley Hessian, not Gauss-Newton."""
    Q = np.diag([3.0, 2.0])
    mpc = _mpc(random_narx(), N_u=1, Q=Q, Lambda=0.7, s=0.0)
    u_past, y_past, y_ref = _history()
    U = torch.tensor([0.4], dtype=F64)
    _, _, H = mpc.derivatives(U, u_past, y_past, y_ref)

    def pred(U):
        return rollout(mpc.model, u_past, y_past, U.expand(3))

    jac = torch.autograd.functional.jacobian(pred, U)[..., 0]  # (K, n_y)
    second = torch.stack(
        [
            torch.stack(
                [torch.autograd.functional.hessian(lambda U, j=j, i=i: pred(U)[j, i], U)[0, 0] for i in range(2)]
            )
            for j in range(3)
        ]
    )
    resid = y_ref - pred(U)
    q = torch.as_tensor(Q)
    gauss_newton = 2 * torch.einsum("ji,ik,jk->", jac, q, jac)
    expected = gauss_newton - 2 * torch.einsum("ji,ik,jk->", resid, q, second) + 2 * 0.7
    torch.testing.assert_close(H[0, 0], expected, rtol=1e-9, atol=1e-9)
    assert abs(float(H[0, 0] - gauss_newton - 1.4)) > 1e-6  # the residual term is there and matters


def test_one_newton_step_solves_the_quadratic_cost_of_the_exact_linear_model():
    plant = MassSpringDamper()
    mpc = _mpc(LinearPlantModel(plant), N2=1, Q=np.diag([1e6, 1e2]), Lambda=0.0, s=0.0, u_min=-1e6, u_max=1e6)
    u_past, y_past = np.array([0.1]), np.array([[0.0, 0.0], [0.01, 0.2]])
    y_ref = np.array([[0.3, 0.0]])
    u1 = mpc.step(u_past, y_past, y_ref)
    u2 = mpc.step(u_past, y_past, y_ref)
    assert abs(u2 - u1) < 1e-9
    # and it is the least-squares input: the gradient vanishes there
    _, g, _ = mpc.derivatives(mpc.U, *(torch.as_tensor(a) for a in (u_past, y_past, y_ref)))
    assert abs(float(g[0])) < 1e-6 * 1e6


def test_nr_mpc_tracks_a_step_with_the_exact_model():
    plant = MassSpringDamper()
    mpc = _mpc(LinearPlantModel(plant), Q=np.diag([1e6, 1e3]))
    ref = control.square(244, plant.dt, 0.3, 8.0)
    ys, us = control.closed_loop(plant, control.mpc_act(mpc, ref), 240)
    ys0, us0 = control.closed_loop(plant, control.zero_act, 240)
    rmse = control.tracking_metrics(ys, us, ref)["rmse"]
    assert rmse < 0.25 * control.tracking_metrics(ys0, us0, ref)["rmse"]
    assert abs(ys[-1, 0] - 0.3) < 0.01
    assert np.abs(us).max() <= 1.0


def test_barrier_blows_up_at_the_edges_and_is_negligible_inside():
    s, r, b = 1e-3, 2.0, 0.1
    near = torch.tensor([b + r / 2 - 1e-9], dtype=F64), torch.tensor([b - r / 2 + 1e-9], dtype=F64)
    assert all(float(barrier(u, s, r, b)) > 1e5 for u in near)
    assert float(barrier(torch.tensor([b], dtype=F64), s, r, b)) < 1.0
    u = torch.linspace(-1, 1, 41, dtype=F64).requires_grad_(True)
    (g,) = torch.autograd.grad(barrier(u, 1e-20, 4e2, 1e-5), u)
    assert g.abs().max() < 1e-20


def test_delta_u_is_against_the_applied_input():
    y = torch.zeros(3, 2, dtype=F64)
    args = (torch.eye(2, dtype=F64), torch.eye(1, dtype=F64), 0.0, 4e2, 0.0)
    U = torch.tensor([0.5], dtype=F64)
    assert float(ngpc_cost(y, y, U, 0.5, *args) - ngpc_cost(y, y, U, 0.0, *args)) == pytest.approx(-0.25)


def test_pid_without_i_and_d_is_p_control_and_antiwindup_bounds_the_integral():
    errors = np.random.default_rng(0).normal(size=200)
    pid = PID(3.0, 0.0, 0.0, 0.01)
    np.testing.assert_allclose([pid.step(e) for e in errors], np.clip(3.0 * errors, -1, 1))
    pid = PID(0.5, 2.0, 0.0, 0.01)
    for _ in range(10_000):  # a persistent error that saturates the output
        u = pid.step(1.0)
    assert u == 1.0
    assert pid.integral < 1.0  # without anti-windup it would be 100
    assert pid.step(-0.3) < 1.0  # and it leaves saturation at once when the error turns


def test_narx_training_is_deterministic_and_learns():
    plant = MassSpringDamper()
    from paperzoo.smart_composites.data import identification_data

    x, y = identification_data(plant, 600, 1)
    runs = []
    for seed in (0, 0, 1):
        model = NARX()
        losses = train_narx(model, x, y, epochs=3, seed=seed, batch_size=128)
        runs.append((losses, torch.cat([p.flatten() for p in model.parameters()])))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][1], runs[2][1])
    assert runs[0][0][-1] < runs[0][0][0]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"N1": 2, "N2": 1}, "N2"),
        ({"N_u": 0}, "N_u"),
        ({"Q": np.diag([1.0, -1.0])}, "Q"),
        ({"Q": np.eye(3)}, "Q"),
        ({"r": 0.0}, "r"),
        ({"s": -1e-3}, "s"),
        ({"Lambda": -1.0}, "Lambda"),
    ],
)
def test_bad_controller_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NewtonRaphsonMPC(random_narx(), **kwargs)


def test_bad_plant_and_pid_arguments_raise():
    with pytest.raises(ValueError, match="dt"):
        MassSpringDamper(dt=0.0)
    with pytest.raises(ValueError, match="m"):
        MassSpringDamper(m=-1.0)
    with pytest.raises(ValueError, match="dt"):
        PID(1.0, 0.0, 0.0, dt=-0.1)
    with pytest.raises(ValueError, match="kind"):
        NARX("lstm")
