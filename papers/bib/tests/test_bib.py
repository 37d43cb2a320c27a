"""Tests of BIB: the closed-form losses against independent ridge solves, the straight-through tokens, the encoder
path through ``inputs_embeds``, the batched Adam against ``torch.optim.Adam``, Adaptive-gamma/eta's directions, the
landscape and offline split, the pretraining cache, bad arguments, and the smoke / paper runners."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from paperzoo.bib import (
    ALPHABET,
    AdaptiveEta,
    AdaptiveGamma,
    AuxProxyEnsemble,
    BatchedAdam,
    BidirectionalLoss,
    KmerSTE,
    Landscape,
    OfflineTask,
    backward_loss,
    build_bert,
    design,
    encode,
    fit_mlp_proxy,
    forward_loss,
    gradient_ascent,
    init_designs,
    pretrained_bert,
)
from paperzoo.bib.bench import BENCHMARK, PAPER, SMOKE
from paperzoo.bib.design import hypergradient
from paperzoo.bib.encoder import CLS, N_SPECIAL, SEP, kmer_ids
from paperzoo.bib.landscape import all_sequences
from paperzoo.bib.losses import RIDGE, TARGET


def _embeddings(seed, n=40, d=6, b=3):
    g = np.random.default_rng(seed)
    return g.normal(size=(b, d)), g.normal(size=(n, d)), g.normal(size=n)


# ------------------------------------------------------------------------------------------- closed-form losses
# n = d: every Gram matrix is full rank, so the forms agree to rounding (1e-10). n > d: K_ll is rank d and
# beta_l = 1e-6 tr/n conditions the dual solve at ~1e6, so agreement is to ~1e-10 * 1e6 * eps-level terms (1e-8).
@pytest.mark.parametrize(("seed", "n", "d", "rtol"), [(0, 12, 12, 1e-10), (1, 12, 12, 1e-10), (2, 40, 6, 1e-8)])
def test_losses_equal_an_independent_numpy_ridge_solve(seed, n, d, rtol):
    phi_h, phi_l, y = _embeddings(seed, n=n, d=d)
    # forward: kernel ridge regression fitted on the offline data, predicting the candidate
    K = phi_l @ phi_l.T
    alpha = np.linalg.solve(K + RIDGE * np.trace(K) / len(K) * np.eye(len(K)), y)
    lf = (phi_h @ phi_l.T @ alpha - TARGET) ** 2
    # backward: a ridge regression (primal, d x d) fitted on the single point (phi_h, y_h), predicting the offline set
    lb = []
    for p in phi_h:
        beta_h = RIDGE * p @ p
        w = np.linalg.solve(np.outer(p, p) + beta_h * np.eye(len(p)), p * TARGET)
        lb.append(np.mean((phi_l @ w - y) ** 2))
    t = [torch.tensor(a) for a in (phi_h, phi_l, y)]
    primal = BidirectionalLoss(t[1], t[2])
    for ours in (forward_loss(*t), primal.forward(t[0])):
        np.testing.assert_allclose(ours.numpy(), lf, rtol=rtol)
    # the explicit 1-point ridge is a d x d solve of a rank-1 matrix + 1e-6 K_hh: conditioned at ~1e6 (1e-8)
    for ours in (backward_loss(*t), primal.backward(t[0])):
        np.testing.assert_allclose(ours.numpy(), lb, rtol=1e-8)
    np.testing.assert_allclose(backward_loss(*t).numpy(), primal.backward(t[0]).numpy(), rtol=1e-10)


def test_dual_prediction_equals_the_primal_weights():
    phi_h, phi_l, y = (torch.tensor(a) for a in _embeddings(7, n=10, d=10))  # full rank: both solves well conditioned
    K = phi_l @ phi_l.T
    alpha = torch.linalg.solve(K + RIDGE * torch.trace(K) / len(K) * torch.eye(len(K), dtype=torch.float64), y)
    np.testing.assert_allclose((phi_h @ phi_l.T @ alpha).numpy(), (phi_h @ (phi_l.T @ alpha)).numpy(), rtol=1e-10)
    primal = phi_h @ BidirectionalLoss(phi_l, y).w
    np.testing.assert_allclose(primal.numpy(), (phi_h @ phi_l.T @ alpha).numpy(), rtol=1e-10)


def test_backward_loss_gradient_matches_finite_differences():
    phi_h, phi_l, y = (torch.tensor(a) for a in _embeddings(1))
    loss = BidirectionalLoss(phi_l, y)
    phi = phi_h[:1].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss.backward(phi).sum(), phi)
    eps, fd = 1e-6, []
    for j in range(phi.shape[1]):
        e = torch.zeros_like(phi)
        e[0, j] = eps
        fd.append(float(loss.backward(phi_h[:1] + e) - loss.backward(phi_h[:1] - e)) / (2 * eps))
    np.testing.assert_allclose(g[0].numpy(), fd, rtol=1e-5, atol=1e-8)


def test_aux_ensemble_has_distinct_bootstrap_heads_and_recovers_a_linear_truth():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(500, 4, generator=g, dtype=torch.float64)
    w_true = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    y = phi @ w_true + 0.3 + 0.01 * torch.randn(500, generator=g, dtype=torch.float64)
    aux = AuxProxyEnsemble(phi, y, mean=2.0, std=3.0, heads=5, seed=1)
    assert len({tuple(h.tolist()) for h in aux.heads}) == 5
    torch.testing.assert_close(aux.weight, 3.0 * w_true, atol=0.01, rtol=0)  # original units: std * w + mean
    assert aux.bias == pytest.approx(3.0 * 0.3 + 2.0, abs=0.01)
    torch.testing.assert_close(aux(phi[:3]), (phi[:3] @ aux.heads[:, :-1].T + aux.heads[:, -1]).mean(1) * 3 + 2)


# ------------------------------------------------------------------------------------------- tokens and encoder
def test_ste_tokens_are_one_hot_probabilities_sum_to_one_and_gradients_flow_through_them():
    X = torch.randn(5, 7, 4, dtype=torch.float64, requires_grad=True)
    ste = KmerSTE(3)
    tokens, probs = ste(X), ste.probabilities(X)
    assert tokens.shape == (5, 5, 64)
    assert set(tokens.detach().unique().tolist()) == {0.0, 1.0} and torch.all(tokens.sum(-1) == 1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(5, 5, dtype=torch.float64))
    torch.testing.assert_close(tokens.argmax(-1), kmer_ids(X.argmax(-1)))  # argmax k-mer = k-mer of argmax bases
    w = torch.randn(64, dtype=torch.float64)
    (g_ste,) = torch.autograd.grad((tokens @ w).sum(), X)
    (g_soft,) = torch.autograd.grad((probs @ w).sum(), X)
    torch.testing.assert_close(g_ste, g_soft)
    P = X.detach().softmax(-1)
    assert probs[0, 0, 16 * 1 + 4 * 2 + 3].item() == pytest.approx((P[0, 0, 1] * P[0, 1, 2] * P[0, 2, 3]).item())


def test_init_designs_decode_to_the_starts_from_one_shared_noise(task):
    X = init_designs(task.starts, seed=4)
    np.testing.assert_array_equal(X.argmax(-1).numpy(), task.starts)
    torch.testing.assert_close(X.sort(-1).values, X[:1].sort(-1).values.expand_as(X))  # the same entries per row
    assert X.std() < 0.05


def test_embedding_through_inputs_embeds_equals_the_models_own_token_path(encoder, task):
    ids = kmer_ids(task.starts) + N_SPECIAL
    ends = torch.full((len(ids), 1), CLS), torch.full((len(ids), 1), SEP)
    states = encoder.model.bert(input_ids=torch.cat([ends[0], ids, ends[1]], 1)).last_hidden_state
    torch.testing.assert_close(encoder.embed_sequences(task.starts), states[:, 1:-1].mean(1).double())
    X = init_designs(task.starts, seed=0).double()
    torch.testing.assert_close(encoder(X), encoder.embed_sequences(task.starts))


def test_pretraining_learns_and_is_cached_by_config(tmp_path, tiny_config):
    model, info = pretrained_bert(tiny_config, tmp_path)
    assert info["cache_hit"] == 0.0 and info["final_loss"] < info["first_loss"] - 0.01
    again, info2 = pretrained_bert(tiny_config, tmp_path)
    assert info2["cache_hit"] == 1.0
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    other = dataclasses.replace(tiny_config, lr=2e-3)
    assert other.key() != tiny_config.key() and len(list(tmp_path.iterdir())) == 1
    init = build_bert(tiny_config).get_input_embeddings().weight
    assert not torch.equal(init, model.get_input_embeddings().weight)


# ------------------------------------------------------------------------------------------- optimisation
def test_batched_adam_equals_torch_adam_per_row():
    g = torch.Generator().manual_seed(0)
    X0 = torch.randn(3, 5, 4, generator=g)
    lrs = torch.tensor([0.1, 0.03, 0.2], dtype=torch.float64)
    grads = [torch.randn(3, 5, 4, generator=g) for _ in range(4)]
    adam = BatchedAdam(X0.clone())
    for grad in grads:
        adam.step(grad, lrs)
    for i in range(3):
        x = X0[i].clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=float(lrs[i]))
        for grad in grads:
            x.grad = grad[i].clone()
            opt.step()
        torch.testing.assert_close(adam.X[i], x.detach(), rtol=1e-6, atol=1e-7)


def test_batched_design_equals_a_per_candidate_adam_loop(encoder, task):
    phi_l = encoder.embed_sequences(task.tokens)
    loss = BidirectionalLoss(phi_l, torch.tensor(task.y_std))
    X0 = init_designs(task.starts[:3], seed=1).double()
    trace = design(encoder, loss, X0, mode="bdi", steps=4, gamma=0.3)
    for i in range(3):
        x = X0[i : i + 1].clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.1)
        for _ in range(4):
            phi = encoder(x)
            opt.zero_grad()
            (0.3 * loss.forward(phi) + 0.7 * loss.backward(phi)).sum().backward()
            opt.step()
        torch.testing.assert_close(trace.X[i], x.detach()[0], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(("gamma", "mode"), [(1.0, "forward"), (0.0, "backward")])
def test_gamma_one_is_forward_only_and_zero_is_backward_only(encoder, task, gamma, mode):
    phi_l = encoder.embed_sequences(task.tokens)
    loss = BidirectionalLoss(phi_l, torch.tensor(task.y_std))
    X0 = init_designs(task.starts, seed=2).double()
    a, b = design(encoder, loss, X0, "bdi", 5, gamma=gamma), design(encoder, loss, X0, mode, 5)
    torch.testing.assert_close(a.X, b.X)
    other = design(encoder, loss, X0, "backward" if mode == "forward" else "forward", 5)
    assert not torch.allclose(a.X, other.X)


def _gradients(encoder, task, gamma=0.5):
    phi_l = encoder.embed_sequences(task.tokens)
    loss = BidirectionalLoss(phi_l, torch.tensor(task.y_std))
    X = init_designs(task.starts, seed=3).double().requires_grad_(True)
    phi = encoder(X)
    g_f = torch.autograd.grad(loss.forward(phi).sum(), X, retain_graph=True)[0]
    g_b = torch.autograd.grad(loss.backward(phi).sum(), X)[0]
    return X.detach(), g_f, g_b


def test_hypergradient_is_minus_the_finite_difference_in_gamma_of_a_linear_f_aux(encoder, task):
    X, g_f, g_b = _gradients(encoder, task)
    A = torch.randn(X.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eta, eps = 0.1, 1e-4

    def f_aux_after_step(gamma):
        return (A * (X - eta * (gamma * g_f + (1 - gamma) * g_b))).flatten(1).sum(1)

    fd = (f_aux_after_step(0.5 + eps) - f_aux_after_step(0.5 - eps)) / (2 * eps)
    torch.testing.assert_close(hypergradient(A, g_f, g_b, eta), -fd, rtol=1e-4, atol=0)


def test_gamma_step_raises_a_linear_f_aux_after_the_design_step(encoder, task):
    X, g_f, g_b = _gradients(encoder, task)
    A = torch.randn(X.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    gamma = AdaptiveGamma(len(X), 0.5, lr=0.1, eta0=0.1).step(A, g_f, g_b)
    assert torch.all(torch.isclose((gamma - 0.5).abs(), torch.tensor(0.1, dtype=torch.float64)))

    def f_after(g):
        g = g.reshape(-1, 1, 1)
        return (A * (X - 0.1 * (g * g_f + (1 - g) * g_b))).flatten(1).sum(1)

    assert torch.all(f_after(gamma) > f_after(torch.full_like(gamma, 0.5)))


def test_adaptive_eta_uses_the_step_adam_is_about_to_take_and_raises_lr_when_it_raises_f_aux():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(4, 3, 4, generator=g, dtype=torch.float64)
    adam = BatchedAdam(X)
    adam.step(torch.randn(X.shape, generator=g, dtype=torch.float64), torch.full((4,), 0.1, dtype=torch.float64))
    d = torch.randn(X.shape, generator=g, dtype=torch.float64)
    u = adam.direction(d)
    a = torch.stack([u[0], -u[1], 1e-9 * u[2], 1e4 * u[3]])  # f_aux falls / rises / flat / falls fast along -u
    lr = AdaptiveEta(eta0=0.1, scale=0.01)(adam, d, a)
    before = X.clone()
    adam.step(d, lr)
    torch.testing.assert_close(before - adam.X, lr.reshape(-1, 1, 1) * u)  # the step taken is lr * u
    assert lr[0] < 0.1 < lr[1] and lr[2] == pytest.approx(0.1) and lr[3] == 1e-4


# ------------------------------------------------------------------------------------------- problem and baseline
def test_landscape_covers_every_sequence_once_and_the_table_round_trips(landscape):
    x = all_sequences(6)
    assert len(x) == 4**6 and len(np.unique(landscape.index(x))) == 4**6
    perm = np.random.default_rng(0).permutation(len(x))
    np.testing.assert_array_equal(Landscape.from_table(x[perm], landscape.y[perm]).y, landscape.y)
    assert landscape(encode(["ACGTAC"]))[0] == landscape.y[0b00_01_10_11_00_01]
    twice = Landscape.from_table(np.concatenate([x, x[:2]]), np.concatenate([landscape.y, [7.0, 8.0]]))
    assert twice.y[0] == 7.0 and twice.y[1] == 8.0  # a repeated sequence keeps its last score
    with pytest.raises(ValueError, match="all 4"):
        Landscape.from_table(x[1:], landscape.y[1:])
    rc = Landscape.tfbind_like(length=6, motif_length=4, coupling=0.0, seed=3)  # both strands: y(x) = y(rc(x))
    np.testing.assert_allclose(rc(x), rc((3 - x)[:, ::-1]), rtol=1e-12)


def test_offline_split_is_the_bottom_and_starts_are_its_top(landscape, task):
    assert task.y.max() <= np.sort(landscape.y)[task.n_offline]
    assert np.all(landscape(task.tokens) <= task.threshold)
    np.testing.assert_array_equal(task.starts, task.tokens[-8:])
    assert landscape(task.starts).min() >= np.sort(task.y)[-8]
    assert task.y_std.mean() == pytest.approx(0.0, abs=1e-9) and task.y_std.std(ddof=1) == pytest.approx(1.0)


def test_gradient_ascent_raises_its_proxy(task):
    proxy = fit_mlp_proxy(task.tokens, task.y_std, seed=0, hidden=16, epochs=3)
    X0 = init_designs(task.starts, seed=0)
    seqs = gradient_ascent(proxy, X0, steps=10)

    def score(s):
        return proxy(torch.nn.functional.one_hot(torch.as_tensor(s), 4).flatten(1).float()).squeeze(-1)

    assert score(seqs[-1]).mean() > score(task.starts).mean() + 0.2
    assert torch.all(score(seqs[-1]) >= score(task.starts))


# ------------------------------------------------------------------------------------------- bad input
def test_bad_arguments_raise_value_errors_naming_them(landscape, encoder, task):
    loss = BidirectionalLoss(encoder.embed_sequences(task.tokens), torch.tensor(task.y_std))
    X0 = init_designs(task.starts, seed=0).double()
    with pytest.raises(ValueError, match="gamma"):
        AdaptiveGamma(4, gamma0=1.5)
    with pytest.raises(ValueError, match="gamma"):
        design(encoder, loss, X0, gamma=-0.1)
    with pytest.raises(ValueError, match="steps"):
        design(encoder, loss, X0, steps=0)
    with pytest.raises(ValueError, match="candidates"):
        design(encoder, loss, X0[:0])
    with pytest.raises(ValueError, match="mode"):
        design(encoder, loss, X0, mode="sideways")
    with pytest.raises(ValueError, match="aux"):
        design(encoder, loss, X0, adaptive_gamma=True)
    with pytest.raises(ValueError, match="n_offline"):
        OfflineTask(landscape, n_offline=4**6 + 1)
    with pytest.raises(ValueError, match="n_starts"):
        dataclasses.replace(SMOKE, n_starts=0)
    with pytest.raises(ValueError, match="seqs"):
        encode(["ACGU"])
    with pytest.raises(ValueError, match="gamma"):
        dataclasses.replace(SMOKE, gamma=2.0)
    with pytest.raises(ValueError, match="encoders"):
        dataclasses.replace(SMOKE, encoders=("esm",))
    assert "".join(ALPHABET) == "ACGT"


# ------------------------------------------------------------------------------------------- runners
FAST = dataclasses.replace(SMOKE, n_offline=300, n_starts=4, steps=3, encoders=("random", "onehot"), ga_epochs=1)


def test_same_seed_same_numbers_and_seeds_differ():
    run = BENCHMARK.run["smoke"]
    a, b, c = run(FAST, 0), run(FAST, 0), run(FAST, 1)
    assert a.metrics == b.metrics and a.series == b.series
    assert a.metrics != c.metrics
    assert {"random/bib/median", "onehot/bib_eta/eta_shift", "ga_mlp/distance", "start/median"} <= set(a.metrics)


def test_paper_scale_starts_on_a_local_tiny_bert_and_table(tmp_path, tiny_config):
    from transformers import BertTokenizer

    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=3)]
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *kmers[::-1]]))
    BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=False).save_pretrained(tmp_path)
    bert = build_bert(dataclasses.replace(tiny_config, length=5))
    bert.config.vocab_size = 69
    bert.resize_token_embeddings(69)
    bert.save_pretrained(tmp_path)
    x = all_sequences(5)
    np.savez(tmp_path / "table.npz", x=x, y=np.random.default_rng(0).normal(size=len(x)))
    config = dataclasses.replace(
        PAPER,
        task=str(tmp_path / "table.npz"),
        hub_model=str(tmp_path),
        n_offline=100,
        n_starts=4,
        steps=2,
        ga_epochs=1,
        device="cpu",
        length=5,
    )
    result = BENCHMARK.run["paper"](config, 0)
    assert 0.0 <= result.metrics["hub/bib/median"] <= 1.0
    assert len(result.series["hub/bib/gamma_per_step"]) == 2


def test_synthetic_landscape_is_drawn_per_seed_unless_fixed():
    from paperzoo.bib.experiment import ExperimentConfig, load_landscape

    config = ExperimentConfig()
    a, b, a_again = (load_landscape(config, s).y for s in (0, 1, 0))
    assert np.array_equal(a, a_again) and not np.allclose(a, b)
    fixed = dataclasses.replace(config, landscape_seed=7)
    assert np.array_equal(load_landscape(fixed, 0).y, load_landscape(fixed, 1).y)
