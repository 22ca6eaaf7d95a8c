"""Self-learning refinement: a planted rotation recovered from 8 anchors and unpaired pools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semalign.align import Aligner, load_aligner, read_metadata
from semalign.align.refine import RefinedAligner
from semalign.errors import InputError


def rotation_pools(
    seed: int, d: int = 16, n: int = 400, anchors: int = 8
) -> tuple[np.ndarray, ...]:
    """Anchors (x, y), pools U and V (V a hidden permutation of U's partners), R, perm."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.geomspace(3, 0.3, d)
    r = np.linalg.qr(rng.normal(size=(d, d)))[0]
    y = x @ r + 0.01 * rng.normal(size=(n, d))
    perm = rng.permutation(n - anchors)
    return x[:anchors], y[:anchors], x[anchors:], y[anchors:][perm], r, perm


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refinement_converges_to_the_planted_rotation(seed: int) -> None:
    xa, ya, u, v, r, perm = rotation_pools(seed)
    plain = Aligner("orthogonal", "none").fit(xa, ya)
    assert np.linalg.norm(plain.weight_ - r) > 1.0  # 8 anchors do not determine R in 16 dims
    ref = RefinedAligner("orthogonal", "none", iterations=20).fit(xa, ya, unpaired=(u, v))
    assert ref.converged_
    assert np.linalg.norm(ref.aligner_.weight_ - r) < 0.02
    rows, cols = ref.pairs_
    assert rows.size == u.shape[0]  # every pool item paired ...
    np.testing.assert_array_equal(perm[cols], rows)  # ... with its hidden partner
    assert ref.n_iter_ == len(ref.pseudo_pairs_) >= 1


def test_anchors_stay_and_pseudo_pairs_are_bounded() -> None:
    xa, ya, u, v, _, _ = rotation_pools(0)
    ref = RefinedAligner("orthogonal", "none", iterations=3, max_pseudo=50)
    ref.fit(xa, ya, unpaired=(u, v))
    assert max(ref.pseudo_pairs_) <= 50
    assert ref.aligner_.n_anchors_ == 8 + ref.pseudo_pairs_[-1]
    assert ref.n_iter_ <= 3


def test_no_pools_or_zero_iterations_is_the_plain_fit() -> None:
    xa, ya, u, v, _, _ = rotation_pools(1)
    plain = Aligner("orthogonal", "standard").fit(xa, ya)
    for ref in (
        RefinedAligner("orthogonal", "standard").fit(xa, ya),
        RefinedAligner("orthogonal", "standard", iterations=0).fit(xa, ya, unpaired=(u, v)),
    ):
        np.testing.assert_array_equal(ref.aligner_.weight_, plain.weight_)
        assert ref.n_iter_ == 0


def test_saved_map_records_the_refinement(tmp_path: Path) -> None:
    xa, ya, u, v, _, _ = rotation_pools(2)
    ref = RefinedAligner("orthogonal", "none", iterations=20).fit(xa, ya, unpaired=(u, v))
    path = ref.save(tmp_path / "map.safetensors")
    record = json.loads(read_metadata(path)["refinement"])
    assert record["pseudo_pairs"] == ref.pseudo_pairs_ and record["anchors"] == 8
    assert record["converged"] is True
    np.testing.assert_allclose(load_aligner(path).transform(u), ref.transform(u))


def test_pool_width_mismatch_names_the_pools() -> None:
    xa, ya, u, v, _, _ = rotation_pools(0)
    with pytest.raises(InputError, match="unpaired pools"):
        RefinedAligner().fit(xa, ya, unpaired=(u[:, :3], v))
