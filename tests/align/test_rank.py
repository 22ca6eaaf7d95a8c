"""Maps determined by the anchors, or refused: order invariance, numerical rank, null space."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from semalign.align import (
    METHODS,
    SCALINGS,
    Aligner,
    anchor_rank,
    needed_rank,
    rank_problem,
    rank_tolerance,
)
from semalign.errors import InputError, RankDeficientError

EPS32 = float(np.finfo(np.float32).eps)


def _anchor_sets() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    # the reproducer: 16 anchors in 384 dimensions
    few = (rng.normal(size=(16, 384)), rng.normal(size=(16, 384)), rng.normal(size=(5, 384)))
    # duplicated anchors: 40 distinct pairs, each repeated 3 times, 24 dimensions
    base_x, base_y = rng.normal(size=(40, 24)), rng.normal(size=(40, 24))
    dup = (np.tile(base_x, (3, 1)), np.tile(base_y, (3, 1)), rng.normal(size=(5, 24)))
    dup_low = (np.tile(base_x[:10], (6, 1)), np.tile(base_y[:10], (6, 1)), rng.normal(size=(5, 24)))
    # more anchors than dimensions, full rank
    many = (rng.normal(size=(60, 8)), rng.normal(size=(60, 6)), rng.normal(size=(5, 8)))
    return {"k16-d384": few, "dup-full": dup, "dup-rank10": dup_low, "k60-d8": many}


SETS = _anchor_sets()


def _fit(method: str, scaling: str, x: np.ndarray, y: np.ndarray) -> Aligner | None:
    """The fitted map, or None when it refuses the anchors (too few rows, or too low a rank)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sgd-affine may stop at max_iter: order must not matter
        try:
            return Aligner(method, scaling, max_iter=300).fit(x, y)
        except InputError:  # RankDeficientError, or fewer rows than min_anchors
            return None


@pytest.mark.parametrize("name", sorted(SETS))
@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", METHODS)
def test_fit_on_permuted_anchors_gives_the_same_map(method: str, scaling: str, name: str) -> None:
    x, y, new = SETS[name]
    perm = np.random.default_rng(1).permutation(x.shape[0])
    a, b = _fit(method, scaling, x, y), _fit(method, scaling, x[perm], y[perm])
    assert (a is None) == (b is None)
    if a is None or b is None:
        assert method in {"linear", "affine", "sgd-affine"}
        return
    ta, tb = a.transform(new), b.transform(new)
    assert np.linalg.norm(ta - tb) <= 1e-8 * np.linalg.norm(ta)
    assert (a.rank_, a.null_space_) == (b.rank_, b.null_space_)


def _preprocessed(x: np.ndarray, scaling: str) -> np.ndarray:
    """Independent re-implementation of the source preprocessing."""
    z = x.copy()
    if scaling in {"center", "standard", "center-l2"}:
        z = z - z.mean(axis=0)
    if scaling in {"std", "standard"}:
        sd = z.std(axis=0) if scaling == "standard" else (x - x.mean(axis=0)).std(axis=0)
        z = z / np.where(sd > 0, sd, 1.0)
    if scaling in {"l2", "center-l2"}:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return z


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", ["orthogonal", "affine"])
def test_anchor_rank_matches_matrix_rank_with_the_documented_tolerance(
    method: str, scaling: str
) -> None:
    rng = np.random.default_rng(5)
    d = 30
    distinct = rng.normal(size=(12, d)) + 2.0
    # 12 distinct anchors, each seen 4 times with float32-rounding-sized differences
    x = np.repeat(distinct, 4, axis=0) * (1 + EPS32 * rng.normal(size=(48, d)))
    z = _preprocessed(x, scaling)
    if method == "affine":
        z = z - z.mean(axis=0)
    sv = np.linalg.svd(z, compute_uv=False)
    expected = np.linalg.matrix_rank(z, tol=d * EPS32 * sv.max())
    assert anchor_rank(x, method, scaling) == expected
    centred = method == "affine" or scaling in {"center", "standard", "center-l2"}
    assert expected == (11 if centred else 12)


def test_rank_deficient_least_squares_is_refused_with_rank_and_advice() -> None:
    rng = np.random.default_rng(3)
    x = np.tile(rng.normal(size=(30, 64)), (20, 1))  # 600 rows, 30 distinct: rank 29 centred
    y = np.tile(rng.normal(size=(30, 32)), (20, 1))
    for method in ("linear", "sgd-affine"):
        with pytest.raises(RankDeficientError, match=r"rank 29 .*needs rank 64"):
            Aligner(method, "standard").fit(x, y)
    with pytest.raises(RankDeficientError, match=r"rank 30 .*needs rank 64"):
        Aligner("linear", "none").fit(x, y)
    with pytest.raises(RankDeficientError, match="rank 29 after scaling 'standard'") as err:
        Aligner("affine", "standard").fit(x, y)
    assert (err.value.rank, err.value.needed) == (29, 64)
    message = str(err.value)
    assert "600 source anchors" in message and "ridge" in message
    assert "at most 29 dimensions" in message and "distinct anchors" in message
    assert rank_problem(x, "affine", "standard") == message
    assert rank_problem(x, "ridge", "standard") is None
    assert rank_problem(x, "sgd-affine", "standard", alpha=0.5) is None
    assert "at least 65 anchors" in (rank_problem(x[:10], "affine", "standard") or "")
    ridge = Aligner("ridge", "standard").fit(x, y)
    assert (ridge.rank_, ridge.null_space_) == (29, "zero")
    assert needed_rank("linear", 64) == 64 and needed_rank("orthogonal", 64) == 0


def test_streaming_fit_applies_the_same_rank_rule() -> None:
    rng = np.random.default_rng(4)
    x = np.tile(rng.normal(size=(30, 40)), (4, 1))
    y = np.tile(rng.normal(size=(30, 20)), (4, 1))
    stream = Aligner("affine", "center")
    for lo in range(0, 120, 25):
        stream.partial_fit(x[lo : lo + 25], y[lo : lo + 25])
    with pytest.raises(RankDeficientError, match="rank 29"):
        stream.transform(x[:2])
    ortho = Aligner("orthogonal", "center-l2").fit_stream(
        lambda: ((x[lo : lo + 25], y[lo : lo + 25]) for lo in range(0, 120, 25))
    )
    batch = Aligner("orthogonal", "center-l2").fit(x, y)
    assert ortho.rank_ == batch.rank_ == 29
    np.testing.assert_allclose(ortho.transform(x), batch.transform(x), atol=1e-10)


def test_undetermined_directions_are_sent_to_zero() -> None:
    """Oracle: the partial isometry is isometric on the anchors' span and zero off it."""
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 50)), rng.normal(size=(16, 50))
    for method in ("orthogonal", "similarity", "lstsq-orthogonal", "ridge"):
        fitted = Aligner(method, "none").fit(x, y)
        w = fitted.weight_
        basis = np.linalg.svd(x, full_matrices=True)[2]  # rows 16.. span the complement
        off_span = basis[16:]
        assert np.abs(off_span @ w).max() <= 1e-10 * np.abs(w).max(), method
        centred_rank = 15 if method == "ridge" else 16  # ridge has a bias: centred anchors
        assert (fitted.rank_, fitted.null_space_) == (centred_rank, "zero")
        if method == "orthogonal":
            sv = np.linalg.svd(w, compute_uv=False)
            np.testing.assert_allclose(sv[:16], 1.0, atol=1e-10)
            assert sv[16:].max() < 1e-10
    full = Aligner("orthogonal", "none").fit(rng.normal(size=(80, 10)), rng.normal(size=(80, 10)))
    assert (full.rank_, full.null_space_) == (10, "none")
    assert rank_tolerance(384) == pytest.approx(384 * EPS32)
