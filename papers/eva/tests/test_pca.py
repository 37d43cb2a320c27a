"""The torch incremental PCA: against scikit-learn, against a full SVD, on data with a known subspace; convergence."""

import numpy as np
import pytest
import torch

from paperzoo.eva import IncrementalPCA, converged_components, svd_flip_rows


def batches(seed=0, n=5, rows=40, d=12, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=dtype)
    return [torch.randn(rows, d, generator=g, dtype=dtype) @ mix + 3.0 for _ in range(n)]


def principal_cosines(a, b):
    """Cosines of the principal angles between the row spaces of a and b (both orthonormal rows)."""
    return torch.linalg.svdvals(a.double() @ b.double().T)


def test_equals_sklearn_incremental_pca_on_the_same_batches():
    from sklearn.decomposition import IncrementalPCA as SkIPCA

    xs = batches()
    ours, ref = IncrementalPCA(5, svd="full"), SkIPCA(n_components=5)
    for x in xs:
        ours.partial_fit(x)
        ref.partial_fit(x.numpy())
    comps = ours.components_.numpy()
    signs = np.sign((comps * ref.components_).sum(axis=1))
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-8)
    np.testing.assert_allclose(signs, 1.0)  # the same svd_flip convention: even the signs agree
    np.testing.assert_allclose(ours.explained_variance_ratio_.numpy(), ref.explained_variance_ratio_, rtol=1e-5)
    np.testing.assert_allclose(ours.explained_variance_.numpy(), ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(ours.singular_values_.numpy(), ref.singular_values_, rtol=1e-8)
    np.testing.assert_allclose(ours.mean_.numpy(), ref.mean_, atol=1e-10)
    np.testing.assert_allclose(ours.var_.numpy(), ref.var_, rtol=1e-10)
    assert ours.n_samples_seen_ == ref.n_samples_seen_


def test_all_components_equal_a_full_svd_of_the_stacked_centred_data():
    """With k = d nothing is truncated: the incremental result is exactly the PCA of all rows at once."""
    xs = batches(seed=1, d=8)
    pca = IncrementalPCA(8, svd="full")
    for x in xs:
        pca.partial_fit(x)
    stacked = torch.cat(xs)
    centred = stacked - stacked.mean(0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    torch.testing.assert_close(pca.singular_values_, s, rtol=1e-10, atol=1e-10)
    assert principal_cosines(pca.components_[:3], vt[:3]).min() > 1 - 1e-10
    torch.testing.assert_close((pca.components_ * vt).sum(1).abs(), torch.ones(8, dtype=torch.float64))
    total = centred.square().sum()
    torch.testing.assert_close(pca.explained_variance_ratio_, s.square() / total)
    torch.testing.assert_close(pca.explained_variance_ratio_.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(pca.explained_variance_, s.square() / (len(stacked) - 1))


def test_centred_not_raw_svd():
    """A large mean offset must not show up as a component (peft's PCA is mean-centred; a raw SVD would find it)."""
    g = torch.Generator().manual_seed(2)
    offset = torch.zeros(6, dtype=torch.float64)
    offset[0] = 100.0
    x = torch.randn(200, 6, generator=g, dtype=torch.float64) * torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1, 5.0]) + offset
    pca = IncrementalPCA(1, svd="full").partial_fit(x[:100]).partial_fit(x[100:])
    assert abs(float(pca.components_[0, 5])) > 0.99  # the high-variance direction, not the mean's


def test_gaussian_data_with_a_known_low_rank_covariance_recovers_the_subspace():
    g = torch.Generator().manual_seed(3)
    d, k = 40, 4
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    pca = IncrementalPCA(k, svd="lowrank")
    for _ in range(20):
        z = torch.randn(256, k, generator=g, dtype=torch.float64) * torch.tensor([10.0, 8.0, 6.0, 5.0])
        x = z @ basis.T + 0.05 * torch.randn(256, d, generator=g, dtype=torch.float64)
        pca.partial_fit(x)
    angles = torch.arccos(principal_cosines(pca.components_, basis.T).clamp(max=1.0))
    assert float(angles.max()) < 1e-2


def test_lowrank_svd_matches_the_exact_one_on_low_rank_data():
    xs = [x[:, :3] @ torch.randn(3, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
          for x in batches(seed=4)]  # fmt: skip
    full, low = IncrementalPCA(3, svd="full"), IncrementalPCA(3, svd="lowrank")
    for x in xs:
        full.partial_fit(x)
        low.partial_fit(x)
    assert principal_cosines(full.components_, low.components_).min() > 1 - 1e-8
    torch.testing.assert_close(low.explained_variance_ratio_, full.explained_variance_ratio_, rtol=1e-6, atol=1e-9)


def test_lowrank_is_seeded_and_leaves_the_global_rng_alone():
    xs = batches(seed=5, dtype=torch.float32)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = IncrementalPCA(4), IncrementalPCA(4)
    for x in xs:
        a.partial_fit(x)
        b.partial_fit(x)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a.components_, b.components_)


def test_components_are_orthonormal_and_sign_fixed():
    pca = IncrementalPCA(5).partial_fit(batches(seed=6, dtype=torch.float32)[0])
    c = pca.components_
    assert c.dtype == torch.float64  # the default working precision
    torch.testing.assert_close(c @ c.T, torch.eye(5, dtype=c.dtype), atol=1e-10, rtol=0)
    idx = c.abs().argmax(dim=1)
    assert bool((c[torch.arange(5), idx] > 0).all())


def test_svd_flip_rows_keeps_the_product():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    u, s, vt = torch.linalg.svd(x, full_matrices=False)
    u2, vt2 = svd_flip_rows(u, -vt)
    torch.testing.assert_close(u2 @ torch.diag(s) @ vt2, -x)
    assert bool((vt2[torch.arange(4), vt2.abs().argmax(1)] > 0).all())


def test_convergence_is_the_cosine_threshold():
    prev = torch.eye(3)
    cur = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.99, 0.141], [0.0, 0.0, -1.0]])
    # cosines: 1, 0.99 / |(0.99, 0.141)| = 0.99001..., -1 (a sign flip is not converged, as in peft)
    assert converged_components(cur, prev, 0.99).tolist() == [True, True, False]
    assert converged_components(cur, prev, 0.9901).tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: IncrementalPCA(0), "n_components"),
        (lambda: IncrementalPCA(2, svd="randomized"), "svd"),
        (lambda: IncrementalPCA(4, lowrank_q=2), "lowrank_q"),
        (lambda: IncrementalPCA(13).partial_fit(torch.randn(20, 12)), "n_components"),
        (lambda: IncrementalPCA(5).partial_fit(torch.randn(4, 12)), "samples"),
        (lambda: IncrementalPCA(2).partial_fit(torch.randn(20, 12)).partial_fit(torch.randn(20, 11)), "features"),
        (lambda: IncrementalPCA(2).partial_fit(torch.randn(2, 3, 4)), "2-D"),
        (lambda: IncrementalPCA(2).transform(torch.randn(3, 4)), "fitted"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_float32_working_precision_agrees():
    xs = batches(seed=8)
    a, b = IncrementalPCA(4, svd="full"), IncrementalPCA(4, svd="full", dtype=torch.float32)
    for x in xs:
        a.partial_fit(x)
        b.partial_fit(x)
    assert b.components_.dtype == torch.float32
    assert principal_cosines(a.components_, b.components_).min() > 1 - 1e-5
    with pytest.raises(ValueError, match="dtype"):
        IncrementalPCA(2, dtype=torch.float16)
