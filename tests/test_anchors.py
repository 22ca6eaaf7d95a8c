"""Anchor selection: determinism, stratification, exclusion, coverage of planted clusters."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from semalign.align.anchors import ANCHOR_STRATEGIES, select_anchors
from semalign.errors import InputError


def _blobs(n_clusters: int, per: int, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 100.0 * np.eye(n_clusters, d) if n_clusters <= d else None
    if centres is None:
        centres = 100.0 * rng.standard_normal((n_clusters, d))
    member = np.repeat(np.arange(n_clusters), per)
    x = centres[member] + rng.standard_normal((n_clusters * per, d))
    order = rng.permutation(member.size)
    return x[order], member[order]


def _strategy_kwargs(strategy: str, n: int) -> dict[str, Any]:
    if strategy == "stratified":
        return {"labels": np.arange(n) % 3}
    return {}


@pytest.mark.parametrize("strategy", ANCHOR_STRATEGIES)
def test_deterministic_distinct_and_seed_dependent(strategy: str) -> None:
    x, _ = _blobs(4, 30)
    kw = _strategy_kwargs(strategy, 120)
    a = select_anchors(x, 12, strategy, seed=3, **kw)
    b = select_anchors(x, 12, strategy, seed=3, **kw)
    c = select_anchors(x, 12, strategy, seed=4, **kw)
    assert a.dtype == np.int64 and a.shape == (12,)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 12 and a.min() >= 0 and a.max() < 120
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("strategy", ["random", "farthest", "kmeans++"])
def test_prefix_of_larger_selection(strategy: str) -> None:
    x, _ = _blobs(3, 40, seed=1)
    small = select_anchors(x, 5, strategy, seed=11)
    large = select_anchors(x, 40, strategy, seed=11)
    np.testing.assert_array_equal(small, large[:5])


@pytest.mark.parametrize("strategy", ANCHOR_STRATEGIES)
def test_exclude_is_respected(strategy: str) -> None:
    x, _ = _blobs(4, 25, seed=2)
    kw = _strategy_kwargs(strategy, 100)
    test_split = np.arange(0, 100, 2)
    chosen = select_anchors(x, 50, strategy, seed=0, exclude=test_split, **kw)
    assert set(chosen.tolist()) == set(range(1, 100, 2))
    mask = np.zeros(100, dtype=bool)
    mask[:60] = True
    chosen = select_anchors(x, 20, strategy, seed=5, exclude=mask, **kw)
    assert chosen.min() >= 60


def test_random_accepts_a_count_and_is_roughly_uniform() -> None:
    counts: Counter[int] = Counter()
    for seed in range(400):
        counts.update(select_anchors(20, 5, seed=seed, exclude=[0, 1]).tolist())
    assert set(counts) == set(range(2, 20))
    expected = 400 * 5 / 18
    assert all(abs(c - expected) < 0.3 * expected for c in counts.values())


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [
        ((60, 30, 10), 10, (6, 3, 1)),
        ((50, 30, 20), 7, (4, 2, 1)),
        ((97, 2, 1), 5, (3, 1, 1)),
        ((5, 5, 5), 15, (5, 5, 5)),
    ],
)
def test_stratified_allocation(sizes: tuple[int, ...], k: int, expected: tuple[int, ...]) -> None:
    labels = np.repeat(np.array(["normal", "pneumonia", "effusion"]), sizes)
    labels = labels[np.random.default_rng(0).permutation(labels.size)]
    for seed in range(3):
        chosen = select_anchors(labels.size, k, "stratified", labels=labels.tolist(), seed=seed)
        got = Counter(labels[chosen].tolist())
        assert tuple(got[c] for c in ("normal", "pneumonia", "effusion")) == expected


def test_stratified_counts_only_allowed_rows() -> None:
    labels = np.array([0] * 50 + [1] * 50)
    chosen = select_anchors(100, 10, "stratified", labels=labels, exclude=np.arange(30))
    assert np.bincount(labels[chosen]).tolist() == [3, 7]


def test_stratified_fewer_anchors_than_classes_spreads_without_position_bias() -> None:
    labels = np.arange(50) % 5
    picked_classes: Counter[int] = Counter()
    for seed in range(200):
        chosen = select_anchors(50, 3, "stratified", labels=labels, seed=seed)
        classes = labels[chosen]
        assert len(set(classes.tolist())) == 3
        picked_classes.update(classes.tolist())
    assert all(80 < picked_classes[c] < 160 for c in range(5))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_stratified_properties(sizes: list[int], frac: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    n = labels.size
    k = round(frac * n)
    chosen = select_anchors(n, k, "stratified", labels=labels, seed=seed)
    assert chosen.size == k and len(set(chosen.tolist())) == k
    got = np.bincount(labels[chosen], minlength=len(sizes))
    quota = k * np.array(sizes) / n
    assert np.all(got <= sizes)
    if k >= len(sizes):
        assert np.all(got >= 1)
    if np.all(np.floor(quota) >= 1) or k < len(sizes):
        assert np.all(np.abs(got - quota) < 1.0)


@pytest.mark.parametrize("seed", range(5))
def test_farthest_picks_one_point_per_planted_cluster(seed: int) -> None:
    x, member = _blobs(6, 40, d=4, seed=seed)
    chosen = select_anchors(x, 6, "farthest", seed=seed)
    assert sorted(member[chosen].tolist()) == list(range(6))


def test_farthest_matches_brute_force_oracle() -> None:
    x = np.random.default_rng(9).standard_normal((70, 5))
    chosen = select_anchors(x, 15, "farthest", seed=2, exclude=[3, 4])
    dist = cdist(x, x)
    expected = [int(chosen[0])]
    for _ in range(14):
        dmin = dist[:, expected].min(axis=1)
        dmin[[3, 4]] = -1.0
        expected.append(int(np.argmax(dmin)))
    assert chosen.tolist() == expected


@pytest.mark.parametrize("strategy", ["farthest", "kmeans++"])
def test_coverage_strategies_on_duplicate_points_still_return_distinct_rows(strategy: str) -> None:
    x = np.ones((8, 2))
    chosen = select_anchors(x, 8, strategy, seed=1)
    assert sorted(chosen.tolist()) == list(range(8))


def test_kmeanspp_covers_separated_clusters() -> None:
    x, member = _blobs(5, 50, d=5, seed=3)
    for seed in range(20):
        chosen = select_anchors(x, 5, "kmeans++", seed=seed)
        assert sorted(member[chosen].tolist()) == list(range(5))


def test_kmeanspp_samples_proportionally_to_squared_distance() -> None:
    x = np.array([[0.0], [1.0], [3.0]])
    seconds: Counter[int] = Counter()
    for seed in range(1500):
        first, second = select_anchors(x, 2, "kmeans++", seed=seed).tolist()
        if first == 0:
            seconds[second] += 1
    total = seconds[1] + seconds[2]
    assert total > 300
    assert seconds[2] / total == pytest.approx(0.9, abs=0.05)


def test_torch_source_gives_same_anchors() -> None:
    torch = pytest.importorskip("torch")
    x, _ = _blobs(3, 20, seed=4)
    expected = select_anchors(x, 6, "farthest", seed=1)
    np.testing.assert_array_equal(
        select_anchors(torch.from_numpy(x).float(), 6, "farthest", seed=1), expected
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_or_X": 10, "k": 11}, "k is 11 but only 10 of 10 rows"),
        ({"n_or_X": 10, "k": 9, "exclude": [0, 1]}, "only 8 of 10 rows may be chosen (2 excluded)"),
        ({"n_or_X": 10, "k": 2, "strategy": "greedy"}, "'random', 'stratified', 'farthest'"),
        ({"n_or_X": 10, "k": 2, "strategy": "farthest"}, "needs the source embeddings"),
        ({"n_or_X": 10, "k": 2, "strategy": "stratified"}, "needs labels"),
        ({"n_or_X": 10, "k": 2, "strategy": "stratified", "labels": [0] * 9}, "9 entries for 10"),
        ({"n_or_X": 3, "k": 1, "strategy": "stratified", "labels": np.eye(3)}, "1-D"),
        ({"n_or_X": 3, "k": 1, "strategy": "stratified", "labels": [[0], [1], [0]]}, "unhashable"),
        ({"n_or_X": 3, "k": 1, "labels": [0, float("nan"), 1]}, "NaN"),
        ({"n_or_X": 10, "k": -1}, "non-negative integer"),
        ({"n_or_X": 10, "k": 2, "exclude": [10]}, "outside [0, 10)"),
        ({"n_or_X": 10, "k": 2, "exclude": np.ones(9, dtype=bool)}, "shape (10,)"),
        ({"n_or_X": np.zeros(5), "k": 2}, "X has shape (5,)"),
        ({"n_or_X": np.array([[0.0], [np.inf]]), "k": 1, "strategy": "farthest"}, "NaN or Inf"),
    ],
)
def test_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        select_anchors(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_zero_anchors_is_an_empty_selection() -> None:
    for strategy in ANCHOR_STRATEGIES:
        kw = _strategy_kwargs(strategy, 4)
        out = select_anchors(np.eye(4), 0, strategy, **kw)
        assert out.shape == (0,) and out.dtype == np.int64
