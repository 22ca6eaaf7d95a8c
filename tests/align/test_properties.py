"""Hypothesis properties of the alignment maps."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from semalign.align import Aligner

from ._planted import planted

dims = st.integers(min_value=2, max_value=12)
seeds = st.integers(min_value=0, max_value=2**16)
FAST = settings(max_examples=25, deadline=None)


@FAST
@given(
    d_s=dims, d_t=dims, seed=seeds, scaling=st.sampled_from(["none", "center", "standard", "l2"])
)
def test_orthogonal_map_has_orthonormal_rows_or_columns(
    d_s: int, d_t: int, seed: int, scaling: str
) -> None:
    x, y, _, _ = planted(60, d_s, d_t, "affine", noise=0.5, seed=seed)
    w = Aligner("orthogonal", scaling).fit(x, y).weight_
    gram = w @ w.T if d_s <= d_t else w.T @ w
    np.testing.assert_allclose(gram, np.eye(min(d_s, d_t)), atol=1e-10)


@FAST
@given(
    d_s=dims,
    extra=st.integers(0, 5),
    seed=seeds,
    method=st.sampled_from(["orthogonal", "similarity", "affine", "ridge", "linear"]),
    scaling=st.sampled_from(["none", "center", "std", "standard"]),
)
def test_inverse_round_trip(d_s: int, extra: int, seed: int, method: str, scaling: str) -> None:
    x, y, _, _ = planted(80, d_s, d_s + extra, "affine", noise=0.1, seed=seed)
    aligner = Aligner(method, scaling).fit(x, y)
    np.testing.assert_allclose(aligner.inverse_transform(aligner.transform(x)), x, atol=1e-6)


@FAST
@given(
    seed=seeds,
    cuts=st.lists(st.integers(1, 119), max_size=6, unique=True),
    method=st.sampled_from(["orthogonal", "similarity", "affine", "linear", "ridge"]),
    scaling=st.sampled_from(["none", "center", "std", "standard", "l2"]),
)
def test_streaming_equals_batch_for_any_chunking(
    seed: int, cuts: list[int], method: str, scaling: str
) -> None:
    x, y, _, _ = planted(120, 6, 4, "affine", noise=0.2, seed=seed)
    bounds = [0, *sorted(cuts), 120]
    stream = Aligner(method, scaling)
    for lo, hi in itertools.pairwise(bounds):
        stream.partial_fit(x[lo:hi], y[lo:hi])
    batch = Aligner(method, scaling).fit(x, y)
    np.testing.assert_allclose(stream.transform(x), batch.transform(x), rtol=1e-8, atol=1e-8)


@FAST
@given(seed=seeds, d=dims, scaling=st.sampled_from(["none", "center", "l2", "center-l2"]))
def test_orthogonal_fit_is_invariant_to_rotating_the_source(
    seed: int, d: int, scaling: str
) -> None:
    x, y, _, _ = planted(70, d, d, "affine", noise=0.3, seed=seed)
    q = ortho_group.rvs(d, random_state=seed) if d > 1 else np.eye(1)
    plain = Aligner("orthogonal", scaling).fit(x, y)
    rotated = Aligner("orthogonal", scaling).fit(x @ q, y)
    np.testing.assert_allclose(rotated.transform(x @ q), plain.transform(x), atol=1e-8)
