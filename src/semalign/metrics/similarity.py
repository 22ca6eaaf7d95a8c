"""Space similarity as the field now measures it: mutual k-NN, unbiased CKA, CKNNA.

All take paired rows X (n, d_x), Y (n, d_y) (widths may differ) and never build an n x n
matrix: neighbours come from the chunked search of :mod:`semalign.metrics.space`, and the
unbiased HSIC is written with d x d products. These estimates drift with n (mutual k-NN and
CKNNA fall as n grows at fixed k), so compare them only at equal sample sizes.

- ``mutual_knn``: Huh et al. 2024 ("The Platonic Representation Hypothesis"): mean over i of
  ``|knn_X(i) ∩ knn_Y(i)| / k`` with cosine neighbours, i itself excluded.
- ``unbiased_cka``: linear CKA with the unbiased HSIC estimator of Song et al. (2012) on
  column-centred rows, ``HSIC_1(K, L) = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n-1)(n-2))
  - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3))`` with K̃ = XXᵀ with its diagonal set to 0; not bounded
  below by 0 (about 0 for independent spaces), needs n >= 4.
- ``cknna``: CKA restricted to mutual neighbours (Huh et al. 2024), on L2-normalised rows:
  ``Align(K, L) = Σ_i Σ_{j≠i} α_ij (K_ij - K̄_i)(L_ij - L̄_i)``, K̄_i the mean of K_il over
  l ≠ i, α_ij = 1 when j is among the k nearest of i in both spaces (for Align(K, K): in K);
  ``CKNNA = Align(K, L) / sqrt(Align(K, K) Align(L, L))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError
from semalign.metrics.space import (
    _check_k,
    _chunk_rows,
    _given_neighbours,
    _knn_indices,
    _paired,
    unit_rows,
)

__all__ = [
    "at_sample_sizes",
    "cknna",
    "mutual_knn",
    "nested_subsets",
    "similarity_report",
    "unbiased_cka",
]

Float = NDArray[np.float64]


def _neighbour_pair(
    x: Float, y: Float, k: int, chunk_size: int | None, neighbours: tuple[Any, Any] | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = x.shape[0]
    if neighbours is not None:
        return _given_neighbours(neighbours, n, k)
    step = _chunk_rows(n, chunk_size)
    return _knn_indices(x, k, "cosine", step), _knn_indices(y, k, "cosine", step)


def mutual_knn(
    X: Any,
    Y: Any,
    k: int = 10,
    chunk_size: int | None = None,
    *,
    neighbours: tuple[Any, Any] | None = None,
) -> float:
    """Mutual k-NN alignment in [0, 1]: mean shared fraction of each row's k cosine neighbours.

    ``neighbours``: the (n, k) cosine neighbours of X and of Y already found
    (:func:`~semalign.metrics.space.cosine_neighbours`), used instead of searching again.
    """
    x, y = _paired(X, Y, ("X", "Y"))
    k = _check_k(k, x.shape[0])
    a, b = _neighbour_pair(x, y, k, chunk_size, neighbours)
    return float(np.mean(_shared(a, b)) / k)


def _shared(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    """Per row, how many of the (sorted) neighbour indices of ``a`` also appear in ``b``."""
    out = np.empty(a.shape[0], dtype=np.int64)
    for i in range(0, a.shape[0], 4096):
        ca, cb = a[i : i + 4096], b[i : i + 4096]
        out[i : i + 4096] = np.count_nonzero(ca[:, :, None] == cb[:, None, :], axis=(1, 2))
    return out


def _hsic_terms(x: Float, y: Float) -> float:
    """Unbiased HSIC of linear kernels of x (n, d_x), y (n, d_y), from d x d products."""
    n = x.shape[0]
    sx, sy = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)  # diagonals of K, L
    trace = float(np.linalg.norm(x.T @ y) ** 2 - sx @ sy)  # tr(K̃ L̃)
    kx = x @ x.sum(axis=0) - sx  # K̃ 1
    ly = y @ y.sum(axis=0) - sy  # L̃ 1
    total = (
        trace + float(kx.sum() * ly.sum()) / ((n - 1) * (n - 2)) - 2.0 * float(kx @ ly) / (n - 2)
    )
    return total / (n * (n - 3))


def unbiased_cka(X: Any, Y: Any) -> float:
    """Linear CKA with the unbiased (debiased) HSIC estimator; NaN when a space is constant."""
    x, y = _paired(X, Y, ("X", "Y"))
    n = x.shape[0]
    if n < 4:
        raise InputError(f"unbiased CKA needs at least 4 rows, got {n}: pass more paired rows")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    hxx, hyy = _hsic_terms(x, x), _hsic_terms(y, y)
    if not (hxx > 0 and hyy > 0):
        return float("nan")
    return _hsic_terms(x, y) / float(np.sqrt(hxx * hyy))


def _row_means(z: Float) -> Float:
    """mean_{l≠i} K_il of the linear kernel of z (n, d), for every row i."""
    n = z.shape[0]
    diag = np.einsum("ij,ij->i", z, z)
    out: Float = (z @ z.sum(axis=0) - diag) / (n - 1)
    return out


def _centred_kernel_at(
    z: Float, rows: NDArray[np.int64], cols: NDArray[np.int64], row_mean: Float | None = None
) -> Float:
    """K_ij - mean_{l≠i} K_il for unit rows z at the (rows, cols) entries (``row_mean``:
    :func:`_row_means` of z, if already computed). The gathered rows are copied a block at a
    time, so memory is O(block * d), not O(len(rows) * d)."""
    if row_mean is None:
        row_mean = _row_means(z)
    out: Float = np.empty(rows.size)
    for i in range(0, rows.size, _GATHER):
        r, c = rows[i : i + _GATHER], cols[i : i + _GATHER]
        out[i : i + _GATHER] = np.einsum("ij,ij->i", z[r], z[c]) - row_mean[r]
    return out


_GATHER = 8192
"""Kernel entries of :func:`_centred_kernel_at` computed together."""


def cknna(
    X: Any,
    Y: Any,
    k: int = 10,
    chunk_size: int | None = None,
    *,
    neighbours: tuple[Any, Any] | None = None,
) -> float:
    """Centred kernel nearest-neighbour alignment (Huh et al. 2024); NaN when undefined.

    ``neighbours``: the (n, k) cosine neighbours of X and of Y already found
    (:func:`~semalign.metrics.space.cosine_neighbours`), used instead of searching again.
    """
    x, y = _paired(X, Y, ("X", "Y"))
    n = x.shape[0]
    k = _check_k(k, n)
    xu, yu = unit_rows(x), unit_rows(y)
    a, b = _neighbour_pair(xu, yu, k, chunk_size, neighbours)
    rows = np.repeat(np.arange(n), k)
    xmean, ymean = _row_means(xu), _row_means(yu)
    ka = _centred_kernel_at(xu, rows, a.ravel(), xmean)
    la = _centred_kernel_at(yu, rows, b.ravel(), ymean)
    kk = float(ka @ ka)  # Align(K, K): neighbours of K in K
    ll = float(la @ la)
    both = (a[:, :, None] == b[:, None, :]).any(axis=2).ravel()  # j in knn_X(i) and knn_Y(i)
    kl = float(ka[both] @ _centred_kernel_at(yu, rows[both], a.ravel()[both], ymean))
    if not (kk > 0 and ll > 0):
        return float("nan")
    return kl / float(np.sqrt(kk * ll))


def similarity_report(
    pred: Any, target: Any, source: Any = None, *, k: int = 10, chunk_size: int | None = None
) -> dict[str, float]:
    """``mutual_knn@k``, ``unbiased_cka`` and ``cknna@k`` of mapped rows ``pred`` (n, d_t)
    against ``target`` (n, d_t); with the unmapped ``source`` (n, d_s), also ``source_*``."""
    out = {
        f"mutual_knn@{k}": mutual_knn(pred, target, k, chunk_size),
        "unbiased_cka": unbiased_cka(pred, target),
        f"cknna@{k}": cknna(pred, target, k, chunk_size),
    }
    if source is not None:
        out[f"source_mutual_knn@{k}"] = mutual_knn(source, target, k, chunk_size)
        out["source_unbiased_cka"] = unbiased_cka(source, target)
        out[f"source_cknna@{k}"] = cknna(source, target, k, chunk_size)
    return out


def nested_subsets(n_rows: int, sizes: Any, *, k: int = 10, seed: int = 0) -> list[Any]:
    """Sorted row indices of nested random subsets of ``n_rows`` rows, one per size.

    One seeded permutation; size n takes its first n rows, so larger samples contain smaller
    ones. Every size must be an integer in (k, n_rows].
    """
    order = np.random.default_rng(seed).permutation(n_rows)
    out = []
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not k < n <= n_rows:
            raise InputError(
                f"sample size {n!r} must be an integer in ({k}, {n_rows}]: more rows than "
                "k and at most the rows available"
            )
        out.append(np.sort(order[: int(n)]))
    return out


def at_sample_sizes(
    X: Any, Y: Any, sizes: Any, *, k: int = 10, seed: int = 0
) -> list[dict[str, float]]:
    """:func:`similarity_report` of X against Y on nested random subsets of each size
    (:func:`nested_subsets`), so the drift with n is not confounded with resampling. Each dict
    carries ``n``.
    """
    x, y = _paired(X, Y, ("X", "Y"))
    return [
        {"n": float(idx.size), **similarity_report(x[idx], y[idx], k=k)}
        for idx in nested_subsets(x.shape[0], sizes, k=k, seed=seed)
    ]
