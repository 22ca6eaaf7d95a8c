"""Units of work the runner caches: each is a pure function of arrays and settings.

Stitching units: per task ``majority`` (the floor: always the most frequent training class);
per encoder pair ``baseline`` (end-to-end, target, naive + space similarity before alignment),
one per ``(method, scaling)`` (aligned at every anchor count and seed + space similarity after
alignment + 2-D PCA of the test rows), ``relative`` and, per unordered pair, the raw spaces'
similarity at several sample sizes. Every scored stitching setting keeps its per-row
predictions (extra ``stitch_predictions``). Zero-shot units: the supervised ``comparators``
(leave-one-out on the image embeddings), one per ``(method, scaling)`` (through T, with the
shuffled-anchors control), ``asif`` (the ASIF baseline on the same folds and anchors) and
``multimodal`` for a dual encoder; prompt modes under each scoring (cosine, CSLS). Scores of
the headline setting (cosine) are kept for ROC curves and confusion matrices. Every unit runs
the cells of ``semalign.tasks`` (``stitching``, ``zeroshot_folds``): none fits a map, draws
anchors or scores by itself.

Every AUROC comes from scores that keep their order (the heads' logits, as class log-odds through
``classification_report(..., logits=True)``; decision values of the prompts), never from
probabilities or log-probabilities that saturate to ties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import AnchorSet
from semalign.experiments.cache import UnitOutput
from semalign.metrics.classification import Estimate
from semalign.metrics.space import space_report
from semalign.tasks import zeroshot_folds as folds
from semalign.tasks.comparisons import COMPARISONS, stitch_comparisons
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import (
    Cell,
    CellSetting,
    LabelProblem,
    aligned_cell,
    baseline_cells,
    label_problem,
    majority_cell,
    naive_stitch,
    relative_cell,
    undefined,
)

Float = NDArray[np.float64]
Index = NDArray[np.int64]
PCA_POINTS = 200
HEADLINE_METRICS = ("accuracy", "macro_f1", "macro_auroc")
PREDICTIONS = "stitch_predictions"  # extra: per-row predictions of every stitching setting


def _space_rows(table: ResultTable, report: dict[str, float], n: int, **key: Any) -> None:
    table.add({m: Estimate(v) for m, v in report.items()}, n=n, task="space", **key)


def _skip(reason: str, metrics: Sequence[str]) -> tuple[dict[str, Estimate], str]:
    return undefined(metrics), f"skipped: {reason}"


def _problem(n: int, y: Any, test: Any) -> tuple[LabelProblem, Index, Index]:
    tr, te = split_rows(n, test)
    return label_problem(y), tr, te


def _setting(names: tuple[str, str], bootstrap: int, ids: Sequence[str] | None) -> CellSetting:
    return CellSetting(names[0], names[1], bootstrap, ids=None if ids is None else tuple(ids))


def _predicted(cells: Sequence[Cell]) -> dict[str, list[dict[str, Any]]]:
    return {PREDICTIONS: [p for c in cells for p in c.predictions]}


def stitch_majority(
    y: Any, test: Any, *, bootstrap: int, ids: Sequence[str] | None = None
) -> UnitOutput:
    """The task's floor (:func:`semalign.tasks.stitching.majority_cell`), once per task and
    split: no encoder, so its rows' ``source`` and ``target`` are empty."""
    prob, tr, te = _problem(len(y), y, test)
    cell = majority_cell(prob, tr, te, setting=_setting(("", ""), bootstrap, ids))
    return UnitOutput(cell.table, _predicted([cell]))


def stitch_baseline(
    xa: Float,
    xb: Float,
    y: Any,
    test: Any,
    modes: Sequence[str],
    names: tuple[str, str],
    bootstrap: int,
    ids: Sequence[str] | None = None,
) -> UnitOutput:
    """End-to-end / target / naive modes (:func:`semalign.tasks.stitching.baseline_cells`) and
    the spaces' similarity before alignment."""
    prob, tr, te = _problem(xa.shape[0], y, test)
    cell, _ = baseline_cells(
        xa, xb, prob, tr, te, modes=modes, setting=_setting(names, bootstrap, ids)
    )
    rep = space_report(naive_stitch(xa[te], xb.shape[1]), xb[te], xa[te])
    _space_rows(cell.table, rep, int(te.size), source=names[0], target=names[1], mode="before")
    return UnitOutput(cell.table, _predicted([cell]))


def stitch_method(
    xa: Float,
    xb: Float,
    y: Any,
    test: Any,
    *,
    method: str,
    scaling: str,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    names: tuple[str, str],
    bootstrap: int,
    ids: Sequence[str] | None = None,
    headline: int | None = None,
    permutations: int = 0,
    taken: Mapping[str, Sequence[int]] | None = None,
) -> UnitOutput:
    """Aligned stitching for one method and scaling at every anchor count and seed
    (:func:`semalign.tasks.stitching.aligned_cell`); ``taken`` ("k/seed" -> anchor rows):
    published anchors used instead of the cells' own draws.

    One target head serves every map; CIs are bootstrapped for the first seed (the other seeds
    show the spread over anchor draws). Space metrics and PCA at the most anchors, first seed.
    A cell whose anchors are too few, or of too low a rank, is a row of NaN with the reason.
    Extra ``comparisons`` (:func:`semalign.tasks.comparisons.stitch_comparisons`): seed means
    with their interval at every count; at the ``headline`` count the paired differences to
    target and naive and, with ``permutations`` > 0, the shuffled-anchors control.
    """
    prob, tr, te = _problem(xa.shape[0], y, test)
    setting = _setting(names, bootstrap, ids)
    _, head = baseline_cells(xa, xb, prob, tr, te, modes=(), setting=setting)
    table = ResultTable()
    cells: list[Cell] = []
    fitted: dict[int, Any] = {}
    maps: dict[int, list[tuple[int, Any, Any]]] = {int(k): [] for k in anchors}
    for k in anchors:
        for seed in seeds:
            cell = aligned_cell(
                xa, xb, prob, tr, te, head, method=method, scaling=scaling, anchors=k,
                seed=seed, strategy=strategy, setting=setting,
                n_resamples=bootstrap if seed == seeds[0] else 0,
                drawn=_taken(xa, xb, taken, k, seed),
            )  # fmt: skip
            table.extend(cell.table)
            cells.append(cell)
            if cell.aligner is not None:
                maps[int(k)].append((int(seed), cell.anchors, cell.aligner))
            if seed == seeds[0] and cell.aligner is not None:
                fitted[int(k)] = (cell.anchors, cell.aligner)
    extras = _predicted(cells)
    extras[COMPARISONS] = stitch_comparisons(
        xa, xb, prob, te, head, maps, method=method, scaling=scaling, setting=setting,
        headline=headline, permutations=permutations,
    ).to_records()  # fmt: skip
    if fitted:
        k = max(fitted)
        _, aligner = fitted[k]
        rep_space = space_report(aligner.transform(xa[te]), xb[te], xa[te])
        _space_rows(
            table,
            rep_space,
            int(te.size),
            source=names[0],
            target=names[1],
            mode="after",
            method=method,
            scaling=scaling,
            anchors=k,
            seed=seeds[0],
        )
        shown = pca_subset(te, PCA_POINTS)
        extras["pca"] = pca_rows(
            xa[shown],
            xb[shown],
            aligner.transform(xa[shown]),
            np.asarray(y)[shown],
            fit=(xa[tr], xb[tr]),
            rows="test",
            source=names[0],
            target=names[1],
            method=method,
            scaling=scaling,
            anchors=k,
        )
    return UnitOutput(table, extras)


def stitch_relative(
    xa: Float,
    xb: Float,
    y: Any,
    test: Any,
    *,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str,
    names: tuple[str, str],
    bootstrap: int,
    ids: Sequence[str] | None = None,
    taken: Mapping[str, Sequence[int]] | None = None,
) -> UnitOutput:
    """Relative representations (:func:`semalign.tasks.stitching.relative_cell`); first seed;
    ``taken`` as in :func:`stitch_method`."""
    prob, tr, te = _problem(xa.shape[0], y, test)
    setting = _setting(names, bootstrap, ids)
    table = ResultTable()
    cells = []
    for k in anchors:
        given = _taken(xa, xb, taken, k, seeds[0])
        cell = relative_cell(
            xa, xb, prob, tr, te, anchors=k, seed=seeds[0], strategy=strategy, setting=setting,
            idx=None if given is None else given[0],
        )  # fmt: skip
        table.extend(cell.table)
        cells.append(cell)
    return UnitOutput(table, _predicted(cells))


def _taken(
    xa: Float, xb: Float, taken: Mapping[str, Sequence[int]] | None, k: int, seed: int
) -> tuple[Index, AnchorSet] | None:
    """The published anchor rows of cell (``k``, ``seed``) and their pairs, if taken."""
    rows = None if taken is None else taken.get(f"{int(k)}/{int(seed)}")
    if rows is None:
        return None
    idx = np.asarray(rows, dtype=np.int64)
    return idx, AnchorSet(xa[idx], xb[idx])


def _pca2(fit_on: Float) -> tuple[Float, Float]:
    """Mean (d,) and the first two principal axes (d, 2) of ``fit_on`` (n, d)."""
    mean = fit_on.mean(axis=0)
    _, _, vt = np.linalg.svd(fit_on - mean, full_matrices=False)
    return mean, vt[:2].T


def pca_subset(rows: Index, most: int) -> Index:
    """At most ``most`` of ``rows``, evenly spread over them (all of them when so few)."""
    if rows.size <= most:
        return rows
    return rows[np.linspace(0, rows.size - 1, most).round().astype(np.int64)]


def pca_rows(
    xs: Float,
    xt: Float,
    xa: Float,
    labels: Any,
    *,
    fit: tuple[Float, Float] | None = None,
    rows: str = "anchors",
    **key: Any,
) -> list[dict[str, Any]]:
    """2-D PCA coordinates of the same items in three roles: ``source`` (xs) in the source's
    basis; ``target`` (xt) and ``aligned`` (xa = T(xs)) in the target's basis. ``fit``:
    (source rows, target rows) the two bases are fitted on (column ``basis`` = ``train``);
    None: each basis is fitted on the points themselves (``basis`` = ``shown``). ``rows``
    names the points (column ``rows``; ``test``: held-out rows); ``row`` is the item's
    position among them, the same in every role."""
    out: list[dict[str, Any]] = []
    ms, bs = _pca2(xs if fit is None else fit[0])
    mt, bt = _pca2(xt if fit is None else fit[1])
    basis = "shown" if fit is None else "train"
    for role, x, mean, axes in (
        ("source", xs, ms, bs),
        ("target", xt, mt, bt),
        ("aligned", xa, mt, bt),
    ):
        xy = (x - mean) @ axes
        for i in range(x.shape[0]):
            out.append(
                {
                    **key,
                    "role": role,
                    "row": i,
                    "label": str(np.asarray(labels)[i]),
                    "pc1": float(xy[i, 0]),
                    "pc2": float(xy[i, 1]),
                    "rows": rows,
                    "basis": basis,
                }
            )
    return out


# --------------------------------------------------------------------------- zero-shot
# the cells live in semalign.tasks.zeroshot_folds; a unit keeps their per-item scores as extras


def _scored(out: tuple[ResultTable, list[dict[str, Any]]]) -> UnitOutput:
    return UnitOutput(out[0], {"scores": out[1]})


def zeroshot_joint(*args: Any, **kw: Any) -> UnitOutput:
    """:func:`semalign.tasks.zeroshot_folds.zeroshot_joint` as a unit."""
    return _scored(folds.zeroshot_joint(*args, **kw))


def zeroshot_comparators(*args: Any, **kw: Any) -> UnitOutput:
    """:func:`semalign.tasks.zeroshot_folds.zeroshot_comparators` as a unit."""
    return _scored(folds.zeroshot_comparators(*args, **kw))


def zeroshot_method(*args: Any, **kw: Any) -> UnitOutput:
    """:func:`semalign.tasks.zeroshot_folds.zeroshot_method` as a unit; its comparison rows
    (seed means, paired differences, the permutation control) are extra ``comparisons``."""
    comparisons = ResultTable()
    out = _scored(folds.zeroshot_method(*args, comparisons=comparisons, **kw))
    out.extras[COMPARISONS] = comparisons.to_records()
    return out


def zeroshot_asif(*args: Any, **kw: Any) -> UnitOutput:
    """:func:`semalign.tasks.zeroshot_folds.zeroshot_asif` as a unit."""
    return _scored(folds.zeroshot_asif(*args, **kw))


anchor_centroid_scores = folds.anchor_centroid_scores
scored_key = folds.scored_key


# --------------------------------------------------------------------------- space vs n

SAMPLE_SIZE = "sample-size"  # mode of the raw-space similarity rows at several sample sizes


def space_at_sizes(
    xa: Float, xb: Float, sizes: Sequence[int], *, repeats: int, k: int, names: tuple[str, str]
) -> UnitOutput:
    """Similarity of the raw spaces xa (n, d_a), xb (n, d_b) at each sample size (mode
    ``sample-size``, ``n`` = the size): linear CKA (``cka``), k-NN Jaccard, and, as
    :func:`~semalign.metrics.similarity.at_sample_sizes`, unbiased CKA, mutual k-NN and CKNNA,
    on the same nested subsets, for subsample seeds 0 .. repeats-1. One cosine k-NN search per
    space and subset serves the three neighbour metrics. Value: the mean over the seeds;
    CI: the 2.5-97.5 percentiles of the seeds' values (the spread of one sample of that size).
    A size above the rows at hand gives an n/a row with the reason."""
    from semalign.arrays import as_float64_2d
    from semalign.errors import InputError
    from semalign.metrics.similarity import cknna, mutual_knn, nested_subsets, unbiased_cka
    from semalign.metrics.space import cosine_neighbours, knn_jaccard, linear_cka

    n_rows = xa.shape[0]
    feasible = [int(m) for m in sizes if int(m) <= n_rows]
    values: dict[int, dict[str, list[float]]] = {m: {} for m in feasible}
    x, y = as_float64_2d(xa, names[0]), as_float64_2d(xb, names[1])
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{names[0]} has {x.shape[0]} rows, {names[1]} {y.shape[0]}: pair them")
    for seed in range(repeats if feasible else 0):
        for idx in nested_subsets(n_rows, feasible, k=k, seed=seed):
            xs, ys = x[idx], y[idx]
            knn = (cosine_neighbours(xs, k), cosine_neighbours(ys, k))
            rep = {
                "cka": linear_cka(xs, ys),
                f"knn_jaccard@{k}": knn_jaccard(xs, ys, k, neighbours=knn),
                f"mutual_knn@{k}": mutual_knn(xs, ys, k, neighbours=knn),
                "unbiased_cka": unbiased_cka(xs, ys),
                f"cknna@{k}": cknna(xs, ys, k, neighbours=knn),
            }
            for m, v in rep.items():
                values[idx.size].setdefault(m, []).append(v)
    table = ResultTable()
    for size, by in values.items():
        est = {
            m: Estimate(float(np.mean(v)), *map(float, np.percentile(v, [2.5, 97.5])))
            for m, v in by.items()
        }
        table.add(est, n=size, task="space", source=names[0], target=names[1], mode=SAMPLE_SIZE)
    metrics = next(iter(values.values())).keys() if values else ["cka"]
    for size in (int(m) for m in sizes if int(m) > n_rows):
        est, note = _skip(f"only {n_rows} items", list(metrics))
        table.add(est, n=size, task="space", source=names[0], target=names[1], mode=SAMPLE_SIZE,
                  note=note)  # fmt: skip
    return UnitOutput(table)
