"""The thin path (n < d_s: everything from the n x n Gram) against the d x d reference.

Oracles: ``_reference.reference_fit`` (plain d x d eigendecomposition, no library code) and the
library's own moments path (``fit_moments``), which streaming fits use and which never takes
the thin path.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from semalign.align import METHODS, SCALINGS, Aligner, AnchorSet, anchor_rank
from semalign.errors import InputError, RankDeficientError

from ._reference import preprocess, reference_fit

CLOSED = [m for m in METHODS if m not in {"sgd-affine", "ridge-cv"}]
#: methods with a moments (streaming) fit: ridge-cv needs the anchors at hand
STREAMED = [m for m in METHODS if m != "ridge-cv"]


def _offset(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d) + rng.normal(size=d) * 3


def _sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(21)
    low = rng.normal(size=(24, 5)) @ rng.normal(size=(5, 40)) + rng.normal(size=40)
    distinct_x, distinct_y = _offset(rng, 10, 32), _offset(rng, 10, 28)
    order = rng.permutation(30)
    many_x, many_y = _offset(rng, 12, 20), _offset(rng, 12, 16)
    return {
        # fewer anchors than dimensions, unequal widths both ways
        "n16-48to40": (_offset(rng, 16, 48), _offset(rng, 16, 40)),
        "n12-30to60": (_offset(rng, 12, 30), _offset(rng, 12, 60)),
        # fewer anchors than the target too: the map has full rank d_t ("none" null space)
        "n10-50to6": (_offset(rng, 10, 50), _offset(rng, 10, 6)),
        # rank 5 (+1 for the offset) with 24 rows in 40 dimensions
        "rank5-n24-d40": (low, _offset(rng, 24, 36)),
        # 10 distinct pairs, each three times, shuffled: rank 10 (9 centred) with 30 rows
        "dup-n30-d32": (np.tile(distinct_x, (3, 1))[order], np.tile(distinct_y, (3, 1))[order]),
        # more rows than dimensions but rank-deficient (the d x d path with a span)
        "dup-n48-d20": (np.tile(many_x, (4, 1)), np.tile(many_y, (4, 1))),
        # more rows than dimensions, full rank
        "n80-d12": (_offset(rng, 80, 12), _offset(rng, 80, 9)),
    }


SETS = _sets()


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _fit(aligner: Aligner, x: np.ndarray, y: np.ndarray) -> Aligner | RankDeficientError | None:
    try:
        return aligner.fit(x, y)
    except RankDeficientError as exc:
        return exc
    except InputError:  # fewer rows than min_anchors: refused before any rank is counted
        return None


@pytest.mark.parametrize("name", sorted(SETS))
@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", CLOSED)
def test_fit_equals_the_d_by_d_reference(method: str, scaling: str, name: str) -> None:
    x, y = SETS[name]
    perm = np.random.default_rng(2).permutation(x.shape[0])
    ref = reference_fit(method, scaling, x, y)
    for xs, ys in ((x, y), (x[perm], y[perm])):
        got = _fit(Aligner(method, scaling), xs, ys)
        if got is None:
            assert method in {"linear", "affine"} and x.shape[0] <= x.shape[1]
            continue
        if isinstance(got, RankDeficientError):
            assert ref.weight is None
            assert (got.rank, got.needed) == (ref.rank, ref.needed)
            continue
        assert ref.weight is not None and ref.bias is not None
        assert got.rank_ == ref.rank
        assert rel(got.weight_, ref.weight) <= 1e-10, rel(got.weight_, ref.weight)
        assert np.linalg.norm(got.bias_ - ref.bias) <= 1e-10 * max(1.0, np.linalg.norm(ref.bias))
        assert got.scale_ == pytest.approx(ref.scale, rel=1e-10)
        np.testing.assert_allclose(
            got.source_scaler_.transform(x), preprocess(x, scaling), rtol=0, atol=1e-12
        )
        if ref.map_rank is not None:
            zero = ref.map_rank < min(x.shape[1], y.shape[1])
        else:
            zero = ref.rank < x.shape[1]
        assert got.null_space_ == ("zero" if zero else "none")


@pytest.mark.parametrize("name", sorted(SETS))
@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", STREAMED)
def test_fit_equals_the_moments_path(method: str, scaling: str, name: str) -> None:
    """``fit`` (thin when n < d_s) against ``fit_moments`` (always d x d), sgd-affine with
    weight decay included; the refusal carries the same numbers."""
    x, y = SETS[name]
    params = {"alpha": 0.3, "max_iter": 300} if method == "sgd-affine" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sgd-affine may stop at max_iter: both paths alike
        got = _fit(Aligner(method, scaling, **params), x, y)
        if got is None:
            return
        stream = Aligner(method, scaling, **params)
        try:
            centre = (x.mean(axis=0), y.mean(axis=0)) if scaling == "center-l2" else None
            stream.fit_moments(stream.block_moments(x, y, centre), centre)
        except RankDeficientError as exc:
            assert isinstance(got, RankDeficientError)
            assert (got.rank, got.needed, str(got)) == (exc.rank, exc.needed, str(exc))
            return
    assert isinstance(got, Aligner)
    assert (got.rank_, got.null_space_) == (stream.rank_, stream.null_space_)
    assert got.n_iter_ == stream.n_iter_
    new = np.random.default_rng(3).normal(size=(5, x.shape[1])) + x.mean(axis=0)
    assert rel(got.transform(new), stream.transform(new)) <= 1e-9


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", ["orthogonal", "ridge", "affine"])
def test_anchor_rank_is_the_same_on_both_paths(method: str, scaling: str) -> None:
    for x, _ in SETS.values():
        assert anchor_rank(x, method, scaling) == reference_fit(method, scaling, x, x).rank


@pytest.mark.parametrize("scaling", ["none", "standard", "l2"])
def test_partial_fit_after_a_thin_fit_keeps_the_first_anchors(scaling: str) -> None:
    x, y = SETS["n16-48to40"]
    more_x, more_y = (
        _offset(np.random.default_rng(4), 9, 48),
        _offset(np.random.default_rng(5), 9, 40),
    )
    both = Aligner("orthogonal", scaling).fit(x, y).partial_fit(more_x, more_y)
    once = Aligner("orthogonal", scaling).fit(np.vstack([x, more_x]), np.vstack([y, more_y]))
    assert both.n_anchors_ == once.n_anchors_ == 25
    assert rel(both.weight_, once.weight_) <= 1e-9


@pytest.mark.parametrize("name", sorted(SETS))
def test_anchor_set_shares_work_and_gives_the_same_maps(name: str) -> None:
    x, y = SETS[name]
    anchors = AnchorSet(x, y)
    new = np.random.default_rng(6).normal(size=(4, x.shape[1])) + x.mean(axis=0)
    for scaling in SCALINGS:
        for method in METHODS:
            params = {"alpha": 0.3, "max_iter": 50} if method == "sgd-affine" else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                alone = _fit(Aligner(method, scaling, **params), x, y)
                try:
                    shared: Aligner | RankDeficientError | None = anchors.fit(
                        method, scaling, **params
                    )
                except RankDeficientError as exc:
                    shared = exc
                except InputError:
                    shared = None
            if not isinstance(alone, Aligner) or not isinstance(shared, Aligner):
                assert type(alone) is type(shared), (method, scaling)
                if isinstance(alone, RankDeficientError):
                    assert isinstance(shared, RankDeficientError)
                    assert (alone.rank, str(alone)) == (shared.rank, str(shared))
                continue
            assert (shared.rank_, shared.null_space_) == (alone.rank_, alone.null_space_)
            assert rel(shared.transform(new), alone.transform(new)) <= 1e-12
    # one preprocessed set per scaling on the thin path; the per-dimension scalings share moments
    assert len(anchors._thin) == (len(SCALINGS) if x.shape[0] < x.shape[1] else 0)
    assert len(anchors._moments) <= 3
