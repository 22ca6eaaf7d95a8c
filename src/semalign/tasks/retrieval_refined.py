"""Retrieval through a map refined on unpaired pools, one (anchor count, seed) cell at a time.

Unpaired pools (:func:`unpaired_pools`): per (anchor count, seed), the training rows not drawn
as anchors, split by a seeded shuffle into two disjoint halves; the source encoder sees only the
first (U), the target encoder only the second (V), so no pool item has a partner in the other
pool. Test rows are never in a pool (checked on every call). The map
(:class:`~semalign.align.refine.RefinedAligner`, pseudo-pairs by mutual CSLS) does not depend on
the scoring: it is fitted once per cell and ranked under each scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align.refine import RefinedAligner
from semalign.errors import RankDeficientError
from semalign.tasks.results import ResultTable
from semalign.tasks.retrieval import direction_rows, scoring_label, skipped_rows
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import count_reason, draw_anchors, rank_reason

__all__ = ["POOLS", "POOL_ROLES", "Pools", "refined_cell", "unpaired_pools"]

Index = NDArray[np.int64]
POOL_ROLES = ("test", "anchors", "pool-source", "pool-target")
POOLS: tuple[str, ...] = ("train-rest",)
"""Where the unpaired pools come from: ``train-rest``, the training rows not drawn as anchors
(:func:`unpaired_pools`)."""


@dataclass(frozen=True)
class Pools:
    """Row indices of one (anchor count, seed) cell: disjoint test, anchors and pools U, V."""

    test: Index
    anchors: Index
    source: Index
    target: Index

    def roles(self) -> dict[str, Index]:
        return dict(
            zip(POOL_ROLES, (self.test, self.anchors, self.source, self.target), strict=True)
        )


def unpaired_pools(xs: Any, test: Any, k: int, seed: int, strategy: str) -> Pools:
    """The anchors ``retrieve`` draws for (``k``, ``seed``) among the non-test rows of ``xs``
    (n, d), and the rest of the training rows shuffled (seeded by ``seed`` and ``k``) and split
    into a source pool (the first half, rounded down) and a target pool."""
    x = np.asarray(xs, dtype=np.float64)
    train, te = split_rows(x.shape[0], test)
    anchors = draw_anchors(x, k, strategy, seed, train, pool="non-test")
    rest = np.random.default_rng([int(seed), int(k)]).permutation(np.setdiff1d(train, anchors))
    half = rest.size // 2
    pools = Pools(te, anchors, np.sort(rest[:half]), np.sort(rest[half:]))
    parts = list(pools.roles().values())
    if sum(p.size for p in parts) != np.unique(np.concatenate(parts)).size:
        raise AssertionError("test rows, anchors and the unpaired pools overlap")
    return pools


def refined_cell(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    method: str,
    scaling: str,
    anchors: int,
    seed: int,
    strategy: str = "random",
    ks: Sequence[int] = (1, 5, 10),
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
    iterations: int = 10,
    max_pseudo: int | None = None,
    holdout: float = 0.25,
    n_resamples: int = 1000,
    source: str = "image",
    target: str = "text",
    distractors: tuple[Any, Any] | None = None,
    fitted: list[tuple[int, Index, RefinedAligner]] | None = None,
) -> ResultTable:
    """Mode ``refined`` rows of one cell: T fitted on the cell's anchors and refined on its
    unpaired pools, then both directions among the test rows under each of ``scorings``
    (``variant``: the refits run, the pseudo-pairs of the final fit, the pool sizes, and which
    map the held-out anchors kept: ``kept=seed`` when every refit scored worse on them than
    the anchor-only map, see :class:`~semalign.align.refine.RefinedAligner`). Too few
    anchors, more than the training rows, empty pools or anchors of too low a rank give n/a
    rows with the reason. ``distractors``: (source, target) rows of items outside the task,
    added to every gallery as in :func:`semalign.tasks.retrieval.retrieve`. ``fitted``, when
    given, receives (seed, anchor rows, refined map) of a cell that fitted one (for
    :func:`semalign.tasks.comparisons.refined_comparisons`)."""
    x = np.asarray(xs, dtype=np.float64)
    t = np.asarray(xt, dtype=np.float64)
    n_test = int(np.unique(np.asarray(test)).size)
    table = ResultTable()
    key: dict[str, Any] = {
        "task": "retrieve", "source": source, "target": target, "mode": "refined",
        "method": method, "scaling": scaling, "anchors": int(anchors), "seed": int(seed),
    }  # fmt: skip

    def skipped(why: str) -> ResultTable:
        for sc in scorings:
            skipped_rows(table, why, ks=ks, scoring=scoring_label(sc, csls_k), n=n_test, **key)
        return table

    why = count_reason(method, scaling, x.shape[1], int(anchors), x.shape[0] - n_test)
    if why is not None:
        return skipped(why)
    pools = unpaired_pools(x, test, anchors, seed, strategy)
    if min(pools.source.size, pools.target.size) == 0:
        return skipped("no training rows left for the unpaired pools")
    a = pools.anchors
    refined = RefinedAligner(
        method, scaling, iterations=iterations, csls_k=csls_k, max_pseudo=max_pseudo,
        holdout=holdout, seed=seed,
    )  # fmt: skip
    try:
        refined.fit(x[a], t[a], unpaired=(x[pools.source], t[pools.target]))
    except RankDeficientError as exc:
        return skipped(rank_reason(exc))
    if fitted is not None:
        fitted.append((int(seed), a, refined))
    variant = (
        f"refits={refined.n_iter_} pseudo={refined.pairs_[0].size} "
        f"pools={pools.source.size}/{pools.target.size} kept={refined.kept_}"
    )
    mapped, gallery = refined.transform(x[pools.test]), t[pools.test]
    extra = None
    if distractors is not None:
        extra = (refined.transform(np.asarray(distractors[0], np.float64)), distractors[1])
    for scoring in scorings:
        direction_rows(
            table, mapped, gallery, ks=ks, n_resamples=n_resamples, scoring=scoring,
            csls_k=csls_k, variant=variant, n=int(pools.test.size), distractors=extra, **key,
        )  # fmt: skip
    return table
