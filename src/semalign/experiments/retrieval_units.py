"""Retrieval units the runner caches: the unaligned control and one unit per (method, scaling).

Rows come from :func:`semalign.tasks.retrieval.retrieve` (task ``retrieve``); the ``setting``
column holds the direction (query -> key). For report-report retrieval the directions are named
after the encoders (``minilm->e5``: a report embedded by minilm, mapped by T into e5's space,
looks for the same report embedded by e5), for image-report they stay ``image->report`` and
``report->image``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from semalign.experiments.cache import UnitOutput
from semalign.metrics.classification import Estimate
from semalign.tasks.results import ResultTable
from semalign.tasks.retrieval import DIRECTIONS

Names = tuple[str, str]


def direction_names(kind: str, names: Names) -> dict[str, str]:
    """The library's direction labels -> the labels shown for ``kind`` and encoders ``names``."""
    if kind == "image-report":
        return {d: d for d in DIRECTIONS}
    a, b = names
    return {DIRECTIONS[0]: f"{a}->{b}", DIRECTIONS[1]: f"{b}->{a}"}


def relabel_directions(table: ResultTable, kind: str, names: Names) -> ResultTable:
    """``table`` with its ``setting`` directions renamed for ``kind`` (report-report: ``A->B``,
    ``B->A``; suffixes such as `` csls@10`` are kept)."""
    from dataclasses import replace

    labels = direction_names(kind, names)
    out = []
    for r in table:
        setting = r.setting
        for old, new in labels.items():
            if setting.startswith(old):
                setting = new + setting[len(old) :]
                break
        out.append(replace(r, setting=setting))
    return ResultTable(out)


def retrieval_control(
    xs: Any, xt: Any, test: Any, *, kind: str, names: Names, ks: Sequence[int], bootstrap: int
) -> UnitOutput:
    """No map: source rows zero-padded or truncated to the target's width (mode ``naive``)."""
    from semalign.tasks.retrieval import retrieve

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
) -> UnitOutput:
    """Aligned retrieval for one method and scaling at every anchor count and seed.

    Anchor counts above the number of training rows, and fits refused because the anchors'
    rank is too low (:class:`~semalign.errors.RankDeficientError`), are kept as ``n/a`` rows
    with the reason.
    """
    from semalign.errors import RankDeficientError
    from semalign.tasks.retrieval import retrieve

    n_test = int(np.unique(np.asarray(test)).size)
    n_train = int(np.asarray(xs).shape[0]) - n_test
    table = ResultTable()

    def skipped(k: int, seed: int, why: str) -> None:
        for d in DIRECTIONS:
            nan = {f"recall@{int(j)}": Estimate(float("nan")) for j in ks}
            nan["mrr"] = Estimate(float("nan"))
            table.add(
                nan, task="retrieve", source=names[0], target=names[1], mode="aligned",
                method=method, scaling=scaling, anchors=int(k), seed=int(seed),
                setting=f"{d} skipped: {why}", n=n_test,
            )  # fmt: skip

    for k in anchors:
        for seed in seeds:
            if k > n_train:
                skipped(k, seed, f"only {n_train} train rows")
                continue
            try:
                cell = retrieve(
                    xs, xt, test=test, methods=[method], scalings=[scaling], anchor_counts=[k],
                    seeds=[seed], anchor_strategy=strategy, ks=ks, naive=False,
                    image_name=names[0], text_name=names[1], n_resamples=bootstrap,
                )  # fmt: skip
            except RankDeficientError as exc:
                skipped(k, seed, f"anchors' rank {exc.rank} < {exc.needed} needed")
                continue
            table.rows.extend(cell.rows)
    return UnitOutput(relabel_directions(table, kind, names))
