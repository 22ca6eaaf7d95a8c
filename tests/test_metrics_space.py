"""Space-similarity metrics against independent oracles (scikit-learn, brute-force n x n)."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.metrics import (
    label_ranking_average_precision_score,
    mean_squared_error,
    top_k_accuracy_score,
)
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.neighbors import NearestNeighbors

from semalign.errors import InputError
from semalign.metrics import (
    knn_jaccard,
    linear_cka,
    mean_cosine,
    mse,
    retrieval_ranks,
    retrieval_scores,
    space_report,
)
from semalign.metrics.space import _knn_indices


def _pair(n: int, d: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, d))
    return y + noise * rng.standard_normal((n, d)), y


def _kernel_cka(x: np.ndarray, y: np.ndarray) -> float:
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h))

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def _sklearn_knn_jaccard(x: np.ndarray, y: np.ndarray, k: int, metric: str) -> float:
    sets = []
    for z in (x, y):
        nn = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(z)
        sets.append(nn.kneighbors(return_distance=False))
    scores = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(*sets, strict=True)]
    return float(np.mean(scores))


def test_mse_matches_sklearn() -> None:
    pred, target = _pair(40, 7, 0.5)
    assert mse(pred, target) == pytest.approx(mean_squared_error(target, pred), rel=1e-12)


def test_mean_cosine_matches_sklearn_diagonal() -> None:
    pred, target = _pair(40, 7, 1.0, seed=1)
    expected = float(np.mean(np.diag(cosine_similarity(pred, target))))
    assert mean_cosine(pred, target) == pytest.approx(expected, rel=1e-12)


def test_mean_cosine_zero_row_counts_as_zero() -> None:
    pred = np.array([[0.0, 0.0], [1.0, 0.0]])
    target = np.array([[1.0, 1.0], [2.0, 0.0]])
    assert mean_cosine(pred, target) == pytest.approx(0.5)


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 52, 53, 1000])
def test_retrieval_ranks_match_brute_force(chunk_size: int | None) -> None:
    queries, keys = _pair(53, 6, 1.5, seed=2)
    sims = cosine_similarity(queries, keys)
    order = np.argsort(-sims, axis=1)
    expected = 1 + np.argmax(order == np.arange(53)[:, None], axis=1)
    ranks = retrieval_ranks(queries, keys, chunk_size=chunk_size)
    assert ranks.dtype == np.float64  # expected ranks over ties may be fractional
    np.testing.assert_array_equal(ranks, expected)
    assert 1 < ranks.max()


def test_retrieval_scores_match_sklearn() -> None:
    queries, keys = _pair(61, 5, 1.2, seed=3)
    sims = cosine_similarity(queries, keys)
    labels = np.arange(61)
    scores = retrieval_scores(queries, keys, ks=(1, 5, 10), chunk_size=9)
    assert set(scores) == {"top1", "top5", "top10", "mrr"}
    for k in (1, 5, 10):
        expected = top_k_accuracy_score(labels, sims, k=k, labels=labels)
        assert scores[f"top{k}"] == pytest.approx(expected)
    assert scores["mrr"] == pytest.approx(label_ranking_average_precision_score(np.eye(61), sims))
    assert 0.0 < scores["top1"] < scores["top5"] < scores["top10"] < 1.0


def test_retrieval_ties_count_as_their_expectation_never_a_free_hit() -> None:
    keys = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    queries = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # queries 0, 1: three keys at cosine 1 (own + 2 tied misses); query 2: all four keys at
    # cosine 0.707; query 3: key 2 strictly better, then own key tied with keys 0 and 1
    expected_rank = [2.0, 2.0, 2.5, 3.0]
    np.testing.assert_allclose(retrieval_ranks(queries, keys, chunk_size=3), expected_rank)
    np.testing.assert_array_equal(retrieval_ranks(queries, keys, ties="optimistic"), [1, 1, 1, 2])
    np.testing.assert_array_equal(retrieval_ranks(queries, keys, ties="pessimistic"), [3, 3, 4, 4])
    mrr = (
        2 * (1 + 1 / 2 + 1 / 3) / 3 + (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4 + (1 / 2 + 1 / 3 + 1 / 4) / 3
    ) / 4
    assert retrieval_scores(queries, keys)["mrr"] == pytest.approx(mrr)
    assert retrieval_scores(queries, keys, ks=(1,))["top1"] == pytest.approx((2 / 3 + 1 / 4) / 4)


def test_identical_spaces_score_perfectly() -> None:
    x = np.random.default_rng(4).standard_normal((80, 12))
    report = space_report(x, x.copy())
    assert report["mse"] == 0.0
    assert report["cosine"] == pytest.approx(1.0)
    assert report["top1"] == report["top5"] == report["mrr"] == 1.0
    assert report["cka"] == pytest.approx(1.0)
    assert report["knn_jaccard@10"] == 1.0


@pytest.mark.parametrize(("n", "dx", "dy"), [(50, 6, 9), (8, 20, 30), (12, 12, 5)])
def test_linear_cka_matches_kernel_formula(n: int, dx: int, dy: int) -> None:
    rng = np.random.default_rng(n + dx)
    x = rng.standard_normal((n, dx)) + 3.0
    y = np.tanh(x @ rng.standard_normal((dx, dy))) + 0.3 * rng.standard_normal((n, dy))
    assert linear_cka(x, y) == pytest.approx(_kernel_cka(x, y), rel=1e-9)


def test_linear_cka_low_for_independent_spaces() -> None:
    rng = np.random.default_rng(5)
    value = linear_cka(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)))
    assert 0.0 <= value < 0.05


def test_linear_cka_constant_space_is_nan() -> None:
    x = np.ones((10, 3))
    assert np.isnan(linear_cka(x, np.random.default_rng(0).standard_normal((10, 3))))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-100, 100),
    d=st.integers(2, 10),
)
def test_linear_cka_invariances(seed: int, scale: float, shift: float, d: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, d))
    y = x[:, : max(1, d // 2)] ** 2 + rng.standard_normal((30, max(1, d // 2)))
    q = ortho_group.rvs(d, random_state=rng) if d > 1 else np.eye(1)
    base = linear_cka(x, y)
    assert linear_cka(scale * x @ q + shift, y) == pytest.approx(base, rel=1e-8, abs=1e-12)
    assert linear_cka(y, x) == pytest.approx(base, rel=1e-12)
    assert linear_cka(x, scale * x @ q) == pytest.approx(1.0, rel=1e-9)
    assert 0.0 <= base <= 1.0 + 1e-12


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize(("k", "chunk_size"), [(1, None), (5, 7), (10, 1), (4, 101)])
def test_knn_jaccard_matches_sklearn(metric: str, k: int, chunk_size: int | None) -> None:
    rng = np.random.default_rng(k)
    x = rng.standard_normal((101, 5))
    y = np.hstack([x[:, :3], rng.standard_normal((101, 4))])
    expected = _sklearn_knn_jaccard(x, y, k, metric)
    value = knn_jaccard(x, y, k=k, metric=metric, chunk_size=chunk_size)  # type: ignore[arg-type]
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.05 < value < 0.95


def test_knn_sets_match_sklearn_beyond_the_probe_columns() -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2300, 3))
    x = x[np.argsort(x[:, 0])]
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(x)
    expected = np.sort(nn.kneighbors(return_distance=False), axis=1)
    np.testing.assert_array_equal(_knn_indices(x, 5, "euclidean", 300), expected)


def test_knn_jaccard_invariant_to_rotation_and_scale() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((90, 6))
    q = ortho_group.rvs(6, random_state=rng)
    assert knn_jaccard(x, 7.0 * x @ q, k=8, metric="euclidean", chunk_size=13) == 1.0
    assert knn_jaccard(x, 0.1 * x @ q, k=8, metric="cosine") == 1.0


def test_knn_ties_go_to_lower_index_whatever_the_chunking() -> None:
    line = np.arange(9, dtype=float)[:, None]
    for step in (1, 2, 4, 9):
        idx = _knn_indices(line, 1, "euclidean", step)
        np.testing.assert_array_equal(idx[:, 0], [1, 0, 1, 2, 3, 4, 5, 6, 7])
        idx2 = _knn_indices(line, 3, "euclidean", step)
        np.testing.assert_array_equal(idx2[4], [2, 3, 5])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_many_ties_pick_lowest_indices(metric: str) -> None:
    points = np.ones((7, 2)) if metric == "euclidean" else np.zeros((7, 2))
    for step in (1, 3, 7):
        idx = _knn_indices(points, 3, metric, step)
        np.testing.assert_array_equal(idx[0], [1, 2, 3])
        np.testing.assert_array_equal(idx[5], [0, 1, 2])
        np.testing.assert_array_equal(idx[2], [0, 1, 3])


def test_knn_jaccard_memory_stays_below_n_squared() -> None:
    rng = np.random.default_rng(7)
    n = 2500
    x, y = rng.standard_normal((n, 8)), rng.standard_normal((n, 8))
    tracemalloc.start()
    try:
        knn_jaccard(x, y, k=5, chunk_size=64)
        retrieval_ranks(x, y, chunk_size=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * n * 8 / 4


def test_space_report_keys_and_values() -> None:
    rng = np.random.default_rng(8)
    source = rng.standard_normal((60, 4))
    target = source @ rng.standard_normal((4, 6)) + 0.1 * rng.standard_normal((60, 6))
    pred = target + 0.5 * rng.standard_normal((60, 6))
    report = space_report(pred, target, source=source, chunk_size=11)
    assert list(report) == [
        "mse",
        "cosine",
        "top1",
        "top5",
        "mrr",
        "cka",
        "knn_jaccard@10",
        "source_cka",
        "source_knn_jaccard@10",
    ]
    assert report["mse"] == pytest.approx(mse(pred, target))
    assert report["cka"] == pytest.approx(linear_cka(pred, target))
    assert report["source_cka"] == pytest.approx(linear_cka(source, target))
    assert report["top1"] == retrieval_scores(pred, target)["top1"]
    assert all(isinstance(v, float) for v in report.values())


def test_torch_tensors_are_accepted() -> None:
    torch = pytest.importorskip("torch")
    pred, target = _pair(30, 4, 0.3, seed=9)
    tp = torch.from_numpy(pred).to(torch.bfloat16)
    assert mse(tp, target) == pytest.approx(mse(tp.float().numpy(), target))
    assert space_report(torch.from_numpy(pred), torch.from_numpy(target)) == space_report(
        pred, target
    )


def test_importing_metrics_does_not_import_torch() -> None:
    code = "import sys, semalign.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mse(np.zeros((500, 3)), np.zeros((499, 3))), "pred has 500 rows, target 499"),
        (lambda: mse(np.zeros((5, 3)), np.zeros((5, 4))), "pred has 3 columns, target 4"),
        (lambda: mean_cosine(np.zeros(5), np.zeros(5)), "pred has shape (5,)"),
        (lambda: mse(np.full((4, 2), np.nan), np.zeros((4, 2))), "pred has 4 rows with NaN"),
        (lambda: linear_cka(np.zeros((3, 0)), np.zeros((3, 2))), "X has shape (3, 0)"),
        (lambda: linear_cka([["a", "b"]], [[1.0, 2.0]]), "X is not a numeric array"),
        (lambda: retrieval_ranks(np.ones((3, 2)), np.ones((2, 2))), "queries has 3 rows, keys 2"),
        (lambda: retrieval_scores(np.ones((3, 2)), np.ones((3, 2)), ks=(0,)), "ks contains 0"),
        (lambda: retrieval_ranks(np.ones((3, 2)), np.ones((3, 2)), chunk_size=0), "chunk_size"),
        (lambda: knn_jaccard(np.ones((5, 2)), np.ones((5, 2)), k=5), "k must be at most n - 1"),
        (lambda: knn_jaccard(np.ones((5, 2)), np.ones((5, 2)), metric="l1"), "metric is 'l1'"),  # type: ignore[arg-type]
        (lambda: space_report(np.ones((5, 2)), np.ones((5, 2)), np.ones((4, 2))), "source has 4"),
    ],
)
def test_bad_inputs_raise_input_error(call: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


# -- issue 10: duplicates and ties in retrieval ------------------------------------------------


def _brute_force_expected(
    queries: np.ndarray, keys: np.ndarray, groups: np.ndarray, ks: tuple[int, ...]
) -> dict[str, float]:
    """Recall@k and MRR averaged over every order of the keys (all n! permutations): a tied key
    ranks by its place in the order, and the first key of the query's group is the hit."""
    import itertools

    n = keys.shape[0]
    sims = np.round(cosine_similarity(queries, keys), 12)
    totals = {f"top{k}": 0.0 for k in ks} | {"mrr": 0.0}
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        place = np.empty(n, dtype=int)
        place[list(perm)] = np.arange(n)
        for i in range(n):
            order = sorted(range(n), key=lambda j: (-sims[i, j], place[j]))
            rank = 1 + next(r for r, j in enumerate(order) if groups[j] == groups[i])
            for k in ks:
                totals[f"top{k}"] += rank <= k
            totals["mrr"] += 1.0 / rank
    return {key: v / (len(perms) * n) for key, v in totals.items()}


@pytest.mark.parametrize("seed", range(4))
def test_expected_ties_and_groups_match_all_orders_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    # few distinct directions: many exact ties; groups planted over some duplicates
    keys = rng.integers(-1, 2, size=(n, 2)).astype(float)
    queries = keys + rng.integers(-1, 2, size=(n, 2))
    groups = rng.integers(0, 3, n) if seed % 2 else np.arange(n)
    got = retrieval_scores(queries, keys, ks=(1, 2, 4), groups=groups, chunk_size=4)
    expected = _brute_force_expected(queries, keys, groups, (1, 2, 4))
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_planted_duplicates_are_hits_with_groups_and_split_without() -> None:
    from semalign.metrics import text_groups

    rng = np.random.default_rng(9)
    distinct = rng.normal(size=(30, 8))
    copies = rng.integers(1, 4, 30)  # each text appears 1-3 times
    texts = [f"Text  {i}" if c % 2 else f"text {i} " for i in range(30) for c in range(copies[i])]
    keys = np.repeat(distinct, copies, axis=0)
    queries = keys.copy()  # a perfect map: each query equals its own key
    groups = text_groups(texts)
    assert groups.max() + 1 == 30
    with_groups = retrieval_scores(queries, keys, ks=(1,), groups=groups)
    assert with_groups["top1"] == 1.0 and with_groups["mrr"] == 1.0
    # without groups, a query ties with its c identical copies: expected R@1 = 1 / c
    plain = retrieval_scores(queries, keys, ks=(1,))
    assert plain["top1"] == pytest.approx(np.mean(1.0 / np.repeat(copies, copies)))


def test_both_directions_treat_near_identical_duplicates_alike() -> None:
    """Identical texts embedded with float noise (not bit-identical): with groups, image->text
    and text->image give the same hits whichever copy wins."""
    rng = np.random.default_rng(10)
    base = rng.normal(size=(20, 6))
    idx = np.r_[np.arange(20), np.arange(10)]  # ten texts duplicated
    texts = base[idx] + 1e-7 * rng.normal(size=(30, 6))
    images = base[idx] + 1e-3 * rng.normal(size=(30, 6))
    groups = idx
    a = retrieval_scores(images, texts, ks=(1,), groups=groups)
    b = retrieval_scores(texts, images, ks=(1,), groups=groups)
    assert a["top1"] == b["top1"] == 1.0
    assert retrieval_scores(images, texts, ks=(1,))["top1"] < 1.0  # copies compete without


def test_text_groups_normalise_case_whitespace_and_punctuation() -> None:
    from semalign.metrics import text_groups

    texts = ["No acute  disease.", " no acute disease. ", "1. No acute\tdisease", "x", "acute"]
    np.testing.assert_array_equal(text_groups(texts), [0, 0, 0, 1, 2])
    with pytest.raises(InputError, match="text 1 is NoneType"):
        text_groups(["a", None])  # type: ignore[list-item]


def test_grouped_retrieval_memory_stays_below_n_squared() -> None:
    rng = np.random.default_rng(11)
    n = 2500
    x, y = rng.standard_normal((n, 8)), rng.standard_normal((n, 8))
    groups = rng.integers(0, n // 2, n)
    tracemalloc.start()
    try:
        retrieval_scores(x, y, groups=groups, chunk_size=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * n * 8 / 4
