"""float32 numpy input is mapped in float64 and rounded once, in blocks that change nothing."""

from __future__ import annotations

import numpy as np
import pytest

import semalign.align.aligner as aligner_module
from semalign.align import Aligner


def _offset_space(n: int, d: int, seed: int) -> np.ndarray:
    """float32 rows far from the origin with a small spread: standardising them cancels digits."""
    g = np.random.default_rng(seed)
    return (1_000.0 + 0.01 * g.standard_normal((n, d))).astype(np.float32)


@pytest.mark.parametrize("method", ["orthogonal", "affine"])
def test_float32_input_matches_float64_rounded_once(method: str) -> None:
    x = _offset_space(300, 12, 0)
    spread = (x.astype(np.float64) - 1_000.0) @ np.random.default_rng(1).standard_normal((12, 12))
    y = (5.0 + 100.0 * spread).astype(np.float32)  # outputs near 5, so float32 keeps ~1e-6
    aligner = Aligner(method, "standard").fit(x, y)
    exact = aligner.transform(x.astype(np.float64))  # float32 -> float64 is exact
    got = aligner.transform(x)
    assert got.dtype == np.float32
    np.testing.assert_array_max_ulp(got, exact.astype(np.float32), maxulp=1)
    # the same arithmetic in float32 loses most of float32's digits on this map
    naive_error = np.abs(
        x @ aligner._folded("forward", x)[0] + aligner._folded("forward", x)[1] - exact
    ).max()
    assert naive_error > 100 * np.abs(got - exact).max()


def test_inverse_transform_in_float64_too() -> None:
    x = _offset_space(200, 6, 2)
    aligner = Aligner("affine", "standard").fit(x, _offset_space(200, 6, 3))
    y = aligner.transform(x)
    exact = aligner.inverse_transform(y.astype(np.float64))
    back = aligner.inverse_transform(y)
    assert back.dtype == np.float32
    np.testing.assert_array_max_ulp(back, exact.astype(np.float32), maxulp=1)


def test_blocks_give_the_whole_array(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _offset_space(103, 5, 4)
    aligner = Aligner("affine", "standard").fit(x, _offset_space(103, 5, 5))
    whole = aligner.transform(x)
    monkeypatch.setattr(aligner_module, "APPLY_BLOCK", 10)
    np.testing.assert_array_equal(aligner.transform(x), whole)
    assert aligner.transform(x[:0]).shape == (0, 5)
