"""Train/test splits of paired rows, once for the API, the CLI and recipes.

``split_rows`` checks a given split (index arrays or boolean masks); ``group_split`` draws one of
whole groups (e.g. one normalised text: :func:`semalign.metrics.text_groups`), stratified by
class; ``dedup_by_text`` keeps one row per normalised text; ``group_folds`` gives
leave-one-group-out folds (e.g. one patient's images at a time). A recipe's ``split_seed`` s
gives the test rows of ``group_split(groups, fraction, y=y, seed=s)`` on the rows it kept, so
the same seed gives the same split from Python; ``split_seeds`` gives one such split per seed
of the same rows (kept with the first seed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError
from semalign.metrics.space import normalise_text

__all__ = [
    "DEDUPS",
    "TEST_SPLITS",
    "Dedup",
    "dedup_by_text",
    "group_folds",
    "group_split",
    "row_index",
    "split_rows",
]

Index = NDArray[np.int64]

DEDUPS: tuple[str, ...] = ("text", "none")
"""Deduplication of text rows: ``text`` (:func:`dedup_by_text`) or ``none``."""
TEST_SPLITS: tuple[str, ...] = ("official", "random")
"""Where test rows come from: the rows a dataset marks ``test`` (``Record.split``), or
``random``, a seeded :func:`group_split` of whole groups."""


def row_index(sel: Any, n: int, name: str) -> Index:
    """Sorted unique row indices (k,) from an index array or an (n,) boolean mask."""
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InputError(f"{name} mask has shape {arr.shape}: expected ({n},)")
        return np.flatnonzero(arr).astype(np.int64)
    idx = arr.astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"{name} indices must lie in [0, {n}): got {idx.min()}..{idx.max()}")
    return np.unique(idx)


def split_rows(n: int, test: Any, train: Any = None, *, groups: Any = None) -> tuple[Index, Index]:
    """(train, test) row indices from index arrays or boolean masks; they must not overlap.

    ``train`` defaults to every row not in ``test``. ``groups`` (n,): rows of one group (e.g.
    one normalised text) stay on one side: the default ``train`` leaves out every group with a
    test row, and an explicit ``train`` that shares a group with ``test`` is refused.
    """
    te = row_index(test, n, "test")
    if groups is None:
        tr = np.setdiff1d(np.arange(n), te) if train is None else row_index(train, n, "train")
    else:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise InputError(f"groups has shape {g.shape}: pass one group key per row ({n},)")
        in_test = np.isin(g, g[te])
        if train is None:
            tr = np.flatnonzero(~in_test).astype(np.int64)
        else:
            tr = row_index(train, n, "train")
            shared = int(np.count_nonzero(in_test[tr] & ~np.isin(tr, te)))
            if shared:
                raise InputError(
                    f"{shared} train rows share a group (e.g. an identical text) with test rows: "
                    "drop them from train or split whole groups with group_split"
                )
    if np.intersect1d(tr, te).size:
        raise InputError("train and test rows overlap: pass disjoint splits")
    if te.size == 0 or tr.size == 0:
        raise InputError(
            f"split has {tr.size} train and {te.size} test rows: both must be non-empty"
        )
    return tr, te


def group_split(
    groups: Any,
    test_fraction: float = 0.2,
    *,
    y: Any = None,
    seed: int | np.random.Generator = 0,
) -> tuple[Index, Index]:
    """(train, test) row indices with whole groups on each side, seeded.

    groups: (n,) group keys (e.g. :func:`semalign.metrics.text_groups`). With ``y`` (n,) class
    keys the draw is stratified: a group counts for its most common class (a tie goes to the
    class seen first in its rows); without, all groups form one stratum. Per stratum, in sorted
    class order, the groups (in order of their first row) are shuffled by one
    ``numpy.random.default_rng(seed)`` and taken until ``test_fraction`` of the stratum's rows
    is reached (at least one group). ``seed``: an int, or a Generator to draw from (advanced).
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.size < 2:
        raise InputError(f"groups has shape {g.shape}: pass one group key per row, n >= 2")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction={test_fraction}: pass a fraction strictly in (0, 1)")
    yy = None if y is None else np.asarray(y)
    if yy is not None and yy.shape != g.shape:
        raise InputError(f"y has shape {yy.shape}, groups {g.shape}: pass one label per row")
    members: dict[Any, list[int]] = {}
    for i, key in enumerate(g.tolist()):
        members.setdefault(key, []).append(i)
    if len(members) < 2:
        raise InputError("every row is in one group: a group split needs two or more groups")
    strata: dict[Any, list[list[int]]] = {}
    for rows in members.values():
        cls = 0 if yy is None else Counter(yy[rows].tolist()).most_common(1)[0][0]
        strata.setdefault(cls, []).append(rows)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    test: list[int] = []
    for cls in sorted(strata):
        pool = strata[cls]
        goal = max(1, round(test_fraction * sum(len(r) for r in pool)))
        taken = 0
        for j in rng.permutation(len(pool)):
            if taken >= goal:
                break
            test += pool[j]
            taken += len(pool[j])
    in_test = np.zeros(g.size, dtype=bool)
    in_test[test] = True
    return np.flatnonzero(~in_test).astype(np.int64), np.flatnonzero(in_test).astype(np.int64)


def group_folds(groups: Any = None, n: int | None = None) -> list[Index]:
    """Leave-one-group-out folds: the rows (k,) of each group, in order of first row.

    groups: (n,) keys (e.g. :attr:`semalign.data.records.Record.patient_key`, so that a
    patient's images are held out together); None gives one row per fold (leave-one-out) of
    ``n`` rows.
    """
    if groups is None:
        if n is None:
            raise InputError("group_folds needs groups or a row count n")
        return [np.array([i], dtype=np.int64) for i in range(n)]
    g = np.asarray(groups)
    if g.ndim != 1 or (n is not None and g.size != n):
        raise InputError(f"groups has shape {g.shape}: pass one group key per row ({n},)")
    members: dict[Any, list[int]] = {}
    for i, key in enumerate(g.tolist()):
        members.setdefault(key, []).append(i)
    return [np.asarray(rows, dtype=np.int64) for rows in members.values()]


@dataclass(frozen=True)
class Dedup:
    """What deduplication by normalised text did: rows seen, distinct texts, rows dropped as
    copies and rows dropped because their text recurs under another class
    (``conflict_texts`` distinct texts; ``conflicts_by_class``: the rows each class lost).
    ``merged_near_duplicates``: distinct texts under case and whitespace alone that the full
    rule (:func:`semalign.metrics.normalise_text`: punctuation, numbering, "XXXX") merged into
    another."""

    records: int
    distinct: int
    dropped_duplicates: int
    dropped_conflicts: int
    conflict_texts: int = 0
    conflicts_by_class: dict[str, int] = field(default_factory=dict)
    merged_near_duplicates: int = 0


def dedup_by_text(
    ids: Sequence[str], texts: Sequence[str], classes: Sequence[Any] | None = None
) -> tuple[Index, Dedup]:
    """One row per normalised text (:func:`semalign.metrics.normalise_text`): the lowest id.

    With ``classes`` (one per row), a text whose copies disagree on the class is dropped
    altogether (its label is ambiguous). Returns the kept row indices in id order and the counts.
    """
    if len(ids) != len(texts) or (classes is not None and len(classes) != len(ids)):
        raise InputError(
            f"{len(ids)} ids, {len(texts)} texts"
            + ("" if classes is None else f", {len(classes)} classes")
            + ": pass one of each per row"
        )
    groups: dict[str, list[int]] = {}
    for i in sorted(range(len(ids)), key=lambda i: ids[i]):
        groups.setdefault(normalise_text(texts[i]), []).append(i)
    kept: list[int] = []
    lost: Counter[str] = Counter()
    conflict_texts = 0
    for rows in groups.values():
        if classes is not None and len({classes[i] for i in rows}) > 1:
            lost.update(str(classes[i]) for i in rows)
            conflict_texts += 1
        else:
            kept.append(rows[0])
    n, conflicts = len(ids), sum(lost.values())
    plain = len({" ".join(t.lower().split()) for t in texts})
    return np.asarray(kept, dtype=np.int64), Dedup(
        n, len(groups), n - len(kept) - conflicts, conflicts, conflict_texts,
        dict(sorted(lost.items())), plain - len(groups),
    )  # fmt: skip
