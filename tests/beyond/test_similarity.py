"""Mutual kNN, unbiased CKA and CKNNA against direct O(n^2) implementations and planted cases."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.metrics.similarity import cknna, mutual_knn, unbiased_cka


def hsic_unbiased_direct(k: np.ndarray, g: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC, term by term on n x n Gram matrices."""
    n = k.shape[0]
    kt, lt = k.copy(), g.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    trace = np.trace(kt @ lt)
    middle = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    last = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float((trace + middle - last) / (n * (n - 3)))


def knn_sets(z: np.ndarray, k: int) -> list[set[int]]:
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = zn @ zn.T
    np.fill_diagonal(s, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in s]


@pytest.mark.parametrize("shape", [(12, 3, 5), (40, 7, 2)])
def test_unbiased_cka_equals_direct_hsic(shape: tuple[int, int, int]) -> None:
    n, dx, dy = shape
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, dx)) + 2.0
    y = x[:, :1] @ rng.normal(size=(1, dy)) + rng.normal(size=(n, dy))
    xc, yc = x - x.mean(0), y - y.mean(0)
    kx, ly = xc @ xc.T, yc @ yc.T
    expected = hsic_unbiased_direct(kx, ly) / np.sqrt(
        hsic_unbiased_direct(kx, kx) * hsic_unbiased_direct(ly, ly)
    )
    assert unbiased_cka(x, y) == pytest.approx(expected, rel=1e-10)


def test_unbiased_cka_is_one_under_rotation_and_near_zero_for_independent() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    q = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    assert unbiased_cka(x, 3 * x @ q + 1) == pytest.approx(1.0, abs=1e-12)
    assert abs(unbiased_cka(x, rng.normal(size=(500, 8)))) < 0.02


def test_mutual_knn_on_a_planted_case() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    assert mutual_knn(x, x @ q, k=4) == 1.0
    y = rng.normal(size=(60, 5))
    a, b = knn_sets(x, 4), knn_sets(y, 4)
    expected = np.mean([len(a[i] & b[i]) / 4 for i in range(60)])
    assert mutual_knn(x, y, k=4) == pytest.approx(expected)


def cknna_direct(x: np.ndarray, y: np.ndarray, k: int) -> float:
    def unit(z: np.ndarray) -> np.ndarray:
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    def align(g: np.ndarray, h: np.ndarray, ng: list[set[int]], nh: list[set[int]]) -> float:
        n = g.shape[0]
        total = 0.0
        for i in range(n):
            gm = (g[i].sum() - g[i, i]) / (n - 1)
            hm = (h[i].sum() - h[i, i]) / (n - 1)
            for j in range(n):
                if j != i and j in ng[i] and j in nh[i]:
                    total += (g[i, j] - gm) * (h[i, j] - hm)
        return total

    xu, yu = unit(x), unit(y)
    kx, ly = xu @ xu.T, yu @ yu.T
    a, b = knn_sets(x, k), knn_sets(y, k)
    return align(kx, ly, a, b) / np.sqrt(align(kx, kx, a, a) * align(ly, ly, b, b))


def test_cknna_equals_direct_and_is_one_under_rotation() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4))
    y = x @ rng.normal(size=(4, 6)) + 0.5 * rng.normal(size=(30, 6))
    assert cknna(x, y, k=5) == pytest.approx(cknna_direct(x, y, 5), rel=1e-10)
    q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    assert cknna(x, x @ q, k=5) == pytest.approx(1.0)


def test_similarity_input_errors() -> None:
    with pytest.raises(InputError, match="at least 4 rows"):
        unbiased_cka(np.eye(3), np.eye(3))
    with pytest.raises(InputError, match="k is"):
        mutual_knn(np.eye(5), np.eye(5), k=5)


def test_at_sample_sizes_uses_nested_subsets() -> None:
    from semalign.metrics.similarity import at_sample_sizes, similarity_report

    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 6))
    y = x @ rng.normal(size=(6, 4)) + rng.normal(size=(80, 4))
    rows = at_sample_sizes(x, y, [20, 80], k=5, seed=3)
    assert [r["n"] for r in rows] == [20, 80]
    first = np.sort(np.random.default_rng(3).permutation(80)[:20])
    assert rows[0] == {"n": 20, **similarity_report(x[first], y[first], k=5)}
    assert rows[1]["unbiased_cka"] == pytest.approx(unbiased_cka(x, y))
    with pytest.raises(InputError, match="sample size 81"):
        at_sample_sizes(x, y, [81], k=5)
