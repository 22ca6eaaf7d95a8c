from __future__ import annotations

import numpy as np
import pytest

from semalign.align import SCALINGS, Aligner

from ._planted import planted


@pytest.mark.parametrize("scaling", ["none", "center", "std", "standard"])
def test_affine_scalings_invert_exactly(scaling: str) -> None:
    x, y, _, _ = planted(300, 7, 5)
    aligner = Aligner("orthogonal", scaling).fit(x, y)
    for scaler, data in ((aligner.source_scaler_, x), (aligner.target_scaler_, y)):
        np.testing.assert_allclose(scaler.inverse(scaler.transform(data)), data, atol=1e-10)


def test_standard_gives_zero_mean_unit_std() -> None:
    x, y, _, _ = planted(500, 6, 6)
    z = Aligner("orthogonal", "standard").fit(x, y).source_scaler_.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-12)


@pytest.mark.parametrize("scaling", ["l2", "center-l2"])
def test_row_normalising_scalings_keep_direction_and_restore_mean_norm(scaling: str) -> None:
    x, y, _, _ = planted(400, 6, 6)
    scaler = Aligner("orthogonal", scaling).fit(x, y).source_scaler_
    z = scaler.transform(x)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-12)
    back = scaler.inverse(z)
    centred = x - scaler.mean
    cos = np.sum((back - scaler.mean) * centred, 1) / (
        np.linalg.norm(back - scaler.mean, axis=1) * np.linalg.norm(centred, axis=1)
    )
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    assert scaler.norm == pytest.approx(np.linalg.norm(centred, axis=1).mean())


@pytest.mark.parametrize("scaling", SCALINGS)
def test_zero_rows_and_constant_columns_stay_finite(scaling: str) -> None:
    x, y, _, _ = planted(100, 5, 5)
    x[:, 1] = 3.0
    x[4] = 0.0
    y[7] = 0.0
    aligner = Aligner("orthogonal", scaling).fit(x, y)
    assert np.isfinite(aligner.source_scaler_.transform(x)).all()
    assert np.isfinite(aligner.transform(x)).all()
