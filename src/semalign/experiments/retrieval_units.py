"""Retrieval units the runner caches: the unaligned control, one unit per (method, scaling,
scoring), refined maps per (method, scaling), ASIF, and the unpaired pools' row ids.

Rows come from :func:`semalign.tasks.retrieval.retrieve` (task ``retrieve``) or are computed the
same way (same anchors per seed, same bootstrap, same tie and group rules, the same
:func:`~semalign.tasks.retrieval.direction_rows` and
:func:`~semalign.tasks.retrieval.skipped_rows`); columns ``direction`` (query -> key),
``scoring`` (``cosine``, ``csls@k``), ``variant`` (``refits=R pseudo=P pools=U/V
kept=seed|refined`` for mode ``refined``, ``top_k=K power=P`` for mode ``asif``) and ``note``
(``skipped: <reason>``).
For report-report retrieval the directions are named after the encoders
(``minilm->e5``: a report embedded by minilm, mapped by T into e5's space, looks for the same
report embedded by e5), for image-report they stay ``image->report`` and ``report->image``.

Unpaired pools and the refined cells: :mod:`semalign.tasks.retrieval_refined`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.experiments.cache import UnitOutput
from semalign.tasks import comparisons
from semalign.tasks.asif import asif_model
from semalign.tasks.results import ResultTable
from semalign.tasks.retrieval import DIRECTIONS, retrieve
from semalign.tasks.retrieval_refined import POOL_ROLES, Pools, refined_cell, unpaired_pools

__all__ = [
    "POOL_ROLES",
    "Pools",
    "direction_names",
    "relabel_directions",
    "retrieval_asif",
    "retrieval_comparisons",
    "retrieval_control",
    "retrieval_method",
    "retrieval_pools",
    "retrieval_refined",
    "unpaired_pools",
]

Names = tuple[str, str]
Index = NDArray[np.int64]


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
    xs: Any,
    xt: Any,
    test: Any,
    *,
    kind: str,
    names: Names,
    ks: Sequence[int],
    bootstrap: int,
    distractors: tuple[Any, Any] | None = None,
) -> UnitOutput:
    """No map: source rows zero-padded or truncated to the target's width (mode ``naive``).
    ``distractors`` (every unit here): (source, target) rows of the gallery beyond the test
    rows (:func:`semalign.tasks.retrieval.retrieve`)."""
    table = retrieve(
        xs, xt, test=test, anchor_counts=(), ks=ks, naive=True, image_name=names[0],
        text_name=names[1], n_resamples=bootstrap, distractors=distractors,
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
    distractors: tuple[Any, Any] | None = None,
) -> UnitOutput:
    """Aligned retrieval for one method and scaling at every anchor count and seed, ranked by
    ``scoring`` (:func:`semalign.tasks.retrieval.retrieve`): too few anchors, more than the
    training rows, or anchors of too low a rank give ``n/a`` rows with the reason."""
    table = retrieve(
        xs, xt, test=test, methods=[method], scalings=[scaling], anchor_counts=anchors,
        seeds=seeds, anchor_strategy=strategy, ks=ks, naive=False, image_name=names[0],
        text_name=names[1], n_resamples=bootstrap, scoring=scoring, csls_k=csls_k,
        distractors=distractors,
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
    distractors: tuple[Any, Any] | None = None,
    headline: int | None = None,
) -> UnitOutput:
    """Retrieval through T refined on each cell's unpaired pools (mode ``refined``, ranked by
    each of ``scorings``): :func:`semalign.tasks.retrieval_refined.refined_cell` at every anchor
    count and seed; the same anchors, test rows and bootstrap as :func:`retrieval_method`.
    At the ``headline`` count (the headline map's unit only), extra ``comparisons``: T (cosine)
    minus each seed's refined map under each scoring
    (:func:`semalign.tasks.comparisons.refined_comparisons`, from the maps fitted here)."""
    table = ResultTable()
    maps: list[Any] = []
    for k in anchors:
        for seed in seeds:
            table.extend(
                refined_cell(
                    xs, xt, test, method=method, scaling=scaling, anchors=k, seed=seed,
                    strategy=strategy, ks=ks, scorings=scorings, csls_k=csls_k,
                    iterations=iterations, max_pseudo=max_pseudo, n_resamples=bootstrap,
                    source=names[0], target=names[1], distractors=distractors,
                    fitted=maps if headline is not None and int(k) == int(headline) else None,
                )
            )  # fmt: skip
    out = UnitOutput(relabel_directions(table, kind, names))
    if maps:
        rows = comparisons.refined_comparisons(
            xs, xt, test, maps, method=method, scaling=scaling, anchors=int(headline or 0),
            ks=ks, scorings=scorings, csls_k=csls_k, distractors=distractors,
            n_resamples=bootstrap, names=names,
        )  # fmt: skip
        out.extras[comparisons.COMPARISONS] = relabel_directions(rows, kind, names).to_records()
    return out


def retrieval_asif(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    top_k: int | Sequence[int],
    power: float | Sequence[float],
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    kind: str,
    names: Names,
    ks: Sequence[int],
    bootstrap: int,
    distractors: tuple[Any, Any] | None = None,
    center: bool | Sequence[bool] = False,
    select: str | None = None,
) -> UnitOutput:
    """ASIF (mode and method ``asif``, cosine of the relative codes) on the anchors T uses at
    every anchor count and seed; ``variant`` records the effective ``top_k`` and ``power``
    (chosen per draw on held-out anchors with ``select``, see
    :func:`semalign.tasks.asif.asif_model`; the sweep as mode ``asif-sweep`` rows)."""
    table = retrieve(
        xs, xt, test=test, methods=(), anchor_counts=anchors, seeds=seeds,
        anchor_strategy=strategy, ks=ks, naive=False, image_name=names[0], text_name=names[1],
        n_resamples=bootstrap, asif=asif_model(top_k, power, center, select),
        distractors=distractors,
    )  # fmt: skip
    return UnitOutput(relabel_directions(table, kind, names))


def retrieval_comparisons(
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
    asif: dict[str, Any] | None,
    headline: int | None,
    permutations: int,
    distractors: tuple[Any, Any] | None = None,
    others: Sequence[Sequence[str]] = (),
) -> UnitOutput:
    """Extra ``comparisons`` of the headline map
    (:func:`semalign.tasks.comparisons.retrieval_comparisons`): seed means of T and ASIF,
    paired differences at the headline anchors (to the other scorings, ASIF, the unaligned
    control and each (method, scaling) of ``others``) and the permutation control."""
    table = comparisons.retrieval_comparisons(
        xs, xt, test, method=method, scaling=scaling, anchors=anchors, seeds=seeds,
        strategy=strategy, ks=ks, scorings=scorings, csls_k=csls_k,
        asif=None if asif is None else asif_model(**asif), distractors=distractors,
        headline=headline, permutations=permutations, n_resamples=bootstrap, names=names,
        others=[(str(m), str(s)) for m, s in others],
    )  # fmt: skip
    rows = relabel_directions(table, kind, names).to_records()
    return UnitOutput(extras={comparisons.COMPARISONS: rows})
