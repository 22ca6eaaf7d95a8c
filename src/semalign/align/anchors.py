"""Deterministic choice of anchor rows: random, stratified by label, or covering the source space.

``select_anchors`` returns row indices in *selection order*. For ``random``, ``farthest`` and
``kmeans++`` a prefix of the result is what a smaller ``k`` with the same seed returns, so one
call serves a sweep over anchor counts. ``stratified`` is shuffled as a whole; its prefixes are
not stratified.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.arrays import as_float64_2d
from semalign.errors import InputError

__all__ = ["ANCHOR_STRATEGIES", "select_anchors"]

ANCHOR_STRATEGIES: tuple[str, ...] = ("random", "stratified", "farthest", "kmeans++")

Index = NDArray[np.int64]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _excluded_mask(exclude: Any, n: int) -> NDArray[np.bool_]:
    mask = np.zeros(n, dtype=bool)
    if exclude is None:
        return mask
    idx = np.asarray(exclude)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise InputError(
                f"exclude is a boolean mask of shape {idx.shape}: it must have shape ({n},)"
            )
        return idx.copy()
    idx = idx.ravel()
    if idx.size == 0:
        return mask
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"exclude has dtype {idx.dtype}: pass integer row indices or a mask")
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(f"exclude holds indices outside [0, {n}): pass row indices of the data")
    mask[idx] = True
    return mask


def _class_codes(labels: Any, n: int) -> tuple[NDArray[np.int64], int]:
    """Integer class code per row (classes in sorted order when sortable, else first seen)."""
    if type(labels).__module__.startswith("torch"):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, list | tuple):
        values = list(labels)
    else:
        arr = np.asarray(labels)
        if arr.ndim != 1:
            raise InputError(
                f"labels has shape {arr.shape}: pass one stratification key per row (1-D); "
                "for multi-label data combine each row's labels into one key"
            )
        values = arr.tolist()
    if len(values) != n:
        raise InputError(f"labels has {len(values)} entries for {n} rows: pass one per row")
    if any(isinstance(v, float) and v != v for v in values):
        raise InputError("labels contains NaN: give missing labels an explicit class first")
    try:
        unique = set(values)
    except TypeError:
        raise InputError(
            "labels contains unhashable entries (lists?): pass one hashable key per row"
        ) from None
    try:
        classes = sorted(unique)
    except TypeError:
        classes = list(dict.fromkeys(values))
    code_of = {c: i for i, c in enumerate(classes)}
    return np.fromiter((code_of[v] for v in values), dtype=np.int64, count=n), len(classes)


def _allocate(counts: NDArray[np.int64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Per-class anchor counts: proportional, largest remainder, at least one each if k allows.

    Equal remainders are ordered by a seeded shuffle so no class is favoured by its position.
    """
    m = int(counts.sum())
    base = (k * counts) // m
    rest = (k * counts) % m
    tiebreak = rng.permutation(counts.size)
    order = np.lexsort((tiebreak, -rest))
    alloc = base.copy()
    alloc[order[: k - int(base.sum())]] += 1
    present = counts > 0
    if k >= int(present.sum()):
        for j in np.flatnonzero(present & (alloc == 0)):
            surplus = np.where(alloc >= 2, alloc - k * counts / m, -np.inf)
            donor = int(np.argmax(surplus))
            alloc[donor] -= 1
            alloc[j] += 1
    return alloc


def _stratified(
    codes: NDArray[np.int64], n_classes: int, allowed: Index, k: int, rng: np.random.Generator
) -> Index:
    if k == 0:
        return np.empty(0, dtype=np.int64)
    counts = np.bincount(codes[allowed], minlength=n_classes).astype(np.int64)
    alloc = _allocate(counts, k, rng)
    picks = []
    for j in range(n_classes):
        members = allowed[codes[allowed] == j]
        picks.append(members[rng.permutation(members.size)[: int(alloc[j])]])
    chosen = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
    return chosen[rng.permutation(chosen.size)].astype(np.int64)


def _sq_dist_to(x: NDArray[np.float64], sq: NDArray[np.float64], i: int) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.maximum(sq - 2.0 * (x @ x[i]) + sq[i], 0.0)
    return out


def _coverage(
    x: NDArray[np.float64],
    allowed_mask: NDArray[np.bool_],
    k: int,
    rng: np.random.Generator,
    sample: bool,
) -> Index:
    """Farthest-point sampling (``sample=False``) or k-means++ D² sampling (``sample=True``)."""
    allowed = np.flatnonzero(allowed_mask)
    chosen = np.empty(k, dtype=np.int64)
    if k == 0:
        return chosen
    sq = np.einsum("ij,ij->i", x, x)
    open_ = allowed_mask.copy()
    first = int(allowed[rng.integers(allowed.size)])
    chosen[0] = first
    open_[first] = False
    dmin = _sq_dist_to(x, sq, first)
    for step in range(1, k):
        weight = np.where(open_, dmin, 0.0)
        if sample:
            cumulative = np.cumsum(weight)
            u = rng.random()
            if cumulative[-1] > 0.0:
                nxt = int(np.searchsorted(cumulative, u * cumulative[-1], side="right"))
                if nxt >= x.shape[0]:
                    nxt = int(np.flatnonzero(weight > 0.0)[-1])
            else:
                candidates = np.flatnonzero(open_)
                nxt = int(candidates[min(int(u * candidates.size), candidates.size - 1)])
        else:
            weight[~open_] = -1.0
            nxt = int(np.argmax(weight))
        chosen[step] = nxt
        open_[nxt] = False
        np.minimum(dmin, _sq_dist_to(x, sq, nxt), out=dmin)
    return chosen


def select_anchors(
    n_or_X: Any,
    k: int,
    strategy: str = "random",
    labels: Any = None,
    seed: int = 0,
    exclude: Any = None,
) -> Index:
    """Choose ``k`` distinct anchor rows, deterministically for a given ``seed``.

    n_or_X: the number of rows n, or the source embeddings X of shape (n, d) (needed by
    ``farthest`` and ``kmeans++``). labels: (n,) class keys (ints, strings, any hashable), needed
    by ``stratified``. exclude: row indices (or an (n,) boolean mask) never to choose, such as the
    test split. Returns (k,) int64 row indices in selection order.

    Strategies:
      ``random``      uniform without replacement.
      ``stratified``  per-class counts proportional to class sizes among the allowed rows
                      (largest-remainder rounding, at least one per class when k >= classes),
                      uniform within each class.
      ``farthest``    farthest-point sampling by Euclidean distance on X as given (normalise X
                      first for cosine geometry); first row drawn by the seed, ties go to the
                      lower index. O(n k d) time, O(n) memory beyond X.
      ``kmeans++``    k-means++ seeding: each next row drawn with probability proportional to
                      its squared Euclidean distance to the nearest chosen row.
    """
    if strategy not in ANCHOR_STRATEGIES:
        allowed_names = ", ".join(repr(s) for s in ANCHOR_STRATEGIES)
        raise InputError(f"strategy {strategy!r} is unknown: choose one of {allowed_names}")
    x: NDArray[np.float64] | None = None
    if _is_int(n_or_X):
        n = int(n_or_X)
        if n < 1:
            raise InputError(f"n is {n}: there must be at least one row to choose from")
    else:
        x = as_float64_2d(n_or_X, "X")
        n = x.shape[0]
    if not _is_int(k) or k < 0:
        raise InputError(f"k is {k!r}: pass a non-negative integer number of anchors")
    k = int(k)
    if not _is_int(seed):
        raise InputError(f"seed is {seed!r}: pass an integer")
    allowed_mask = ~_excluded_mask(exclude, n)
    available = int(allowed_mask.sum())
    if k > available:
        raise InputError(
            f"k is {k} but only {available} of {n} rows may be chosen "
            f"({n - available} excluded): lower k or exclude fewer rows"
        )
    rng = np.random.default_rng(int(seed))
    allowed = np.flatnonzero(allowed_mask).astype(np.int64)

    if strategy == "stratified":
        if labels is None:
            raise InputError("strategy 'stratified' needs labels: pass one class key per row")
        codes, n_classes = _class_codes(labels, n)
        return _stratified(codes, n_classes, allowed, k, rng)
    if labels is not None:
        _class_codes(labels, n)
    if strategy == "random":
        return allowed[rng.permutation(available)[:k]]
    if x is None:
        raise InputError(
            f"strategy {strategy!r} needs the source embeddings: pass X of shape (n, d), not n"
        )
    return _coverage(x, allowed_mask, k, rng, sample=strategy == "kmeans++")
