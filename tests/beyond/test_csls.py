"""CSLS: planted hubs, and a direct dense implementation as the oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.metrics.csls import csls_from_similarities
from semalign.metrics.space import retrieval_ranks, retrieval_scores, space_report


def hub_case(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mapped queries with a common offset along u, true keys = rotated queries + noise, and
    10 hub keys pushed along u: they are every query's cosine-nearest key."""
    rng = np.random.default_rng(seed)
    n, d = 200, 32
    q = rng.normal(size=(n, d))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    r = np.linalg.qr(rng.normal(size=(d, d)))[0]
    keys = q @ r + 0.1 * rng.normal(size=(n, d))
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    hubs = rng.choice(n, 10, replace=False)
    keys[hubs] += 2.0 * u
    return q @ r + 1.0 * u, keys, hubs


def direct_csls(q: np.ndarray, k: np.ndarray, nn: int) -> np.ndarray:
    """CSLS by its definition, with loops over the full similarity matrix."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    kn = k / np.linalg.norm(k, axis=1, keepdims=True)
    s = qn @ kn.T
    out = np.empty_like(s)
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            r_q = np.mean(sorted(s[i, :], reverse=True)[: min(nn, s.shape[1])])
            r_k = np.mean(sorted(s[:, j], reverse=True)[: min(nn, s.shape[0])])
            out[i, j] = 2 * s[i, j] - r_q - r_k
    return out


def test_csls_recovers_pairs_that_hubs_steal_from_cosine() -> None:
    queries, keys, hubs = hub_case()
    cos_ranks = retrieval_ranks(queries, keys)
    csls = retrieval_ranks(queries, keys, scoring="csls", csls_k=10)
    assert np.mean(cos_ranks == 1) < 0.25  # cosine: the hubs win
    assert np.mean(csls == 1) > 0.95
    # cosine's top-1 is a hub for the queries it gets wrong
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    kn = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    wrong = np.flatnonzero(cos_ranks > 1)
    assert np.isin(np.argmax(qn[wrong] @ kn.T, axis=1), hubs).mean() > 0.95


@pytest.mark.parametrize("chunk", [1, 3, None])
def test_csls_ranks_equal_direct_definition(chunk: int | None) -> None:
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(23, 5)), rng.normal(size=(23, 5))
    s = direct_csls(q, k, 4)
    own = np.diag(s)
    expected = 1 + (s > own[:, None]).sum(axis=1)
    got = retrieval_ranks(q, k, chunk, scoring="csls", csls_k=4)
    np.testing.assert_array_equal(got, expected)


def test_csls_ties_count_as_their_expectation_and_groups_make_them_hits() -> None:
    """Planted duplicate keys tie under CSLS (equal cosines and equal r_query): the expected
    rank over a random order of the tied block, by brute-force enumeration of the orders."""
    rng = np.random.default_rng(5)
    q = rng.normal(size=(12, 6))
    k = q + 0.05 * rng.normal(size=(12, 6))
    k[[4, 9]] = k[2]  # keys 2, 4, 9 identical: query 2 ties its own key with two copies
    s = direct_csls(q, k, 3)
    ranks = retrieval_ranks(q, k, scoring="csls", csls_k=3)
    for i in range(12):
        better = np.sum(s[i] > s[i, i] + 1e-9)
        tied = np.flatnonzero(np.abs(s[i] - s[i, i]) <= 1e-9)
        orders = list(itertools.permutations(tied))
        expected = better + np.mean([1 + list(o).index(i) for o in orders])
        assert ranks[i] == pytest.approx(expected)
    assert ranks[2] == pytest.approx(np.sum(s[2] > s[2, 2] + 1e-9) + 2.0)  # (1 + 2 + 3) / 3
    groups = np.arange(12)
    groups[[4, 9]] = 2
    grouped = retrieval_ranks(q, k, scoring="csls", csls_k=3, groups=groups)
    assert grouped[2] == pytest.approx(np.sum(s[2] > s[2, 2] + 1e-9) + 1.0)


def test_csls_from_similarities_equals_definition_and_caps_k() -> None:
    rng = np.random.default_rng(4)
    q, k = rng.normal(size=(6, 4)), rng.normal(size=(3, 4))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    kn = k / np.linalg.norm(k, axis=1, keepdims=True)
    np.testing.assert_allclose(csls_from_similarities(qn @ kn.T, 5), direct_csls(q, k, 5))


def test_single_query_csls_ranks_keys_as_cosine() -> None:
    s = np.array([[0.3, 0.9, -0.2, 0.5]])
    out = csls_from_similarities(s, 10)
    np.testing.assert_array_equal(np.argsort(out[0]), np.argsort(s[0]))


def test_space_report_and_scores_take_scoring() -> None:
    queries, keys, _ = hub_case()
    rep = space_report(queries, keys, scoring="csls", knn_k=5)
    assert rep["top1"] == retrieval_scores(queries, keys, scoring="csls")["top1"] > 0.95


@pytest.mark.parametrize(
    ("scoring", "k", "needle"), [("dot", 10, "scoring"), ("csls", 0, "csls_k")]
)
def test_bad_scoring_options_name_themselves(scoring: str, k: int, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        retrieval_ranks(np.eye(3), np.eye(3), scoring=scoring, csls_k=k)
