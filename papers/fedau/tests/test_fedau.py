"""Tests of FedAU: the weights against the official per-client rule, the aggregators' equations and limits, the
samplers' statistics, the batched local steps against torch.optim.SGD, the Flower strategy, the runners."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from paperzoo.fedau import (
    AGGREGATORS,
    Client,
    FedAUWeights,
    FedVarp,
    ParticipationSampler,
    RunSpec,
    batch_plan,
    local_updates,
    make_aggregator,
    participation_probs,
    partition_dirichlet,
    simulate,
)
from paperzoo.fedau.bench import BENCHMARK, FullConfig, PaperConfig, SmokeConfig
from paperzoo.fedau.experiment import run_paper
from paperzoo.fedau.problems import Quadratic, mlp
from paperzoo.shared.torch.many import stack_init


def official_weights(participation: np.ndarray, k: float) -> np.ndarray:
    """The official main.py rule, one client at a time with a Python list of intervals: the weight applied in each
    round (nan when absent)."""
    rounds, n_clients = participation.shape
    out = np.full((rounds, n_clients), np.nan)
    for n in range(n_clients):
        count, intervals = 0, []
        for t in range(rounds):
            if participation[t, n]:
                out[t, n] = np.mean(intervals) if intervals else 1.0
                intervals.append(count + 1)
                count = 0
            else:
                count += 1
                if count >= k:
                    intervals.append(count)
                    count = 0
    return out


@pytest.mark.parametrize("k", [math.inf, 50, 1])
def test_weights_equal_official_loop_exactly(k):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 12)
    part = rng.random((600, 12)) < p
    weights = FedAUWeights(12, k)
    got = np.stack([weights.update(row) for row in part])
    ref = official_weights(part, k)
    assert np.array_equal(np.where(part, got, np.nan), ref, equal_nan=True)
    assert np.all(got[~part] == 0)


def test_periodic_participation_gives_the_period():
    weights = FedAUWeights(3)
    part = np.zeros((40, 3), dtype=bool)
    part[2::4, 0], part[0::7, 1], part[:, 2] = True, True, True
    rows = [weights.update(r) for r in part]
    assert rows[2][0] == 1.0 and rows[6][0] == 3.0  # first interval (rounds 0..2) is 3; later ones all 4
    assert all(rows[t][0] == pytest.approx((3 + 4 * ((t - 2) // 4 - 1)) / ((t - 2) // 4)) for t in range(6, 40, 4))
    assert rows[7][1] == 1.0 and rows[14][1] == 4.0  # first participation at round 0: interval 1, then 7
    assert all(r[2] == 1.0 for r in rows)  # every round: interval 1
    periodic = FedAUWeights(1)
    seen = [periodic.update(np.array([t % 5 == 4])) for t in range(100)]
    assert {float(s[0]) for s in seen[9::5]} == {5.0}


def test_long_bernoulli_mean_interval_and_cutoff():
    rng = np.random.default_rng(1)
    part = rng.random((20_000, 4)) < 0.1
    weights = FedAUWeights(4)
    for row in part:
        weights.update(row)
    assert np.all(np.abs(weights.omega - 10) < 0.5)
    capped = FedAUWeights(4, k=5)
    for row in part:
        capped.update(row)
    assert np.all(capped.omega <= 5) and np.all(capped.omega > 3)


def test_fedau_divides_by_n_and_uses_one_at_first_participation():
    agg = make_aggregator("fedau", 4, 2)
    deltas = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.allclose(agg.direction(np.array([1, 0, 1, 0]), deltas), deltas.sum(0) / 4)
    agg.direction(np.array([0, 0, 0, 0]), deltas[:0])
    # recorded: client 0 [1], client 2 [1]; client 1 none (weight 1, not 0)
    v = agg.direction(np.array([1, 1, 0, 0]), deltas)
    assert torch.allclose(v, (1.0 * deltas[0] + 1.0 * deltas[1]) / 4)
    # client 0 now has [1, 2] (the interval that just ended was not used above), client 2 still [1]
    v = agg.direction(np.array([1, 0, 1, 0]), deltas)
    assert torch.allclose(v, (1.5 * deltas[0] + 1.0 * deltas[1]) / 4)


def test_fedvarp_and_mifa_hand_computed():
    d1, d2 = torch.tensor([[2.0], [4.0]]), torch.tensor([[6.0]])
    fv = FedVarp(3, 1)
    assert torch.allclose(fv.direction(np.array([1, 1, 0]), d1), torch.tensor([3.0]))  # stored all 0
    # round 2: client 0 again; mean of stored before refresh = (2 + 4 + 0)/3 = 2
    assert torch.allclose(fv.direction(np.array([1, 0, 0]), d2), torch.tensor([(6.0 - 2.0) + 2.0]))
    assert torch.allclose(fv.direction(np.array([0, 0, 0]), d2[:0]), torch.tensor([0.0]))
    mifa = make_aggregator("mifa", 3, 1)
    assert torch.allclose(mifa.direction(np.array([1, 1, 0]), d1), torch.tensor([2.0]))
    assert torch.allclose(mifa.direction(np.array([1, 0, 0]), d2), torch.tensor([10.0 / 3]))
    # official MIFA applies the stored average even in a round without participants
    assert torch.allclose(mifa.direction(np.array([0, 0, 0]), d2[:0]), torch.tensor([10.0 / 3]))


def test_empty_round_leaves_x_unchanged_except_mifa():
    for name in AGGREGATORS:
        agg = make_aggregator(name, 3, 2, probs=np.full(3, 0.5))
        agg.direction(np.array([1, 0, 1]), torch.ones(2, 2))
        v = agg.direction(np.zeros(3), torch.zeros(0, 2))
        assert torch.equal(v, torch.zeros(2)) == (name != "mifa"), name


def test_state_memory_sizes():
    n, dim = 20, 1000
    assert make_aggregator("fedau", n, dim).state_bytes() == 3 * 8 * n
    for name in ("fedvarp", "mifa"):
        assert make_aggregator(name, n, dim).state_bytes() == 4 * n * dim
    assert make_aggregator("avg_participating", n, dim).state_bytes() == 0


def _quadratic_runs(runs, probs, rounds, seed=0, dim=3, shift=None):
    rng = np.random.default_rng(seed)
    centers = torch.from_numpy(rng.normal(size=(len(probs), dim)))
    if shift is not None:  # centres correlated with participation: the p-weighted point moves away from the mean
        centers[:, 0] += 10 * torch.from_numpy(shift)
    part = {"bernoulli": ParticipationSampler("bernoulli", probs, rng).sample(rounds)}
    problem = Quadratic(centers, 5)
    hist = simulate(
        runs,
        torch.zeros(dim, dtype=torch.float64),
        part,
        problem.local_step,
        lambda x: {"x": x.clone()},
        range(1, rounds + 1),
        probs,
    )
    return centers, hist


def test_all_participating_every_rule_is_full_fedavg():
    probs = np.ones(6)
    runs = [RunSpec(a, "bernoulli", 0.1) for a in AGGREGATORS]
    centers, hist = _quadratic_runs(runs, probs, 30)
    x = torch.zeros(3, dtype=torch.float64)
    for t in range(30):
        x = x + (1 - 0.9**5) * (centers - x).mean(0)
        assert torch.allclose(torch.from_numpy(hist.values["x"][t]), x.expand(len(runs), -1), atol=1e-12)


def test_quadratic_fixed_points():
    probs = np.random.default_rng(4).uniform(0.1, 0.6, 30)
    runs = [RunSpec(a, "bernoulli", 0.01) for a in ("fedau", "known_prob", "avg_participating")]
    centers, hist = _quadratic_runs(runs, probs, 3000, seed=3, shift=probs)
    tail = hist.values["x"][1000:].mean(0)
    optimum = centers.mean(0).numpy()
    biased = (torch.from_numpy(probs)[:, None] * centers).sum(0).numpy() / probs.sum()
    assert np.linalg.norm(optimum - biased) > 0.3
    assert np.linalg.norm(tail[0] - optimum) < 0.1 and np.linalg.norm(tail[1] - optimum) < 0.1
    assert np.linalg.norm(tail[2] - biased) < 0.1


@pytest.mark.parametrize("pattern", ["bernoulli", "markov-0.05", "cyclic-100"])
def test_samplers_match_p(pattern):
    probs = np.array([0.02, 0.1, 0.3, 0.7, 1.0])
    part = ParticipationSampler(pattern, probs, np.random.default_rng(2)).sample(40_000)
    freq = part.mean(0)
    if pattern.startswith("cyclic"):
        active = np.maximum(1, np.round(100 * probs))
        assert np.allclose(freq, active / (active + np.maximum(1, 100 - active)), atol=2e-3)
    else:
        assert np.allclose(freq, probs, rtol=0.15, atol=0.005)
    if pattern.startswith("markov"):  # a real chain: runs are longer than under Bernoulli
        assert (part[1:, 1] & part[:-1, 1]).mean() > 2 * 0.1 * 0.1


def test_partition_and_probs_tied_to_labels():
    rng = np.random.default_rng(0)
    labels = np.arange(3000) % 10
    clients, freq = partition_dirichlet(labels, 20, 0.1, rng)
    assert np.array_equal(np.sort(np.concatenate(clients)), np.arange(3000))
    assert np.allclose(freq.sum(1), 1) and freq.max(1).mean() > 0.5  # Dir(0.1): clients dominated by few labels
    probs = participation_probs(freq, rng)
    assert probs.min() >= 0.02 and probs.max() <= 1
    one_label = np.eye(10)[:2]
    p = participation_probs(one_label, np.random.default_rng(5), p_min=1e-9)
    d = np.random.default_rng(5).dirichlet(0.1 * np.ones(10))
    assert np.allclose(p, np.maximum(1e-9, 10 * 0.1 * d[:2]))


def test_batch_plan_reads_each_client_in_epochs():
    clients = [np.arange(0, 40), np.arange(40, 45), np.arange(45, 100)]
    part = np.random.default_rng(0).random((50, 3)) < 0.5
    offsets, batches = batch_plan(clients, part, 3, 8, np.random.default_rng(1))
    assert offsets[-1] == part.sum() and batches.shape == (part.sum(), 3, 8)
    stream = torch.cat([batches[offsets[t]] for t in range(50) if part[t, 0]]).flatten()  # client 0 comes first
    epochs = stream[: len(stream) // 40 * 40].reshape(-1, 40)  # 5 batches of 8 per epoch: every sample once
    assert len(epochs) > 2 and all(sorted(e.tolist()) == list(range(40)) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])  # a fresh permutation per epoch
    for t in range(50):
        for j, n in enumerate(np.flatnonzero(part[t])):
            assert set(batches[offsets[t] + j].flatten().tolist()) <= set(clients[n].tolist())


def test_batched_local_updates_equal_sgd_loop():
    torch.manual_seed(0)
    factory = mlp(6, 5, 3)
    like = stack_init(factory, [0])
    x, y = torch.randn(50, 6), torch.randint(0, 3, (50,))
    starts = torch.randn(4, sum(v[0].numel() for v in like.values())) * 0.3
    idx = torch.randint(0, 50, (4, 5, 8))
    lr = torch.tensor([0.1, 0.05, 0.2, 0.1])
    got = local_updates(factory(), like, starts, x[idx], y[idx], lr)
    client = Client(factory(), x, y)
    for m in range(4):
        assert torch.allclose(got[m], client.local_update(starts[m], idx[m], float(lr[m])), atol=1e-6)
    assert got.abs().sum() > 0


def test_flower_strategy_matches_round_loop():
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    from paperzoo.fedau import FedAUStrategy

    rng = np.random.default_rng(0)
    n, dim = 6, 4
    part = rng.random((8, n)) < 0.5
    deltas = [torch.from_numpy(rng.normal(size=(int(r.sum()), dim)).astype(np.float32)) for r in part]
    agg = make_aggregator("fedau", n, dim)
    strategy = FedAUStrategy(n_clients=n, eta=1.5)
    x = torch.zeros(dim)
    params = ndarrays_to_parameters([x.numpy().copy()])

    class Manager:  # FedAvg.configure_fit asks the manager for clients; only the parameters matter here
        def num_available(self):
            return 0

        def sample(self, num_clients, min_num_clients):
            return []

    for t in range(8):
        strategy.configure_fit(t + 1, params, Manager())
        results = [
            (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters([(x + d).numpy()]), 1, {"client_id": int(c)}))
            for c, d in zip(np.flatnonzero(part[t]), deltas[t], strict=True)
        ]
        params, _ = strategy.aggregate_fit(t + 1, results, [])
        x = x + 1.5 * agg.direction(part[t], deltas[t])
        from flwr.common import parameters_to_ndarrays

        assert np.allclose(parameters_to_ndarrays(params)[0], x.numpy(), atol=1e-6)
    assert np.any(agg.weights.omega > 1)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="K"):
        FedAUWeights(3, k=0)
    with pytest.raises(ValueError, match="p must"):
        ParticipationSampler("bernoulli", np.array([0.5, 1.5]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="p must"):
        make_aggregator("known_prob", 2, 3, probs=np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="alpha"):
        partition_dirichlet(np.arange(10) % 2, 2, 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Q"):
        batch_plan([np.arange(5)], np.ones((2, 1), bool), 0, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="b must"):
        batch_plan([np.arange(5)], np.ones((2, 1), bool), 1, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="gamma"):
        RunSpec("fedau", "bernoulli", 0.0)
    with pytest.raises(ValueError, match="eta"):
        RunSpec("fedau", "bernoulli", 0.1, eta=-1.0)
    with pytest.raises(ValueError, match="pattern"):
        ParticipationSampler("sometimes", np.array([0.5]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="aggregator"):
        make_aggregator("fedprox", 2, 3)
    with pytest.raises(ValueError, match="Q"):
        SmokeConfig(q=0)
    with pytest.raises(ValueError, match="gamma"):
        FullConfig(gamma_grid=(0.0, 0.1))


def test_smoke_deterministic_and_seeded():
    config = dataclasses.replace(BENCHMARK.scales["smoke"], rounds=600, tail=100)
    first = BENCHMARK.run["smoke"](config, 0).metrics
    assert first == BENCHMARK.run["smoke"](config, 0).metrics
    assert first != BENCHMARK.run["smoke"](config, 1).metrics


def test_paper_scale_starts_on_a_stand_in(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8),
        y_train=np.arange(200) % 10,
        x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    config = PaperConfig(
        n_clients=4,
        rounds=2,
        data=str(path),
        arms=("fedau", "avg_participating"),
        patterns=("bernoulli",),
        p_mean=0.5,
        eval_every=1,
        last_evals=1,
        device="cpu",
    )
    metrics = run_paper(config, 1).metrics
    assert 0 <= metrics["fedau/bernoulli/test_accuracy"] <= 1
    assert math.isfinite(metrics["avg_participating/bernoulli/train_loss"])
    assert PaperConfig().gammas["avg_participating"] == 0.0562 and PaperConfig().etas["avg_participating"] == 1.78
    assert isinstance(nn.Module, type)
