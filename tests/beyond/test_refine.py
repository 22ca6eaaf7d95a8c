"""Self-learning refinement: a planted rotation recovered from 8 anchors and unpaired pools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semalign.align import Aligner, load_aligner, read_metadata
from semalign.align.refine import RefinedAligner, choose_refits, holdout_score
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
    assert ref.kept_ == "refined"  # the held-out anchors saw the refits help
    assert ref.validation_[-1] > ref.validation_[0]


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


def misleading_pools(seed: int, d: int = 16, n: int = 400, anchors: int = 12):
    """Anchors of a planted rotation R; pool U from the same sources, pool V the images under
    another rotation of other items (no pool item's partner is in the other pool), and 200
    test pairs of R."""
    rng = np.random.default_rng(seed)
    spread = np.geomspace(3, 0.3, d)
    r, other = (np.linalg.qr(rng.normal(size=(d, d)))[0] for _ in range(2))
    x = rng.normal(size=(anchors + n + 200, d)) * spread
    y = x @ r + 0.05 * rng.normal(size=x.shape)
    v = (rng.normal(size=(n, d)) * spread) @ other
    a, t = slice(0, anchors), slice(anchors + n, None)
    return x[a], y[a], x[anchors : anchors + n], v, x[t], y[t]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_held_out_anchors_return_the_seed_map_where_refinement_hurts(seed: int) -> None:
    xa, ya, u, v, xt, yt = misleading_pools(seed)
    plain = Aligner("orthogonal", "none").fit(xa, ya)
    blind = RefinedAligner("orthogonal", "none", holdout=0).fit(xa, ya, unpaired=(u, v))
    no_pool = np.zeros((0, yt.shape[1]))
    mrr = {
        name: holdout_score(m.transform(xt), yt, no_pool)[0]
        for name, m in (("seed", plain), ("blind", blind))
    }
    assert mrr["blind"] < mrr["seed"] - 0.2  # the premise: unvalidated refinement hurts
    ref = RefinedAligner("orthogonal", "none").fit(xa, ya, unpaired=(u, v))
    assert ref.kept_ == "seed" and ref.n_iter_ == 0
    assert max(ref.validation_[1:]) < ref.validation_[0]
    np.testing.assert_array_equal(ref.aligner_.weight_, plain.weight_)
    assert ref.refinement()["kept"] == "seed"


def test_held_out_anchors_follow_contents_not_order() -> None:
    xa, ya, u, v, _, _ = rotation_pools(0, anchors=12)
    perm = np.random.default_rng(7).permutation(12)
    a = RefinedAligner("orthogonal", "none", iterations=4).fit(xa, ya, unpaired=(u, v))
    b = RefinedAligner("orthogonal", "none", iterations=4).fit(xa[perm], ya[perm], unpaired=(u, v))
    np.testing.assert_allclose(a.validation_, b.validation_, rtol=1e-9)
    assert a.kept_ == b.kept_


def test_holdout_out_of_range_is_refused() -> None:
    xa, ya, u, v, _, _ = rotation_pools(0)
    with pytest.raises(InputError, match="holdout"):
        RefinedAligner(holdout=1.0).fit(xa, ya, unpaired=(u, v))


def test_holdout_score_against_a_direct_rank_count() -> None:
    rng = np.random.default_rng(3)
    mapped, partners, other = (
        rng.normal(size=(6, 5)),
        rng.normal(size=(6, 5)),
        rng.normal(size=(9, 5)),
    )
    mrr, cos = holdout_score(mapped, partners, other)
    gallery = np.vstack([partners, other])
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sims = unit(mapped) @ unit(gallery).T
    ranks = [1 + sum(sims[i, j] > sims[i, i] for j in range(15)) for i in range(6)]
    assert mrr == pytest.approx(np.mean([1 / r for r in ranks]))
    assert cos == pytest.approx(np.mean(np.diag(sims)))


def test_choose_refits_needs_no_loss_in_either_direction() -> None:
    seed = (0.5, 0.7, 0.6)
    # the last refit helps one direction and hurts the other: the seed map stays
    assert choose_refits([seed, (0.6, 0.69, 0.7), (0.9, 0.6, 0.8)]) == 0
    # both directions no worse: the best sum, then the later one on a tie
    assert choose_refits([seed, (0.6, 0.7, 0.7), (0.7, 0.8, 0.7), (0.7, 0.8, 0.7)]) == 3
    assert choose_refits([seed, (0.5, 0.7, 0.6)]) == 1  # no worse: kept
    assert choose_refits([seed, (0.5, 0.7, 0.5)]) == 0  # the cosine breaks the tie


def test_a_method_the_holdout_would_starve_runs_unvalidated() -> None:
    # affine in 16 dimensions needs 17 anchors: 20 fit it, the 15 left after a quarter is held
    # out do not, so the refinement runs unchecked (as with holdout=0) instead of failing
    xa, ya, u, v, _, _ = rotation_pools(3, anchors=20)
    ref = RefinedAligner("affine", "none", iterations=3).fit(xa, ya, unpaired=(u, v))
    assert ref.kept_ == "unvalidated" and ref.validation_ == []
    free = RefinedAligner("affine", "none", iterations=3, holdout=0).fit(xa, ya, unpaired=(u, v))
    np.testing.assert_array_equal(ref.aligner_.weight_, free.aligner_.weight_)
    with pytest.raises(InputError, match="needs at least 17 anchors"):
        RefinedAligner("affine", "none", iterations=3).fit(xa[:16], ya[:16], unpaired=(u, v))
