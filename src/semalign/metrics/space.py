"""Similarity of two latent spaces given paired rows: error, cosine, retrieval, CKA, kNN overlap.

Every function takes arrays of shape (n, d) whose row i in one array is paired with row i in the
other (for instance ``pred = T(source)`` and ``target``). Inputs may be numpy arrays, anything
``numpy.asarray`` accepts, or torch tensors (CPU or CUDA); computation runs in float64.
Retrieval and kNN work on chunks of ``chunk_size`` query rows (by default as many as fit a 32 MiB
block), so memory is O(chunk_size * n), never n x n; linear CKA needs O(min(n, d)²).

Cosine similarity of a zero row with anything is taken as 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from semalign.arrays import as_float64_2d
from semalign.errors import InputError
from semalign.metrics.csls import check_scoring, mean_knn

__all__ = [
    "TIE_TOL",
    "RetrievalOutcome",
    "check_ks",
    "cosine_neighbours",
    "knn_jaccard",
    "linear_cka",
    "mean_cosine",
    "mse",
    "retrieval_outcome",
    "retrieval_ranks",
    "retrieval_scores",
    "space_report",
    "text_groups",
]

_CHUNK_BUDGET = 1 << 22
"""Elements (float64) of the largest (chunk, n) block a chunked metric allocates: 32 MiB."""

Float = NDArray[np.float64]


def _paired(
    a: Any, b: Any, names: tuple[str, str], same_width: bool = False
) -> tuple[Float, Float]:
    x = as_float64_2d(a, names[0])
    y = as_float64_2d(b, names[1])
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"{names[0]} has {x.shape[0]} rows, {names[1]} {y.shape[0]}: rows must be paired"
        )
    if same_width and x.shape[1] != y.shape[1]:
        raise InputError(
            f"{names[0]} has {x.shape[1]} columns, {names[1]} {y.shape[1]}: both must live in "
            "the same space (map the source first)"
        )
    return x, y


def unit_rows(x: Float) -> Float:
    """Rows of ``x`` (n, d) scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0.0, norms, 1.0)


def _chunk_rows(n: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, min(n, _CHUNK_BUDGET // max(n, 1)))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise InputError(f"chunk_size is {chunk_size!r}: pass a positive integer or None")
    if chunk_size < 1:
        raise InputError(f"chunk_size is {chunk_size}: pass a positive integer or None")
    return int(chunk_size)


def mse(pred: Any, target: Any) -> float:
    """Mean squared error over all elements (scikit-learn's convention).

    pred, target: (n, d). Returns ``mean((pred - target) ** 2)`` in squared target units.
    """
    p, t = _paired(pred, target, ("pred", "target"), same_width=True)
    return float(np.mean((p - t) ** 2))


def mean_cosine(pred: Any, target: Any) -> float:
    """Mean over rows of the cosine similarity between ``pred[i]`` and ``target[i]``.

    pred, target: (n, d). Returns a value in [-1, 1].
    """
    p, t = _paired(pred, target, ("pred", "target"), same_width=True)
    return float(np.mean(np.sum(unit_rows(p) * unit_rows(t), axis=1)))


TIE_TOL = 1e-10
"""Cosines closer than this are tied: float64 rounding never splits identical keys apart."""

TIE_POLICIES: tuple[str, ...] = ("expected", "optimistic", "pessimistic")


@dataclass(frozen=True)
class RetrievalOutcome:
    """Where each query's first hit lands, with ties resolved by a uniformly random order.

    A hit is a key of the query's group (its own key when there are no groups). Per query (n,):
    ``better`` non-hit keys score strictly above the best hit, and ``tied_misses`` non-hit keys
    and ``tied_hits`` (>= 1) hit keys score within :data:`TIE_TOL` of it. The first hit's rank
    is ``better + F``, where F is the position of the first hit in a random order of the tied
    block. Metrics are expectations over that order: ties are never a free hit.
    """

    better: NDArray[np.int64]
    tied_misses: NDArray[np.int64]
    tied_hits: NDArray[np.int64]

    def ranks(self, ties: str = "expected") -> Float:
        """1-based rank of the first hit (n,): expected (``better + 1 + u / (m + 1)`` for u
        tied misses and m tied hits), optimistic (ties lost) or pessimistic (ties won)."""
        if ties not in TIE_POLICIES:
            raise InputError(f"ties={ties!r} is unknown: use {', '.join(TIE_POLICIES)}")
        b = self.better.astype(np.float64)
        u, m = self.tied_misses.astype(np.float64), self.tied_hits.astype(np.float64)
        if ties == "optimistic":
            return b + 1.0
        if ties == "pessimistic":
            return b + u + 1.0
        return b + 1.0 + u / (m + 1.0)

    def recall_at(self, k: int) -> Float:
        """P(first hit ranks within the top k) per query (n,)."""
        return 1.0 - self._beyond(k - self.better)

    def reciprocal_rank(self) -> Float:
        """E[1 / rank of the first hit] per query (n,)."""
        out: Float = 1.0 / (self.better.astype(np.float64) + 1.0)
        for i in np.flatnonzero(self.tied_misses):
            u, m = int(self.tied_misses[i]), int(self.tied_hits[i])
            f = np.arange(1, u + 2)
            # P(F > f - 1) - P(F > f): the first hit is the f-th of the tied block
            tail = _all_misses_first(u, m, f - 1) - _all_misses_first(u, m, f)
            out[i] = float(np.sum(tail / (self.better[i] + f)))
        return out

    def _beyond(self, steps: NDArray[np.int64]) -> Float:
        """P(F > steps) per query: the first ``steps`` places of the tied block are misses."""
        out = np.where(steps <= 0, 1.0, 0.0)
        for i in np.flatnonzero((steps > 0) & (self.tied_misses >= steps)):
            out[i] = float(
                _all_misses_first(int(self.tied_misses[i]), int(self.tied_hits[i]), steps[i])
            )
        return out


def _all_misses_first(u: int, m: int, f: Any) -> Any:
    """P(the first f of u misses and m hits in random order are all misses) = C(u, f) / C(u+m, f),
    for f (scalar or array) in 0..u+1."""
    f = np.asarray(f)
    top = int(np.max(f, initial=0))
    i = np.arange(top)
    steps = np.cumprod(np.r_[1.0, np.maximum(u - i, 0) / (u + m - i)])
    return steps[np.clip(f, 0, top)]


def _group_codes(groups: Any, n: int) -> NDArray[np.int64]:
    if groups is None:
        return np.arange(n, dtype=np.int64)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InputError(f"groups has shape {g.shape}: pass one group key per row ({n},)")
    return np.unique(g, return_inverse=True)[1].astype(np.int64).ravel()


def retrieval_outcome(
    queries: Any,
    keys: Any,
    *,
    groups: Any = None,
    chunk_size: int | None = None,
    scoring: str = "cosine",
    csls_k: int = 10,
    distractors: Any = None,
) -> RetrievalOutcome:
    """Rank of each query's first hit among all keys by cosine similarity (or CSLS), with ties.

    queries, keys: (n, d), paired row by row. ``groups`` (n,): any key whose row shares the
    query's group counts as a hit (e.g. :func:`text_groups` of the reports, so an identical
    report is not a miss); by default only the query's own key is. The same rule serves both
    directions, so swapping queries and keys treats ties alike. ``distractors`` (m, d): further
    keys, never a hit (a gallery larger than the queries' partners: items outside the task).
    Memory is O(chunk_size * (n + m)). ``scoring="csls"`` scores
    ``2 cos(q_i, k_j) - r_query(k_j)`` (:mod:`semalign.metrics.csls`, ``csls_k`` neighbours;
    the query-side term is constant per query and is dropped), with the same tie and group rule.
    """
    scoring, csls_k = check_scoring(scoring, csls_k)
    q, k = _paired(queries, keys, ("queries", "keys"), same_width=True)
    n = q.shape[0]
    codes = _group_codes(groups, n)
    key_codes = codes
    if distractors is not None:
        extra = as_float64_2d(distractors, "distractors")
        if extra.shape[1] != k.shape[1]:
            raise InputError(
                f"distractors have {extra.shape[1]} columns, keys {k.shape[1]}: embed them in "
                "the keys' space"
            )
        k = np.vstack([k, extra])
        key_codes = np.concatenate([codes, codes.max(initial=-1) + 1 + np.arange(len(extra))])
    step = _chunk_rows(k.shape[0], chunk_size)
    qn, kn = unit_rows(q), unit_rows(k)
    r_query = mean_knn(kn, qn, csls_k, step) if scoring == "csls" else None
    better = np.empty(n, dtype=np.int64)
    tied_misses = np.empty(n, dtype=np.int64)
    tied_hits = np.empty(n, dtype=np.int64)
    for start in range(0, n, step):
        stop = min(start + step, n)
        scores = qn[start:stop] @ kn.T
        if r_query is not None:
            scores = 2.0 * scores - r_query[None, :]
        hit = codes[start:stop, None] == key_codes[None, :]
        best = np.where(hit, scores, -np.inf).max(axis=1, keepdims=True)
        tied = np.abs(scores - best) <= TIE_TOL
        better[start:stop] = np.count_nonzero((scores > best + TIE_TOL) & ~hit, axis=1)
        tied_misses[start:stop] = np.count_nonzero(tied & ~hit, axis=1)
        tied_hits[start:stop] = np.count_nonzero(tied & hit, axis=1)
    return RetrievalOutcome(better, tied_misses, tied_hits)


def retrieval_ranks(
    queries: Any,
    keys: Any,
    chunk_size: int | None = None,
    *,
    groups: Any = None,
    ties: str = "expected",
    scoring: str = "cosine",
    csls_k: int = 10,
) -> Float:
    """1-based rank (n,) of each query's first hit (its own key, or any key of its group).

    queries, keys: (n, d), paired row by row. Ties (cosines within :data:`TIE_TOL`) are broken
    by a random order and the expected rank is returned (``ties="expected"``, float64), so the
    result does not depend on key order and a tie is no free hit; ``"optimistic"`` and
    ``"pessimistic"`` give the bounds. ``scoring="csls"`` ranks by CSLS with ``csls_k``
    neighbours. See :func:`retrieval_outcome`.
    """
    outcome = retrieval_outcome(
        queries, keys, groups=groups, chunk_size=chunk_size, scoring=scoring, csls_k=csls_k
    )
    return outcome.ranks(ties)


#: list numbering: a number of one or two digits standing alone before "." or ")" ("1.", "2)",
#: "(3)"); IU impressions number their items mid-sentence too ("... effusions 2. Abnormal ...")
_NUMBERING = re.compile(r"(?:^|(?<=\s))\(?\d{1,2}\s*[.)](?=\s|$)")
#: the IU X-ray de-identification token (any run of four or more X standing for a word)
_DEID = re.compile(r"\bx{4,}\b", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """The key under which two reports count as the same text: list numbering ("1.", "2)") and
    the de-identification token "XXXX" dropped, then lower case, every run of punctuation or
    whitespace one space, stripped. So "1. Normal chest." equals "normal chest" and
    "XXXX pneumonia" equals "pneumonia"; "1.5 cm" ("1 5 cm") stays apart from "15 cm", but a
    count standing alone before a full stop ("rib 5. ") reads as numbering."""
    text = _DEID.sub(" ", _NUMBERING.sub(" ", text))
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def text_groups(texts: Sequence[str]) -> NDArray[np.int64]:
    """Group codes (n,) of texts: equal under :func:`normalise_text` (case, punctuation,
    whitespace, list numbering and "XXXX" ignored).

    Codes number the distinct normalised texts in order of first appearance; pass them as
    ``groups`` to retrieval or a group-aware split so that duplicates are handled explicitly.
    """
    seen: dict[str, int] = {}
    codes = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i} is {type(text).__name__}, not a string: pass the texts")
        codes[i] = seen.setdefault(normalise_text(text), len(seen))
    return codes


def retrieval_scores(
    queries: Any,
    keys: Any,
    ks: Sequence[int] = (1, 5),
    chunk_size: int | None = None,
    *,
    groups: Any = None,
    scoring: str = "cosine",
    csls_k: int = 10,
) -> dict[str, float]:
    """Top-k accuracy and mean reciprocal rank of retrieving ``keys[i]`` from ``queries[i]``.

    queries, keys: (n, d), paired row by row; ``groups`` (n,) makes any key of the query's group
    a hit. Returns ``{"top1": ..., "top5": ..., "mrr": ...}`` (one ``top{k}`` per entry of
    ``ks``), each in [0, 1] and each the expectation over a random order of tied keys; see
    :func:`retrieval_outcome` (``scoring``, ``csls_k``).
    """
    check_ks(ks)
    outcome = retrieval_outcome(
        queries, keys, groups=groups, chunk_size=chunk_size, scoring=scoring, csls_k=csls_k
    )
    out = {f"top{int(k)}": float(np.mean(outcome.recall_at(int(k)))) for k in ks}
    out["mrr"] = float(np.mean(outcome.reciprocal_rank()))
    return out


def check_ks(ks: Sequence[int]) -> None:
    """Refuse cut-offs that are not positive integers."""
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InputError(f"ks contains {k!r}: every k must be a positive integer")


def linear_cka(X: Any, Y: Any) -> float:
    """Linear centred kernel alignment between two spaces, in [0, 1].

    X: (n, d_x), Y: (n, d_y), paired row by row; widths may differ. With column-centred Xc, Yc,
    ``CKA = ||Xcᵀ Yc||_F² / (||Xcᵀ Xc||_F ||Ycᵀ Yc||_F)``, computed from d x d products (or from
    n x n Gram matrices when n is smaller than both widths), so memory is O(min(n, d)²).
    Invariant to orthogonal transforms, isotropic scaling and translation of either space.
    Returns NaN when either space has zero variance.
    """
    x, y = _paired(X, Y, ("X", "Y"))
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    if x.shape[0] < min(x.shape[1], y.shape[1]):
        gx, gy = x @ x.T, y @ y.T
        cross = float(np.sum(gx * gy))
        nx, ny = float(np.linalg.norm(gx)), float(np.linalg.norm(gy))
    else:
        cross = float(np.linalg.norm(x.T @ y) ** 2)
        nx, ny = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    if nx == 0.0 or ny == 0.0:
        return float("nan")
    return cross / (nx * ny)


def _knn_indices(x: Float, k: int, metric: str, step: int) -> NDArray[np.int64]:
    """(n, k) indices of each row's k nearest other rows, sorted by index.

    Ties at the k-th distance go to the lower index, so the sets are deterministic. The k-th
    smallest distance to the first few columns bounds each row's true k-th distance from above;
    only the entries under that bound are sorted.
    """
    n = x.shape[0]
    if metric == "cosine":
        z = unit_rows(x)
        sq = None
    else:
        z = x
        sq = np.einsum("ij,ij->i", x, x)
    probe = min(n, max(8 * k, 2048))
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, step):
        stop = min(start + step, n)
        rows = stop - start
        if sq is None:
            dist = -(z[start:stop] @ z.T)
        else:
            dist = sq[start:stop, None] - 2.0 * (z[start:stop] @ z.T) + sq[None, :]
        dist[np.arange(rows), np.arange(start, stop)] = np.inf
        bound = np.partition(dist[:, :probe], k - 1, axis=1)[:, k - 1 : k]
        row, col = np.nonzero(dist <= bound)
        order = np.lexsort((col, dist[row, col], row))
        first = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=rows))[:-1]))
        nearest = col[order][first[:, None] + np.arange(k)]
        out[start:stop] = np.sort(nearest, axis=1)
    return out


def cosine_neighbours(X: Any, k: int = 10, chunk_size: int | None = None) -> NDArray[np.int64]:
    """(n, k) indices of each row's k nearest other rows of X (n, d) by cosine, sorted by index.

    The search :func:`knn_jaccard`, :func:`~semalign.metrics.similarity.mutual_knn` and
    :func:`~semalign.metrics.similarity.cknna` run (ties at the k-th distance go to the lower
    index): run it once per space and pass the pair as their ``neighbours`` to share it.
    """
    x = as_float64_2d(X, "X")
    n = x.shape[0]
    return _knn_indices(x, _check_k(k, n), "cosine", _chunk_rows(n, chunk_size))


def _given_neighbours(
    neighbours: tuple[Any, Any], n: int, k: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Check a ``neighbours`` pair: two (n, k) integer index arrays."""
    if not isinstance(neighbours, tuple | list) or len(neighbours) != 2:
        raise InputError("neighbours must be a pair (of X, of Y) of (n, k) index arrays")
    out = []
    for name, a in zip(("X", "Y"), neighbours, strict=True):
        a = np.asarray(a)
        if a.shape != (n, k) or not np.issubdtype(a.dtype, np.integer):
            raise InputError(
                f"neighbours of {name} are {a.dtype} {a.shape}: pass the (n, k) = ({n}, {k}) "
                "indices cosine_neighbours gives"
            )
        out.append(a.astype(np.int64, copy=False))
    return out[0], out[1]


def knn_jaccard(
    X: Any,
    Y: Any,
    k: int = 10,
    metric: Literal["cosine", "euclidean"] = "cosine",
    chunk_size: int | None = None,
    *,
    neighbours: tuple[Any, Any] | None = None,
) -> float:
    """Mean Jaccard overlap of each point's k-nearest-neighbour sets in two spaces, in [0, 1].

    X: (n, d_x), Y: (n, d_y), paired row by row; widths may differ. For each i the k nearest
    rows other than i itself (by ``metric``, within each space) form a set in X and one in Y;
    the result is the mean of ``|A ∩ B| / |A ∪ B|``. Exact duplicates of a row count as its
    neighbours; ties at the k-th distance go to the lower row index. Memory is O(chunk_size * n).
    ``neighbours``: the (n, k) cosine neighbours of X and of Y already found
    (:func:`cosine_neighbours`), used instead of searching again (``metric`` must be cosine).
    """
    if metric not in ("cosine", "euclidean"):
        raise InputError(f"metric is {metric!r}: choose 'cosine' or 'euclidean'")
    x, y = _paired(X, Y, ("X", "Y"))
    n = x.shape[0]
    k = _check_k(k, n)
    if neighbours is not None:
        if metric != "cosine":
            raise InputError("neighbours are cosine neighbours: pass them with metric='cosine'")
        return _mean_jaccard(*_given_neighbours(neighbours, n, k))
    step = _chunk_rows(n, chunk_size)
    return _mean_jaccard(_knn_indices(x, k, metric, step), _knn_indices(y, k, metric, step))


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k is {k!r}: pass a positive integer number of neighbours")
    if k >= n:
        raise InputError(f"k is {k} but there are {n} points: k must be at most n - 1 = {n - 1}")
    return int(k)


def _mean_jaccard(a: NDArray[np.int64], b: NDArray[np.int64]) -> float:
    """Mean over rows of the Jaccard overlap of two (n, k) neighbour-index arrays."""
    n, k = a.shape
    total = 0.0
    inner = max(1, _CHUNK_BUDGET // (k * k))
    for start in range(0, n, inner):
        ca, cb = a[start : start + inner], b[start : start + inner]
        shared = np.count_nonzero(ca[:, :, None] == cb[:, None, :], axis=(1, 2))
        total += float(np.sum(shared / (2 * k - shared)))
    return total / n


def space_report(
    pred: Any,
    target: Any,
    source: Any = None,
    *,
    ks: Sequence[int] = (1, 5),
    knn_k: int = 10,
    chunk_size: int | None = None,
    groups: Any = None,
    scoring: str = "cosine",
    csls_k: int = 10,
) -> dict[str, float]:
    """All space metrics of mapped source rows ``pred`` against their paired ``target`` rows.

    pred, target: (n, d_t); source (optional): (n, d_s), the unmapped source rows. Keys: ``mse``,
    ``cosine``, ``top{k}`` for k in ``ks``, ``mrr`` (retrieval of target i from pred i), ``cka``
    and ``knn_jaccard@{knn_k}`` (cosine neighbours). With ``source``, also ``source_cka`` and
    ``source_knn_jaccard@{knn_k}``: the similarity of the spaces before alignment. ``groups``
    (n,): rows of one group are interchangeable hits for the retrieval metrics; ``scoring`` /
    ``csls_k`` rank them by cosine or CSLS (:func:`retrieval_outcome`).
    """
    p, t = _paired(pred, target, ("pred", "target"), same_width=True)
    s = None if source is None else _paired(source, t, ("source", "target"))[0]
    n = t.shape[0]
    k = _check_k(knn_k, n)
    step = _chunk_rows(n, chunk_size)
    report = {"mse": mse(p, t), "cosine": mean_cosine(p, t)}
    report.update(
        retrieval_scores(
            p, t, ks=ks, chunk_size=step, groups=groups, scoring=scoring, csls_k=csls_k
        )
    )
    report["cka"] = linear_cka(p, t)
    target_knn = _knn_indices(t, k, "cosine", step)
    report[f"knn_jaccard@{knn_k}"] = _mean_jaccard(_knn_indices(p, k, "cosine", step), target_knn)
    if s is not None:
        report["source_cka"] = linear_cka(s, t)
        source_knn = _knn_indices(s, k, "cosine", step)
        report[f"source_knn_jaccard@{knn_k}"] = _mean_jaccard(source_knn, target_knn)
    return report
