"""Retrieval units the runner caches: the unaligned control, one unit per (method, scaling,
scoring), refined maps per (method, scaling), ASIF, and the unpaired pools' row ids.

Rows come from :func:`semalign.tasks.retrieval.retrieve` (task ``retrieve``) or are computed the
same way (same anchors per seed, same bootstrap, same tie and group rules, the same
:func:`~semalign.tasks.retrieval.direction_rows` and
:func:`~semalign.tasks.retrieval.skipped_rows`); columns ``direction`` (query -> key),
``scoring`` (``cosine``, ``csls@k``), ``variant`` (``refits=R pseudo=P pools=U/V`` for mode
``refined``, ``top_k=K power=P`` for mode ``asif``) and ``note`` (``skipped: <reason>``).
For report-report retrieval the directions are named after the encoders
(``minilm->e5``: a report embedded by minilm, mapped by T into e5's space, looks for the same
report embedded by e5), for image-report they stay ``image->report`` and ``report->image``.

Unpaired pools (:func:`unpaired_pools`): per (anchor count, seed), the training rows not drawn
as anchors, split by a seeded shuffle into two disjoint halves; the source encoder sees only the
first (U), the target encoder only the second (V), so no pool item has a partner in the other
pool. Test rows are never in a pool (checked on every call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align.refine import RefinedAligner
from semalign.errors import RankDeficientError
from semalign.experiments.cache import UnitOutput
from semalign.tasks.asif import ASIF
from semalign.tasks.results import ResultTable
from semalign.tasks.retrieval import (
    DIRECTIONS,
    direction_rows,
    retrieve,
    scoring_label,
    skipped_rows,
)
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import count_reason, draw_anchors, rank_reason

Names = tuple[str, str]
Index = NDArray[np.int64]
POOL_ROLES = ("test", "anchors", "pool-source", "pool-target")


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


def retrieval_pools(
    xs: Any,
    ids: Sequence[str],
    test: Any,
    *,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    names: Names,
) -> UnitOutput:
    """The row ids of every cell's test rows, anchors and pools (extra table
    ``retrieval_pools``: one row per (anchors, seed, role), ids space-separated)."""
    n_train = int(np.asarray(xs).shape[0]) - int(np.unique(np.asarray(test)).size)
    rows = []
    for k in anchors:
        for seed in seeds:
            if k > n_train:
                continue
            for role, idx in unpaired_pools(xs, test, k, seed, strategy).roles().items():
                rows.append({
                    "source": names[0], "target": names[1], "anchors": int(k),
                    "seed": int(seed), "role": role, "n": int(idx.size),
                    "ids": " ".join(ids[i] for i in idx.tolist()),
                })  # fmt: skip
    return UnitOutput(extras={"retrieval_pools": rows})


def direction_names(kind: str, names: Names) -> dict[str, str]:
    """The library's direction labels -> the labels shown for ``kind`` and encoders ``names``."""
    if kind == "image-report":
        return {d: d for d in DIRECTIONS}
    a, b = names
    return {DIRECTIONS[0]: f"{a}->{b}", DIRECTIONS[1]: f"{b}->{a}"}


def relabel_directions(table: ResultTable, kind: str, names: Names) -> ResultTable:
    """``table`` with its ``direction`` column renamed for ``kind`` (report-report: ``A->B``,
    ``B->A``)."""
    labels = direction_names(kind, names)
    return ResultTable(replace(r, direction=labels.get(r.direction, r.direction)) for r in table)


def retrieval_control(
    xs: Any, xt: Any, test: Any, *, kind: str, names: Names, ks: Sequence[int], bootstrap: int
) -> UnitOutput:
    """No map: source rows zero-padded or truncated to the target's width (mode ``naive``)."""
    table = retrieve(
        xs, xt, test=test, anchor_counts=(), ks=ks, naive=True, image_name=names[0],
        text_name=names[1], n_resamples=bootstrap,
    )  # fmt: skip
    return UnitOutput(relabel_directions(table, kind, names))


def retrieval_method(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    method: str,
    scaling: str,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    kind: str,
    names: Names,
    ks: Sequence[int],
    bootstrap: int,
    scoring: str = "cosine",
    csls_k: int = 10,
) -> UnitOutput:
    """Aligned retrieval for one method and scaling at every anchor count and seed, ranked by
    ``scoring`` (:func:`semalign.tasks.retrieval.retrieve`): too few anchors, more than the
    training rows, or anchors of too low a rank give ``n/a`` rows with the reason."""
    table = retrieve(
        xs, xt, test=test, methods=[method], scalings=[scaling], anchor_counts=anchors,
        seeds=seeds, anchor_strategy=strategy, ks=ks, naive=False, image_name=names[0],
        text_name=names[1], n_resamples=bootstrap, scoring=scoring, csls_k=csls_k,
    )  # fmt: skip
    return UnitOutput(relabel_directions(table, kind, names))


def retrieval_refined(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    method: str,
    scaling: str,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    kind: str,
    names: Names,
    ks: Sequence[int],
    bootstrap: int,
    scorings: Sequence[str],
    csls_k: int,
    iterations: int,
    max_pseudo: int | None,
) -> UnitOutput:
    """Retrieval through T refined on the cell's unpaired pools (mode ``refined``), ranked by
    each of ``scorings``; the same anchors, test rows and bootstrap as :func:`retrieval_method`.

    The map (:class:`~semalign.align.refine.RefinedAligner`, pseudo-pairs by mutual CSLS with
    ``csls_k`` neighbours) does not depend on the scoring: it is fitted once per cell. The
    ``variant`` records the refits run, the pseudo-pairs in the final fit and the pool sizes.
    """
    x = np.asarray(xs, dtype=np.float64)
    t = np.asarray(xt, dtype=np.float64)
    n_test = int(np.unique(np.asarray(test)).size)
    n_train = x.shape[0] - n_test
    table = ResultTable()
    base: dict[str, Any] = {
        "task": "retrieve", "source": names[0], "target": names[1], "mode": "refined",
        "method": method, "scaling": scaling,
    }  # fmt: skip
    for k in anchors:
        for seed in seeds:
            key = {**base, "anchors": int(k), "seed": int(seed)}

            def skipped(why: str, key: dict[str, Any] = key) -> None:
                for sc in scorings:
                    label = scoring_label(sc, csls_k)
                    skipped_rows(table, why, ks=ks, scoring=label, n=n_test, **key)

            why = count_reason(method, scaling, x.shape[1], int(k), n_train)
            if why is not None:
                skipped(why)
                continue
            pools = unpaired_pools(x, test, k, seed, strategy)
            if min(pools.source.size, pools.target.size) == 0:
                skipped("no training rows left for the unpaired pools")
                continue
            a = pools.anchors
            refined = RefinedAligner(
                method, scaling, iterations=iterations, csls_k=csls_k, max_pseudo=max_pseudo,
                seed=seed,
            )  # fmt: skip
            try:
                refined.fit(x[a], t[a], unpaired=(x[pools.source], t[pools.target]))
            except RankDeficientError as exc:
                skipped(rank_reason(exc))
                continue
            variant = (
                f"refits={refined.n_iter_} pseudo={refined.pairs_[0].size} "
                f"pools={pools.source.size}/{pools.target.size}"
            )
            mapped, gallery = refined.transform(x[pools.test]), t[pools.test]
            for scoring in scorings:
                direction_rows(
                    table, mapped, gallery, ks=ks, n_resamples=bootstrap, scoring=scoring,
                    csls_k=csls_k, variant=variant, n=int(pools.test.size), **key,
                )  # fmt: skip
    return UnitOutput(relabel_directions(table, kind, names))


def retrieval_asif(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    top_k: int,
    power: float,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    kind: str,
    names: Names,
    ks: Sequence[int],
    bootstrap: int,
) -> UnitOutput:
    """ASIF (mode and method ``asif``, cosine of the relative codes) on the anchors T uses at
    every anchor count and seed; ``variant`` records the effective ``top_k`` and ``power``."""
    table = retrieve(
        xs, xt, test=test, methods=(), anchor_counts=anchors, seeds=seeds,
        anchor_strategy=strategy, ks=ks, naive=False, image_name=names[0], text_name=names[1],
        n_resamples=bootstrap, asif=ASIF(top_k, power),
    )  # fmt: skip
    return UnitOutput(relabel_directions(table, kind, names))
