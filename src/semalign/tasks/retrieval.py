"""Cross-modal retrieval through a fitted map: image -> report and report -> image.

Both directions are ranked in the text space by cosine similarity: images are mapped there by T
(fitted on anchor pairs from the non-test rows), and the gallery is the test split's other side.
Recall@k is the fraction of queries whose first hit ranks within the top k; MRR is the mean
reciprocal rank of the first hit. A hit is the query's own partner or, with ``groups`` (e.g.
:func:`semalign.metrics.text_groups` of the reports), any item of its group, in both directions
alike; ties are broken by a random order and every metric is its expectation over that order
(a tie is never a free hit). CIs resample the queries (the gallery is fixed). ``distractors``
widen the gallery beyond the test rows' partners (items outside the task, embedded by both
encoders: never queries, never hits), so that Recall@k does not saturate on a small test set.
``scoring="csls"`` ranks by CSLS instead (:mod:`semalign.metrics.csls`), which discounts gallery
hubs; its neighbourhoods are taken over the test queries and gallery, and the same group and tie
rules apply.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import ANCHOR_STRATEGIES as ALIGN_STRATEGIES
from semalign.align import AnchorSet
from semalign.errors import InputError
from semalign.metrics.classification import Estimate, bootstrap_mean_ci
from semalign.metrics.space import check_ks, retrieval_outcome
from semalign.tasks.asif import ASIF, AsifSweep, asif_variant, sweep_rows
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import count_reason, draw_anchors, fit_cell, naive_stitch

__all__ = [
    "ANCHOR_STRATEGIES",
    "DIRECTIONS",
    "GALLERIES",
    "KINDS",
    "direction_rows",
    "metric_names",
    "retrieval_report",
    "retrieve",
    "skipped_rows",
]

DIRECTIONS: tuple[str, ...] = ("image->report", "report->image")
KINDS: tuple[str, ...] = ("image-report", "report-report")
"""What a row pairs: a study's image and its report, or one report seen by two text encoders
(whose directions are then named after the encoders)."""
ANCHOR_STRATEGIES: tuple[str, ...] = tuple(s for s in ALIGN_STRATEGIES if s != "stratified")
GALLERIES: tuple[str, ...] = ("test", "all-distinct")
"""What a query is ranked among: ``test``, the test rows' partners only, or ``all-distinct``,
those and every distinct text of the dataset outside the task as ``distractors``
(:func:`semalign.experiments.inputs.gallery_items`), so that Recall@k does not saturate."""
"""Anchor strategies of :func:`retrieve`: those of :func:`semalign.align.select_anchors` but
``stratified`` (retrieval rows carry no labels)."""


def retrieval_report(
    queries: Any,
    keys: Any,
    ks: Sequence[int] = (1, 5, 10),
    *,
    groups: Any = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    scoring: str = "cosine",
    csls_k: int = 10,
    distractors: Any = None,
) -> dict[str, Estimate]:
    """Recall@k and MRR (with bootstrap CIs) of finding ``keys[i]`` (n, d) from ``queries[i]``,
    ranked by ``scoring`` (cosine or csls with ``csls_k`` neighbours).

    ``groups`` (n,): any key of the query's group is a hit. ``distractors`` (m, d): more keys,
    never a hit. Ties count as their expectation.
    """
    check_ks(ks)
    outcome = retrieval_outcome(
        queries, keys, groups=groups, scoring=scoring, csls_k=csls_k, distractors=distractors
    )
    per_query = {f"recall@{int(k)}": outcome.recall_at(int(k)) for k in ks}
    per_query["mrr"] = outcome.reciprocal_rank()
    return bootstrap_mean_ci(per_query, n_resamples=n_resamples, level=level, seed=seed)


def scoring_label(scoring: str, csls_k: int) -> str:
    """The ``scoring`` column of a row ranked by ``scoring``: ``cosine`` or ``csls@k``."""
    return f"csls@{csls_k}" if scoring == "csls" else "cosine"


def metric_names(ks: Sequence[int]) -> list[str]:
    """The metrics of a retrieval row: ``recall@k`` for each of ``ks``, then ``mrr``."""
    return [f"recall@{int(k)}" for k in ks] + ["mrr"]


def skipped_rows(
    table: ResultTable,
    why: str,
    *,
    ks: Sequence[int],
    directions: Sequence[str] = DIRECTIONS,
    **key: Any,
) -> None:
    """Add the n/a rows of a skipped cell to ``table``: one per direction, every metric NaN,
    ``note`` = ``skipped: why``."""
    nan = {m: Estimate(float("nan")) for m in metric_names(ks)}
    for d in directions:
        table.add(nan, direction=d, note=f"skipped: {why}", **key)


def direction_rows(
    table: ResultTable,
    mapped: NDArray[np.float64],
    gallery: NDArray[np.float64],
    *,
    ks: Sequence[int],
    directions: Sequence[str] = DIRECTIONS,
    groups: Any = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    ci_seed: int = 0,
    scoring: str = "cosine",
    csls_k: int = 10,
    distractors: tuple[Any, Any] | None = None,
    **key: Any,
) -> None:
    """Add one row per direction to ``table``: image->report ranks ``gallery`` (the test
    reports, n x d) for each ``mapped`` row (the test images in the reports' space, same order);
    report->image the reverse; the ``direction`` and ``scoring`` (``cosine``, ``csls@k``)
    columns say which. ``distractors``: (mapped, gallery) rows of items outside the task, in
    the same space, added to the keys of report->image and image->report respectively."""
    for d in directions:
        q, g = (mapped, gallery) if d == "image->report" else (gallery, mapped)
        extra = None if distractors is None else distractors[d == "image->report"]
        rep = retrieval_report(
            q, g, ks, groups=groups, n_resamples=n_resamples, level=level, seed=ci_seed,
            scoring=scoring, csls_k=csls_k, distractors=extra,
        )  # fmt: skip
        table.add(rep, direction=d, scoring=scoring_label(scoring, csls_k), **key)


def retrieve(
    images: Any,
    texts: Any,
    *,
    test: Any,
    methods: Sequence[str] = ("orthogonal",),
    scalings: Sequence[str] = ("standard",),
    anchor_counts: Sequence[int] = (500,),
    seeds: Sequence[int] = (0,),
    anchor_strategy: str = "random",
    ks: Sequence[int] = (1, 5, 10),
    directions: Sequence[str] = DIRECTIONS,
    naive: bool = True,
    groups: Any = None,
    image_name: str = "image",
    text_name: str = "text",
    n_resamples: int = 1000,
    level: float = 0.95,
    ci_seed: int = 0,
    scoring: str = "cosine",
    csls_k: int = 10,
    asif: ASIF | AsifSweep | None = None,
    distractors: tuple[Any, Any] | None = None,
) -> ResultTable:
    """Retrieval metrics among the test rows for every map asked for (+ the unaligned control).

    images (n, d_img) and texts (n, d_txt) are paired row by row; anchors come from the non-test
    rows only. Rows: mode ``aligned`` (one per method, scaling, anchor count, seed) and
    ``naive`` (no map: zero-padded/truncated), one per direction (column ``direction``), ranked
    by ``scoring`` (column ``scoring``: ``cosine`` or ``csls@k``). ``groups`` (n,) (e.g.
    :func:`semalign.metrics.text_groups` of the reports): items of one group are interchangeable
    hits, and anchors never come from a group with a test row. ``asif``: an unfitted
    :class:`~semalign.tasks.asif.ASIF`, fitted on the same anchors as T, adds mode ``asif`` rows
    (method ``asif``, its parameters in ``variant``) beside T's; an
    :class:`~semalign.tasks.asif.AsifSweep` chooses them per draw on held-out anchors (its
    settings' scores as mode ``asif-sweep`` rows). ``distractors``: (images
    (m, d_img), texts (m, d_txt)) of items outside the task, paired row by row: each direction's
    gallery holds them too (images through the same map), never as queries or hits. A cell with
    too few anchors, more anchors than train rows, or anchors of too low a rank gives n/a rows
    (``note``).
    """
    from semalign.metrics.csls import check_scoring

    check_scoring(scoring, csls_k)
    label = scoring_label(scoring, csls_k)
    x = np.asarray(images, dtype=np.float64)
    t = np.asarray(texts, dtype=np.float64)
    if x.ndim != 2 or t.ndim != 2 or x.shape[0] != t.shape[0]:
        raise InputError(
            f"images have shape {x.shape}, texts {t.shape}: pass (n, d) embeddings paired row "
            "by row"
        )
    unknown = set(directions) - set(DIRECTIONS)
    if unknown:
        raise InputError(f"unknown directions {sorted(unknown)}: use {', '.join(DIRECTIONS)}")
    tr, te = split_rows(x.shape[0], test, groups=groups)
    xd, td = _distractors(distractors, x.shape[1], t.shape[1])
    g_te = None if groups is None else np.asarray(groups)[te]
    common: dict[str, Any] = {
        "task": "retrieve", "source": image_name, "target": text_name, "n": int(te.size),
    }  # fmt: skip
    opts: dict[str, Any] = {
        "n_resamples": n_resamples, "level": level, "ci_seed": ci_seed,
        "scoring": scoring, "csls_k": csls_k,
    }  # fmt: skip
    table = ResultTable()

    def add_both(
        mapped: NDArray[np.float64],
        texts: NDArray[np.float64] | None = None,
        extra: tuple[Any, Any] | None = None,
        **key: Any,
    ) -> None:
        gallery = t[te] if texts is None else texts
        direction_rows(
            table, mapped, gallery, ks=ks, directions=directions, groups=g_te, **opts, **key,
            distractors=extra, **common,
        )  # fmt: skip

    def skip(why: str, **key: Any) -> None:
        skipped_rows(table, why, ks=ks, directions=directions, scoring=label, **key, **common)

    if naive:
        extra = None if xd is None else (naive_stitch(xd, t.shape[1]), td)
        add_both(naive_stitch(x[te], t.shape[1]), extra=extra, mode="naive")
    for k in anchor_counts:
        for seed in seeds:
            anchors = shared = None
            if k <= tr.size:
                anchors = draw_anchors(x, k, anchor_strategy, seed, tr)
            for method, scaling in itertools.product(methods, scalings):
                key: dict[str, Any] = {
                    "mode": "aligned", "method": method, "scaling": scaling, "anchors": int(k),
                    "seed": seed,
                }  # fmt: skip
                why = count_reason(method, scaling, x.shape[1], int(k), int(tr.size))
                aligner = None
                if why is None and anchors is not None:
                    shared = shared or AnchorSet(x[anchors], t[anchors])
                    aligner, why = fit_cell(x, t, anchors, method, scaling, seed, shared=shared)
                if aligner is None:
                    skip(str(why), **key)
                    continue
                extra = None if xd is None else (aligner.transform(xd), td)
                if aligner.cv_ is not None:  # ridge-cv: the penalty its anchors chose
                    key["variant"] = f"alpha={aligner.alpha_:.3g} (cross-validated)"
                add_both(aligner.transform(x[te]), extra=extra, **key)
            if asif is not None:
                key = {"mode": "asif", "method": "asif", "anchors": int(k), "seed": seed}
                if anchors is None:
                    skip(f"only {tr.size} train rows", **key)
                    continue
                model, variant = asif, ""
                if isinstance(asif, AsifSweep):
                    model, sweep = asif.select(x[anchors], t[anchors], seed=seed)
                    sweep_rows(table, sweep, **key, **common)
                    variant = " (chosen on held-out anchors)"
                assert isinstance(model, ASIF)
                fitted = model.fit(x[anchors], t[anchors])
                variant = asif_variant(fitted.params_) + variant
                extra = None
                if xd is not None:
                    extra = (fitted.transform_source(xd), fitted.transform_target(td))
                add_both(
                    fitted.transform_source(x[te]), fitted.transform_target(t[te]), extra,
                    variant=variant, **key,
                )  # fmt: skip
    return table


def _distractors(
    distractors: tuple[Any, Any] | None, d_img: int, d_txt: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """The (images, texts) distractor rows as float64, checked against the task's widths."""
    if distractors is None:
        return None, None
    xd = np.asarray(distractors[0], dtype=np.float64)
    td = np.asarray(distractors[1], dtype=np.float64)
    if (
        xd.ndim != 2
        or td.ndim != 2
        or xd.shape[0] != td.shape[0]
        or ((xd.shape[1], td.shape[1]) != (d_img, d_txt))
    ):
        raise InputError(
            f"distractors have shapes {xd.shape} and {td.shape}: pass (m, {d_img}) source and "
            f"(m, {d_txt}) target rows, paired row by row"
        )
    return xd, td
