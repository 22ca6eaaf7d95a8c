"""inverse_transform undoes transform exactly for every injective method and scaling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from semalign.align import METHODS, SCALINGS, Aligner, Scaler


def _sphere_anchors(scaling: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Source rows at one distance from the anchors' centre (zero for ``l2``), in ± pairs so
    that the centre is the anchors' mean: row normalisation then loses nothing."""
    rng = np.random.default_rng(seed)
    d_s, d_t = 6, 9
    u = rng.normal(size=(200, d_s))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    centre = np.zeros(d_s) if scaling == "l2" else rng.normal(size=d_s) * 3
    x = centre + 2.5 * np.vstack([u, -u])
    y = np.tanh(x @ rng.normal(size=(d_s, d_t))) + rng.normal(size=d_t)  # not an exact map
    return x, y


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("method", METHODS)
def test_round_trip_is_exact(method: str, scaling: str) -> None:
    x, y = _sphere_anchors(scaling, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unconverged sgd-affine is still an affine map
        fitted = Aligner(method, scaling, max_iter=200).fit(x, y)
    assert fitted.invertible
    back = fitted.inverse_transform(fitted.transform(x))
    assert np.linalg.norm(back - x) <= 1e-9 * np.linalg.norm(x), (method, scaling)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_scaled_is_the_exact_inverse_of_inverse(scaling: str) -> None:
    rng = np.random.default_rng(0)
    scaler = Scaler(scaling, rng.normal(size=5), rng.uniform(0.5, 2, size=5), norm=3.7)
    z = rng.normal(size=(20, 5))  # arbitrary rows, not unit norm
    np.testing.assert_allclose(scaler.scaled(scaler.inverse(z)), z, rtol=1e-12, atol=1e-12)
