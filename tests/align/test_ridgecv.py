"""ridge-cv: the penalty chosen on the anchors by k-fold cross-validation, against planted
ground truth and a direct per-alpha solve."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.align import Aligner, AnchorSet, load_aligner, read_metadata
from semalign.align.preprocessing import prepare
from semalign.align.ridgecv import GRID_EXPONENTS, RidgePath, choose_alpha, content_folds
from semalign.errors import InputError


def _planted(n: int, d_s: int, d_t: int, noise: float, seed: int = 0):
    """Anisotropic sources, a planted affine map and noisy targets; 400 fresh rows to score."""
    rng = np.random.default_rng(seed)
    spread = np.geomspace(3.0, 0.05, d_s)
    w = rng.normal(size=(d_s, d_t)) / np.sqrt(d_s)
    b = rng.normal(size=d_t)
    x = rng.normal(size=(n + 400, d_s)) * spread + 2.0
    y = x @ w + b + noise * rng.normal(size=(n + 400, d_t))
    return x[:n], y[:n], x[n:], x[n:] @ w + b


def _direct(z: np.ndarray, t: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    zc, tc = z - z.mean(0), t - t.mean(0)
    w = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ tc)
    return w, t.mean(0) - z.mean(0) @ w


@pytest.mark.parametrize("n,d_s", [(30, 40), (120, 25)])
def test_ridge_path_equals_a_direct_solve_for_each_alpha(n: int, d_s: int) -> None:
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(n, d_s)) + 1.0, rng.normal(size=(n, 7))
    path = RidgePath(z, t)
    new = rng.normal(size=(5, d_s))
    alphas = path.top_eigenvalue * 10.0 ** np.asarray(GRID_EXPONENTS[::3])
    for alpha, pred in zip(alphas, path.predictions(new, alphas), strict=True):
        w, b = _direct(z, t, alpha)  # itself accurate to ~ eps * condition (up to 1e8 here)
        for got, want in [(path.weight(alpha), w), (path.bias(alpha), b), (pred, new @ w + b)]:
            assert np.linalg.norm(got - want) <= 1e-6 * np.linalg.norm(want)


def test_cross_validation_scores_equal_a_brute_force_loop() -> None:
    x, y, _, _ = _planted(50, 20, 6, noise=0.5)
    folds = content_folds(x, y, 5, seed=3)
    cv = choose_alpha(x, y, folds)
    sse = np.zeros(len(cv.alphas))
    for i, alpha in enumerate(cv.alphas):
        for f in range(5):
            held = folds == f
            w, b = _direct(x[~held], y[~held], alpha * (~held).sum() / 50)
            sse[i] += ((x[held] @ w + b - y[held]) ** 2).sum()
    np.testing.assert_allclose(cv.scores, sse / 50, rtol=1e-7)
    assert cv.alpha == cv.alphas[int(np.argmin(sse))]
    assert cv.folds == 5


@pytest.mark.parametrize("n,d_s,noise", [(60, 40, 1.0), (300, 40, 2.0)])
def test_planted_map_recovered_better_than_no_or_a_huge_penalty(
    n: int, d_s: int, noise: float
) -> None:
    x, y, x_new, y_true = _planted(n, d_s, 12, noise)
    cv = Aligner("ridge-cv", "standard").fit(x, y)
    top = RidgePath(*(prepare(a, "standard")[1] for a in (x, y))).top_eigenvalue

    def error(a: Aligner) -> float:
        return float(((a.transform(x_new) - y_true) ** 2).mean())

    tiny = Aligner("ridge", "standard", alpha=1e-9 * top).fit(x, y)
    huge = Aligner("ridge", "standard", alpha=1e4 * top).fit(x, y)
    assert error(cv) < 0.8 * error(tiny)
    assert error(cv) < 0.8 * error(huge)
    assert cv.alpha_ is not None and cv.alpha_ in cv.cv_["alphas"]  # type: ignore[index]
    assert min(cv.cv_["alphas"]) < cv.alpha_ < max(cv.cv_["alphas"])  # type: ignore[index]


@pytest.mark.parametrize("n,d_s", [(24, 40), (90, 16)])
def test_map_is_ridge_at_the_chosen_alpha(n: int, d_s: int) -> None:
    x, y, x_new, _ = _planted(n, d_s, 10, noise=0.5)
    cv = Aligner("ridge-cv", "standard").fit(x, y)
    ref = Aligner("ridge", "standard", alpha=cv.alpha_).fit(x, y)
    np.testing.assert_allclose(cv.transform(x_new), ref.transform(x_new), rtol=1e-10, atol=1e-10)
    shared = AnchorSet(x, y).fit("ridge-cv", "standard")
    assert shared.alpha_ == cv.alpha_
    np.testing.assert_allclose(shared.weight_, cv.weight_, rtol=1e-12, atol=1e-12)


def test_same_anchors_in_any_order_give_the_same_alpha_and_map() -> None:
    x, y, x_new, _ = _planted(70, 30, 8, noise=1.0)
    a = Aligner("ridge-cv", "standard").fit(x, y)
    again = Aligner("ridge-cv", "standard").fit(x.copy(), y.copy())
    perm = np.random.default_rng(5).permutation(70)
    b = Aligner("ridge-cv", "standard").fit(x[perm], y[perm])
    assert a.alpha_ == again.alpha_ == b.alpha_
    assert a.cv_ == again.cv_
    np.testing.assert_allclose(a.cv_["scores"], b.cv_["scores"], rtol=1e-9)  # type: ignore[index]
    np.testing.assert_allclose(a.transform(x_new), b.transform(x_new), rtol=1e-8, atol=1e-10)


def test_folds_follow_contents_and_keep_repeats_together() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 3))
    xd, yd = np.vstack([x, x[:4]]), np.vstack([y, y[:4]])
    folds = content_folds(xd, yd, 5, seed=0)
    np.testing.assert_array_equal(folds[:4], folds[12:])
    perm = rng.permutation(16)
    np.testing.assert_array_equal(content_folds(xd[perm], yd[perm], 5, seed=0), folds[perm])
    assert sorted(np.bincount(content_folds(x, y, 5, seed=0)).tolist()) == [2, 2, 2, 3, 3]
    assert not np.array_equal(content_folds(x, y, 5, seed=1), content_folds(x, y, 5, seed=0))


def test_save_and_load_keep_the_chosen_alpha(tmp_path) -> None:
    x, y, x_new, _ = _planted(40, 30, 8, noise=1.0)
    a = Aligner("ridge-cv", "standard").fit(x, y)
    path = a.save(tmp_path / "cv.safetensors")
    assert float(read_metadata(path)["alpha"]) == a.alpha_
    b = load_aligner(path)
    assert (b.method, b.alpha_, b.cv_) == ("ridge-cv", a.alpha_, a.cv_)
    np.testing.assert_array_equal(b.transform(x_new), a.transform(x_new))


def test_streaming_and_a_fixed_alpha_are_refused_with_the_fix() -> None:
    x, y, _, _ = _planted(40, 10, 4, noise=1.0)
    with pytest.raises(InputError, match="fit\\(X, Y\\) on the anchors at hand"):
        Aligner("ridge-cv", "standard").partial_fit(x, y)
    with pytest.raises(InputError, match="fit\\(X, Y\\) on the anchors at hand"):
        Aligner("ridge-cv", "standard").fit_stream(lambda: iter([(x, y)]))
    with pytest.raises(InputError, match="use method 'ridge' for a fixed alpha"):
        Aligner("ridge-cv", "standard", alpha=2.0).fit(x, y)
