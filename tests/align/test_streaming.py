"""partial_fit / fit_stream over chunks equals the one-shot fit, in O(d^2) memory."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from semalign.align import METHODS, SCALINGS, Aligner
from semalign.align.estimators import CLOSED_FORM
from semalign.errors import InputError

from ._planted import planted

#: methods with a streaming fit: ridge-cv needs the anchors at hand
STREAMED = [m for m in METHODS if m != "ridge-cv"]

BOUNDS = [0, 1, 37, 38, 200, 611, 999, 1200]  # uneven chunks, including a 1-row chunk


def chunks(x: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for lo, hi in itertools.pairwise(BOUNDS):
        yield x[lo:hi], y[lo:hi]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("method", sorted(CLOSED_FORM))
@pytest.mark.parametrize("scaling", SCALINGS)
def test_streaming_equals_batch(method: str, scaling: str) -> None:
    x, y, _, _ = planted(1200, 14, 9, "affine", noise=0.3)
    # A large offset: naive sum-of-squares accumulation would lose digits here. Without
    # centring, least squares on such data is itself ill-posed, so those cases get a mild one.
    x += 1e4 if scaling in {"center", "standard", "center-l2"} else 10.0
    batch = Aligner(method, scaling).fit(x, y)
    stream = Aligner(method, scaling).fit_stream(lambda: chunks(x, y))
    assert stream.n_anchors_ == 1200
    assert rel(stream.weight_, batch.weight_) <= 1e-8
    assert rel(stream.bias_, batch.bias_) <= 1e-8 or np.allclose(batch.bias_, 0)
    probe = x[:50]
    assert rel(stream.transform(probe), batch.transform(probe)) <= 1e-8
    if scaling != "center-l2":
        incremental = Aligner(method, scaling)
        for xc, yc in chunks(x, y):
            incremental.partial_fit(xc, yc)
        assert rel(incremental.weight_, batch.weight_) <= 1e-8


def test_sgd_affine_streams_exactly_too() -> None:
    x, y, _, _ = planted(600, 6, 5, "affine")
    batch = Aligner("sgd-affine", "standard", max_iter=300).fit(x, y)
    stream = Aligner("sgd-affine", "standard", max_iter=300)
    for lo in range(0, 600, 128):
        stream.partial_fit(x[lo : lo + 128], y[lo : lo + 128])
    assert rel(stream.weight_, batch.weight_) <= 1e-8


def test_memory_does_not_grow_with_anchors() -> None:
    rng = np.random.default_rng(0)
    aligner = Aligner("affine", "standard")
    sizes = []
    for _ in range(20):
        aligner.partial_fit(rng.normal(size=(500, 8)), rng.normal(size=(500, 5)))
        m = aligner._moments
        assert m is not None
        sizes.append(sum(v.nbytes for v in vars(m).values() if isinstance(v, np.ndarray)))
    assert len(set(sizes)) == 1
    assert sizes[0] <= 8 * (8 * 5 + 8 * 8 + 2 * (8 + 5)) + 1


def test_partial_fit_refuses_center_l2_and_names_the_fix() -> None:
    x, y, _, _ = planted(10, 3, 3)
    with pytest.raises(InputError, match="fit_stream"):
        Aligner("orthogonal", "center-l2").partial_fit(x, y)


def test_chunks_of_other_width_are_rejected() -> None:
    aligner = Aligner().partial_fit(np.ones((5, 3)) + np.eye(5, 3), np.ones((5, 2)))
    with pytest.raises(InputError, match="same two encoders"):
        aligner.partial_fit(np.ones((5, 4)), np.ones((5, 2)))


def test_fit_stream_detects_a_changing_source() -> None:
    x, y, _, _ = planted(100, 4, 4)
    calls = iter([[(x, y)], [(x[:50], y[:50])]])
    with pytest.raises(InputError, match="same chunks"):
        Aligner("orthogonal", "center-l2").fit_stream(lambda: next(calls))


@pytest.mark.parametrize("method", STREAMED)
def test_refit_after_partial_fit_starts_afresh(method: str) -> None:
    x, y, _, _ = planted(300, 5, 5, "affine")
    a = Aligner(method, "standard", max_iter=100).partial_fit(x[:100] * 9, y[:100])
    a.fit(x, y)
    b = Aligner(method, "standard", max_iter=100).fit(x, y)
    np.testing.assert_allclose(a.weight_, b.weight_)
