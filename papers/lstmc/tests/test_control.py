"""Controllers, the closed loop and the environment."""

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from paperzoo.lstmc.closed_loop import DextroseCrystallizer, closed_loop, reference_profile
from paperzoo.lstmc.dataset import reachable_set_points
from paperzoo.lstmc.dextrose import sample_initial_conditions, simulate_moments
from paperzoo.lstmc.lstm_mpc import LSTMMPC, Surrogate, train_surrogate
from paperzoo.lstmc.lstmc import LSTMController, error_features, lstmc_samples, train_lstmc, windows
from paperzoo.lstmc.pi import PIController, tune_pi


def test_error_features_by_hand():
    history = np.array([[[100.0, 0.7, 38.0, 38.0], [110.0, 0.6, 36.0, 35.0], [125.0, 0.5, 33.0, 31.0]]])
    f = error_features(history, np.array([150.0]))
    np.testing.assert_allclose(f[0, :, 4], 150.0)
    np.testing.assert_allclose(f[0, :, 5], [50.0, 40.0, 25.0])  # e = L_sp - L
    np.testing.assert_allclose(f[0, :, 6], [50.0, 90.0, 115.0])  # sum e dt, dt = 1 h
    np.testing.assert_allclose(f[0, :, 7], [0.0, -10.0, -15.0])  # de
    w = windows(f, 3, np.array([0, 2]))
    np.testing.assert_array_equal(w[0, 0], np.repeat(f[0, :1], 3, axis=0))  # padded with the first row
    np.testing.assert_array_equal(w[0, 1], f[0])


def test_hindsight_relabelling(small_data):
    model = LSTMController(window=2)
    x, y = lstmc_samples(model, small_data)
    hours = small_data.T_j.shape[1]
    assert x.shape == (len(small_data) * (hours - 1), 2, 8)
    b, k = 3, 5  # batch 3, hour 5 -> sample index b * (hours - 1) + (k - 1)
    i = b * (hours - 1) + (k - 1)
    assert y[i] == pytest.approx(small_data.T_j[b, k])
    L_sp = small_data.states[b, -1, 0]
    assert x[i, -1, 4] == pytest.approx(L_sp)
    assert x[i, -1, 5] == pytest.approx(L_sp - small_data.states[b, k, 0], rel=1e-5)
    assert x[i, -1, 3] == pytest.approx(small_data.T_j[b, k - 1])  # T_j held over the previous hour


def test_lstmc_learns_the_relabelled_jacket_temperature(small_data):
    torch.manual_seed(0)
    model = LSTMController(hidden=16)
    losses = train_lstmc(model, small_data, epochs=6, seed=0, batch_size=64, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]
    x, y = lstmc_samples(model, small_data)
    with torch.no_grad():
        pred = model(x)
    assert pred.min() >= 5 and pred.max() <= 40
    assert np.corrcoef(pred.numpy(), y.numpy())[0, 1] > 0.8


def test_lstmc_without_errors_and_w1_is_an_inverse_model():
    torch.manual_seed(0)
    model = LSTMController(window=1, hidden=8, use_errors=False).eval()
    rng = np.random.default_rng(0)
    history = rng.uniform(20, 40, (4, 5, 4))
    other = history.copy()
    other[:, :-1] = rng.uniform(20, 40, (4, 4, 4))  # a different past, the same present
    sp = np.array([150.0, 160.0, 170.0, 180.0])
    model.reset(sp)
    u = model.act(history, 10)
    np.testing.assert_array_equal(u, model.act(other, 10))
    x = torch.as_tensor(np.concatenate([history[:, -1:], np.broadcast_to(sp[:, None, None], (4, 1, 1))], -1))
    with torch.no_grad():
        np.testing.assert_allclose(u, model(x.float()).numpy(), rtol=1e-6)
    assert model.lstm.input_size == 5


def test_pi_with_zero_integral_gain_is_p_control():
    pi = PIController(0.2, 0.0)
    sp = np.array([150.0, 150.0])
    pi.reset(sp)
    hist = np.zeros((2, 3, 4))
    hist[:, 0, 3] = 38.0
    hist[:, :, 0] = [[100.0, 120.0, 140.0], [100.0, 150.0, 160.0]]
    out = [pi.act(hist[:, : k + 1], 24 - k) for k in range(3)]
    np.testing.assert_allclose(out[2], np.clip(38.0 - 0.2 * (sp - hist[:, 2, 0]), 5, 40))
    assert out[0][0] < out[2][0]  # a larger error cools more


def test_pi_integral_and_anti_windup():
    pi = PIController(0.0, 1.0)
    pi.reset(np.array([200.0]))
    hist = np.zeros((1, 4, 4))
    hist[:, 0, 3] = 38.0
    hist[:, :, 0] = 100.0
    out = [pi.act(hist[:, : k + 1], 24 - k)[0] for k in range(4)]
    assert out == pytest.approx([5.0, 5.0, 5.0, 5.0])
    assert pi.integral[0] == pytest.approx(33.0)  # stopped where the output hits 5 degC, not wound up to 400
    hist[:, :, 0] = 250.0  # overshoot: the output leaves 5 degC at once (no wound-up integral to unwind)
    assert pi.act(hist, 20)[0] == pytest.approx(40.0)
    assert pi.integral[0] == pytest.approx(-2.0)  # again only as far as the output's bound


def test_tune_pi_picks_the_best_grid_point():
    rng = np.random.default_rng(3)
    ic = sample_initial_conditions(2, rng)
    sp = reachable_set_points(ic, np.array([0.5]), 8, 0, hours=6).ravel()
    (kp, ki), grid = tune_pi(ic, sp, [0.0, 0.1], [0.0, 0.05], model="moment", hours=6)
    assert grid.shape == (2, 2)
    chosen = closed_loop(PIController(kp, ki), ic, sp, model="moment", hours=6).deviation.mean()
    assert chosen == pytest.approx(grid.min(), rel=1e-3)  # batched BDF differs at solver tolerance


def test_mpc_finds_the_surrogate_optimum():
    torch.manual_seed(0)
    surrogate = Surrogate(window=2, hidden=8).eval()
    # realistic scales, so that the untrained surrogate's next size depends visibly on the jacket temperature
    surrogate.x_norm.mean.copy_(torch.tensor([150.0, 0.5, 30.0, 25.0]))
    surrogate.x_norm.std.copy_(torch.tensor([30.0, 0.1, 5.0, 8.0]))
    surrogate.y_norm.std.copy_(torch.tensor([20.0, 0.05, 3.0]))
    mpc = LSTMMPC(surrogate, horizon=1, lam=0.0, maxiter=100)
    rng = np.random.default_rng(0)
    history = np.concatenate(
        [rng.uniform(100, 150, (1, 3, 1)), rng.uniform(0.5, 0.7, (1, 3, 1)), rng.uniform(30, 38, (1, 3, 2))], axis=-1
    )
    model = mpc.model
    rows = torch.as_tensor(mpc._window(history))
    grid = torch.linspace(5, 40, 701, dtype=torch.float64)[:, None]
    L = model.rollout(rows.expand(701, -1, -1), grid)[:, 0, 0]
    sp = float(L[350].detach()) + 0.0  # a size the surrogate reaches from some jacket temperature
    mpc.reset(np.array([sp]))
    u = mpc.act(history, 1)
    cost = ((L - sp) ** 2).detach()
    got = (model.rollout(rows, torch.tensor([[u[0]]], dtype=torch.float64))[0, 0, 0].item() - sp) ** 2
    assert cost.max() > 0
    assert got <= cost.min().item() + 1e-3 * (cost.max() - cost.min()).item()


def test_surrogate_beats_the_no_change_prediction(small_data):
    torch.manual_seed(0)
    model = Surrogate(hidden=16)
    losses = train_surrogate(model, small_data, epochs=6, seed=0, batch_size=64, lr=3e-3)
    assert losses[-1] < 0.6  # normalised MSE; predicting the mean change scores 1


def test_open_loop_through_the_closed_loop_matches_the_simulator():
    rng = np.random.default_rng(2)
    ic = sample_initial_conditions(3, rng)
    profile = reference_profile(ic.T0, 6)
    loop = closed_loop(None, ic, 150.0, model="moment", hours=6, profile=profile)
    sim = simulate_moments(ic, profile)
    np.testing.assert_allclose(loop.L, sim.hourly()[:, :, 0], rtol=1e-12)
    noisy = closed_loop(None, ic, 150.0, model="moment", hours=6, profile=profile, noise=0.1, seed=1)
    np.testing.assert_array_equal(noisy.L, loop.L)  # sensor noise never touches the plant
    ratio = noisy.history[..., 0] / noisy.L - 1.0
    np.testing.assert_allclose(ratio, 0.1 * np.random.default_rng(1).standard_normal((7, 3)).T, atol=1e-12)


def test_environment_follows_the_gymnasium_api():
    env = DextroseCrystallizer(model="moment", set_point=150.0, hours=3)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs[4] == 150.0 and obs[5] == 3
    done, reward = False, 0.0
    while not done:
        obs, reward, done, _, info = env.step(np.array([20.0]))
    assert reward == pytest.approx(-abs(info["L"] - 150.0) / 150.0)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: LSTMController(window=0), "W"),
        (lambda: PIController(-0.1, 0.0), "kp"),
        (lambda: PIController(0.1, -1.0), "ki"),
        (lambda: LSTMMPC(Surrogate(hidden=4), horizon=0), "horizon"),
        (lambda: DextroseCrystallizer(noise=-0.1), "noise"),
        (lambda: DextroseCrystallizer(set_point=0.0), "set_point"),
        (lambda: DextroseCrystallizer(n_cells=2), "n_cells"),
        (
            lambda: closed_loop(PIController(0.1, 0.0), sample_initial_conditions(1, np.random.default_rng(0)), -5.0),
            "set_point",
        ),
    ],
)
def test_bad_controller_arguments_raise(make, name):
    with pytest.raises(ValueError, match=name):
        make()
