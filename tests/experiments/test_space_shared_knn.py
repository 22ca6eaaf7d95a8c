"""space_at_sizes shares one cosine k-NN search per space between knn_jaccard, mutual_knn and
cknna: its rows equal, bit for bit, those of the former code (six searches per subset, kept here
as the oracle), and each metric given the neighbours equals the metric searching itself."""

from __future__ import annotations

import numpy as np
import pytest

import semalign.metrics.similarity as similarity
from semalign.errors import InputError
from semalign.experiments.cache import UnitOutput
from semalign.experiments.units import SAMPLE_SIZE, space_at_sizes
from semalign.metrics.classification import Estimate
from semalign.metrics.similarity import at_sample_sizes, cknna, mutual_knn, nested_subsets
from semalign.metrics.space import cosine_neighbours, knn_jaccard, linear_cka, unit_rows
from semalign.tasks.results import ResultTable


def space_at_sizes_oracle(
    xa: np.ndarray, xb: np.ndarray, sizes: list[int], *, repeats: int, k: int
) -> UnitOutput:
    """The former space_at_sizes (feasible sizes only): at_sample_sizes + CKA + k-NN Jaccard."""
    n_rows = xa.shape[0]
    values: dict[int, dict[str, list[float]]] = {m: {} for m in sizes}
    for seed in range(repeats):
        subsets = nested_subsets(n_rows, sizes, k=k, seed=seed)
        reports = at_sample_sizes(xa, xb, sizes, k=k, seed=seed)
        for idx, rep in zip(subsets, reports, strict=True):
            rep = {
                "cka": linear_cka(xa[idx], xb[idx]),
                f"knn_jaccard@{k}": knn_jaccard(xa[idx], xb[idx], k),
                **{m: v for m, v in rep.items() if m != "n"},
            }
            for m, v in rep.items():
                values[idx.size].setdefault(m, []).append(v)
    table = ResultTable()
    for size, by in values.items():
        est = {
            m: Estimate(float(np.mean(v)), *map(float, np.percentile(v, [2.5, 97.5])))
            for m, v in by.items()
        }
        table.add(est, n=size, task="space", source="a", target="b", mode=SAMPLE_SIZE)
    return UnitOutput(table)


def cknna_oracle(X: np.ndarray, Y: np.ndarray, k: int) -> float:
    """The former cknna: full-size gathers, row means recomputed for every kernel."""

    def centred(z: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        n = z.shape[0]
        diag = np.einsum("ij,ij->i", z, z)
        row_mean = (z @ z.sum(axis=0) - diag) / (n - 1)
        return np.einsum("ij,ij->i", z[rows], z[cols]) - row_mean[rows]

    x, y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n = x.shape[0]
    xu, yu = unit_rows(x), unit_rows(y)
    a, b = cosine_neighbours(xu, k), cosine_neighbours(yu, k)
    rows = np.repeat(np.arange(n), k)
    ka, la = centred(xu, rows, a.ravel()), centred(yu, rows, b.ravel())
    kk, ll = float(ka @ ka), float(la @ la)
    both = (a[:, :, None] == b[:, None, :]).any(axis=2).ravel()
    kl = float(ka[both] @ centred(yu, rows[both], a.ravel()[both]))
    return kl / float(np.sqrt(kk * ll))


def _spaces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float32 embeddings sharing a low-rank latent, with exact duplicate rows (k-NN ties)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 6))
    xa = latent @ rng.normal(size=(6, 48)) + 0.7 * rng.normal(size=(n, 48))
    xb = latent @ rng.normal(size=(6, 32)) + 0.7 * rng.normal(size=(n, 32))
    xa[5::50], xb[7::50] = xa[4], xb[6]
    return xa.astype(np.float32), xb.astype(np.float32)


@pytest.mark.parametrize(("n", "sizes", "k"), [(700, [60, 250, 700], 10), (90, [12, 90], 3)])
def test_space_rows_are_bit_identical_to_the_six_search_code(
    n: int, sizes: list[int], k: int
) -> None:
    xa, xb = _spaces(n)
    got = space_at_sizes(xa, xb, sizes, repeats=3, k=k, names=("a", "b")).table.to_records()
    want = space_at_sizes_oracle(xa, xb, sizes, repeats=3, k=k).table.to_records()
    assert got == want


def test_metrics_given_the_neighbours_equal_the_metrics_searching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(similarity, "_GATHER", 37)  # many gather blocks, one ragged
    xa, xb = _spaces(400, seed=1)
    knn = (cosine_neighbours(xa, 10), cosine_neighbours(xb, 10))
    assert knn_jaccard(xa, xb, 10, neighbours=knn) == knn_jaccard(xa, xb, 10)
    assert mutual_knn(xa, xb, 10, neighbours=knn) == mutual_knn(xa, xb, 10)
    assert cknna(xa, xb, 10, neighbours=knn) == cknna(xa, xb, 10) == cknna_oracle(xa, xb, 10)


def test_bad_neighbours_are_refused() -> None:
    xa, xb = _spaces(50)
    knn = (cosine_neighbours(xa, 5), cosine_neighbours(xb, 5))
    with pytest.raises(InputError, match="neighbours"):
        mutual_knn(xa, xb, 4, neighbours=knn)
    with pytest.raises(InputError, match="pair"):
        cknna(xa, xb, 5, neighbours=knn[0])
    with pytest.raises(InputError, match="cosine"):
        knn_jaccard(xa, xb, 5, metric="euclidean", neighbours=knn)
