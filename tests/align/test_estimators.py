"""Planted ground truth and independent oracles (scipy, numpy lstsq, scikit-learn) per method."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from sklearn.linear_model import Ridge

from semalign.align import METHODS, SCALINGS, Aligner, ConvergenceWarning
from semalign.errors import InputError, RankDeficientError

from ._planted import planted


def test_orthogonal_matches_scipy_procrustes() -> None:
    x, y, _, _ = planted(500, 24, 24, noise=0.3)
    ours = Aligner("orthogonal", "none").fit(x, y).weight_
    ref, _ = orthogonal_procrustes(x, y)
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_orthogonal_center_matches_scipy_on_centred_data() -> None:
    x, y, _, _ = planted(400, 16, 16, noise=0.5)
    ours = Aligner("orthogonal", "center").fit(x, y)
    ref, _ = orthogonal_procrustes(x - x.mean(0), y - y.mean(0))
    np.testing.assert_allclose(ours.weight_, ref, atol=1e-10)
    np.testing.assert_allclose(ours.transform(x), (x - x.mean(0)) @ ref + y.mean(0), atol=1e-9)


@pytest.mark.parametrize("d_s,d_t", [(12, 20), (20, 12)])
def test_orthogonal_unequal_widths_equals_explicit_zero_padding(d_s: int, d_t: int) -> None:
    x, y, _, _ = planted(300, d_s, d_t, noise=0.2)
    d = max(d_s, d_t)
    xp = np.zeros((300, d))
    yp = np.zeros((300, d))
    xp[:, :d_s] = x - x.mean(0)
    yp[:, :d_t] = y - y.mean(0)
    r_pad, _ = orthogonal_procrustes(xp, yp)
    expected = (xp @ r_pad)[:, :d_t] + y.mean(0)
    got = Aligner("orthogonal", "center").fit(x, y).transform(x)
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_planted_rotation_recovered() -> None:
    x, y, w, _ = planted(2000, 32, 32, "orthogonal", noise=1e-3)
    aligner = Aligner("orthogonal", "none").fit(x, y)
    assert np.abs(aligner.weight_ - w).max() < 1e-3


def test_planted_similarity_recovered() -> None:
    x, y, w, b = planted(2000, 20, 20, "similarity", noise=1e-3)
    aligner = Aligner("similarity", "center").fit(x, y)
    assert aligner.scale_ == pytest.approx(2.5, rel=1e-3)
    assert np.abs(aligner.weight_ - w).max() < 1e-3
    x_new = np.random.default_rng(9).normal(size=(50, 20))
    np.testing.assert_allclose(aligner.transform(x_new), x_new @ w + b, atol=1e-2)


@pytest.mark.parametrize("method", ["affine", "ridge", "sgd-affine"])
def test_planted_affine_recovered(method: str) -> None:
    x, y, w, b = planted(3000, 16, 24, "affine", noise=1e-3)
    params = {"alpha": 1e-6} if method == "ridge" else {}
    # gradient descent is run as users should run it: on standardised anchors
    scaling = "standard" if method == "sgd-affine" else "none"
    aligner = Aligner(method, scaling, **params).fit(x, y)
    if scaling == "none":
        assert np.abs(aligner.weight_ - w).max() < 1e-3
        assert np.abs(aligner.bias_ - b).max() < 1e-2
    x_new = np.random.default_rng(7).normal(size=(100, 16)) * 2
    np.testing.assert_allclose(aligner.transform(x_new), x_new @ w + b, atol=1e-2)


def test_linear_and_affine_match_numpy_lstsq() -> None:
    x, y, _, _ = planted(300, 10, 7, "affine", noise=0.5)
    w_lin = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(Aligner("linear", "none").fit(x, y).weight_, w_lin, atol=1e-9)
    aug = np.hstack([x, np.ones((300, 1))])
    sol = np.linalg.lstsq(aug, y, rcond=None)[0]
    fitted = Aligner("affine", "none").fit(x, y)
    np.testing.assert_allclose(fitted.weight_, sol[:-1], atol=1e-9)
    np.testing.assert_allclose(fitted.bias_, sol[-1], atol=1e-9)


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1000.0])
def test_ridge_matches_sklearn(alpha: float) -> None:
    x, y, _, _ = planted(200, 15, 9, "affine", noise=0.5)
    ref = Ridge(alpha=alpha, fit_intercept=True, solver="svd").fit(x, y)
    ours = Aligner("ridge", "none", alpha=alpha).fit(x, y)
    np.testing.assert_allclose(ours.weight_, ref.coef_.T, atol=1e-8)
    np.testing.assert_allclose(ours.bias_, ref.intercept_, atol=1e-8)


def test_lstsq_orthogonal_is_polar_factor_of_lstsq() -> None:
    x, y, _, _ = planted(400, 12, 12, "affine", noise=0.1)
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    u, _, vt = np.linalg.svd(w)
    ours = Aligner("lstsq-orthogonal", "none").fit(x, y).weight_
    np.testing.assert_allclose(ours, u @ vt, atol=1e-8)
    np.testing.assert_allclose(ours.T @ ours, np.eye(12), atol=1e-10)


def test_sgd_affine_is_seeded_and_converges_to_closed_form() -> None:
    x, y, _, _ = planted(500, 8, 6, "affine", noise=0.2)
    a = Aligner("sgd-affine", "standard", seed=3).fit(x, y)
    b = Aligner("sgd-affine", "standard", seed=3).fit(x, y)
    np.testing.assert_array_equal(a.weight_, b.weight_)
    closed = Aligner("affine", "standard").fit(x, y)
    np.testing.assert_allclose(a.transform(x), closed.transform(x), atol=1e-4)
    assert a.converged_ and 0 < a.n_iter_ < a.max_iter
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        early = [Aligner("sgd-affine", "standard", seed=s, max_iter=3).fit(x, y) for s in (1, 2)]
    assert not early[0].converged_ and early[0].n_iter_ == 3
    assert not np.allclose(early[0].weight_, early[1].weight_)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scaling", ["standard", "center-l2"])
def test_outputs_in_target_units(method: str, scaling: str) -> None:
    """Target preprocessing is undone: a rotated, rescaled, shifted sphere maps onto its image."""
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4000, 10))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    rot = np.linalg.qr(rng.normal(size=(10, 10)))[0]
    x = 3.0 * z + rng.normal(size=10)
    y = 5.0 * z @ rot + 100.0
    pred = Aligner(method, scaling).fit(x, y).transform(x)
    rel = np.linalg.norm(pred - y) / np.linalg.norm(y - y.mean(0))
    assert rel < 0.06, rel


@pytest.mark.parametrize(
    "method,scaling,needed",
    [
        ("linear", "none", 10),
        ("linear", "standard", 11),
        ("affine", "none", 11),
        ("orthogonal", "standard", 2),
    ],
)
def test_too_few_anchors_says_how_many(method: str, scaling: str, needed: int) -> None:
    x, y, _, _ = planted(needed - 1, 10, 10)
    with pytest.raises(InputError, match=f"at least {needed} anchors"):
        Aligner(method, scaling).fit(x, y)
    Aligner(method, scaling).fit(*planted(needed, 10, 10)[:2])


def test_few_anchors_work_for_orthogonal_and_ridge() -> None:
    x, y, _, _ = planted(16, 64, 48)
    for method in ("orthogonal", "similarity", "lstsq-orthogonal", "ridge"):
        fitted = Aligner(method, "standard").fit(x, y)
        out = fitted.transform(x)
        assert out.shape == (16, 48) and np.isfinite(out).all()
        assert (fitted.rank_, fitted.null_space_) == (15, "zero")
    decayed = Aligner("sgd-affine", "standard", alpha=0.1, max_iter=20000, tol=1e-6).fit(x, y)
    assert decayed.converged_ and decayed.rank_ == 15


def test_bad_inputs_are_named() -> None:
    x, y, _, _ = planted(50, 4, 4)
    with pytest.raises(InputError, match="source has 50 rows, target 49"):
        Aligner().fit(x, y[:49])
    x_nan = x.copy()
    x_nan[7, 2] = np.nan
    with pytest.raises(InputError, match="first: row 7"):
        Aligner().fit(x_nan, y)
    with pytest.raises(InputError, match="unknown method 'procrustes'"):
        Aligner("procrustes").fit(x, y)
    with pytest.raises(InputError, match="unknown scaling"):
        Aligner(scaling="zscore").fit(x, y)
    with pytest.raises(InputError, match="2-D"):
        Aligner().fit(x[0], y[0])
    fitted = Aligner().fit(x, y)
    with pytest.raises(InputError, match=r"expects \(n, 4\)"):
        fitted.transform(np.zeros((3, 5)))


def test_constant_dimensions_do_not_divide_by_zero() -> None:
    x, y, _, _ = planted(200, 6, 6)
    x[:, 2] = 4.0
    y[:, 0] = 0.0
    for scaling in SCALINGS:
        out = Aligner("ridge", scaling).fit(x, y).transform(x)
        assert np.isfinite(out).all(), scaling
    for scaling in ("center", "standard"):  # a constant source dimension: affine is undetermined
        with pytest.raises(RankDeficientError, match="rank 5 after scaling") as err:
            Aligner("affine", scaling).fit(x, y)
        assert (err.value.rank, err.value.needed) == (5, 6)
