"""Cross-domain similarity local scaling (CSLS; Conneau et al., ICLR 2018), chunked.

In a mapped space a few keys ("hubs") are the nearest neighbour of many queries. CSLS discounts
each side's density: with cosine similarities ``cos(q, k)``,

    CSLS(q_i, k_j) = 2 cos(q_i, k_j) - r_key(q_i) - r_query(k_j)

where ``r_key(q_i)`` is the mean cosine of query i to its ``k`` nearest keys and ``r_query(k_j)``
the mean cosine of key j to its ``k`` nearest queries. A hub has a large ``r_query`` and loses
its advantage. ``k`` is capped at the size of the other set (documented, not an error), so a
set of one row gives ``r`` = its single cosine.

Memory is O(chunk x n): both neighbourhood terms are computed over blocks of rows. Retrieval by
CSLS is ``scoring="csls"`` of :func:`semalign.metrics.space.retrieval_outcome` (and of
``retrieval_ranks`` / ``retrieval_scores`` / ``space_report``): the same expected-rank tie rule
and ``groups`` as cosine. Zero rows have cosine 0 with everything (as in
:mod:`semalign.metrics.space`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError

__all__ = [
    "SCORINGS",
    "check_scoring",
    "csls_from_similarities",
    "csls_nearest",
    "mean_knn",
]

SCORINGS: tuple[str, ...] = ("cosine", "csls")

Float = NDArray[np.float64]


def check_scoring(scoring: Any, csls_k: Any = 10) -> tuple[str, int]:
    """Validate ``scoring`` (one of :data:`SCORINGS`) and ``csls_k`` (a positive integer)."""
    if scoring not in SCORINGS:
        raise InputError(f"scoring is {scoring!r}: choose one of {', '.join(SCORINGS)}")
    if isinstance(csls_k, bool) or not isinstance(csls_k, int | np.integer) or csls_k < 1:
        raise InputError(f"csls_k is {csls_k!r}: pass a positive integer number of neighbours")
    return str(scoring), int(csls_k)


def mean_knn(a: Float, b: Float, k: int, step: int) -> Float:
    """(m,) mean cosine of each unit row of ``a`` (m, d) to its ``min(k, n)`` nearest rows of
    ``b`` (n, d); blocks of ``step`` rows of ``a``, so memory is O(step x n)."""
    m, n = a.shape[0], b.shape[0]
    kk = min(k, n)
    out = np.empty(m)
    for start in range(0, m, step):
        sims = a[start : start + step] @ b.T
        top = np.partition(sims, n - kk, axis=1)[:, n - kk :]
        out[start : start + step] = top.mean(axis=1)
    return out


def csls_from_similarities(sims: Any, k: int = 10) -> Float:
    """CSLS of a dense (m, n) similarity matrix (rows: queries, columns: keys).

    Each row's neighbourhood is its ``min(k, n)`` largest entries, each column's its
    ``min(k, m)`` largest; used where the matrix is small (images x classes in zero-shot).
    """
    s = np.asarray(sims, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise InputError(f"similarities have shape {s.shape}: pass a non-empty (m, n) matrix")
    _, k = check_scoring("csls", k)
    m, n = s.shape
    r_row = np.partition(s, n - min(k, n), axis=1)[:, n - min(k, n) :].mean(axis=1)
    r_col = np.partition(s, m - min(k, m), axis=0)[m - min(k, m) :].mean(axis=0)
    out: Float = 2.0 * s - r_row[:, None] - r_col[None, :]
    return out


def csls_nearest(queries: Float, keys: Float, k: int, step: int) -> NDArray[np.int64]:
    """(m,) index of each unit query row's CSLS-nearest unit key row (ties: lowest index)."""
    r_query = mean_knn(keys, queries, k, step)
    out = np.empty(queries.shape[0], dtype=np.int64)
    for start in range(0, queries.shape[0], step):
        scores = 2.0 * (queries[start : start + step] @ keys.T) - r_query[None, :]
        out[start : start + step] = np.argmax(scores, axis=1)
    return out
