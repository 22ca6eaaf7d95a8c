"""Units of work the runner caches: each is a pure function of arrays and settings.

Stitching units (per encoder pair): ``baseline`` (end-to-end, target, naive + space similarity
before alignment), one per ``(method, scaling)`` (aligned at every anchor count and seed + space
similarity after alignment + 2-D PCA of the anchors), ``relative`` and, per unordered pair, the
raw spaces' similarity at several sample sizes. Zero-shot units: the supervised ``comparators``
(leave-one-out on the image embeddings), one per ``(method, scaling)`` (through T, with the
shuffled-anchors control), ``asif`` (the ASIF baseline on the same folds and anchors) and
``multimodal`` for a dual encoder; prompt modes under each scoring (cosine, CSLS). Scores of
the headline setting (cosine) are kept for ROC curves and confusion matrices.

Every AUROC comes from scores that keep their order (the heads' logits, as class log-odds through
``classification_report(..., logits=True)``; decision values of the prompts), never from
probabilities or log-probabilities that saturate to ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import min_anchors, select_anchors
from semalign.experiments.cache import UnitOutput
from semalign.metrics.classification import Estimate
from semalign.metrics.space import space_report
from semalign.tasks.asif import ASIF
from semalign.tasks.comparators import linear_probe_loo, nearest_centroid_loo
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import (
    CellSetting,
    LabelProblem,
    aligned_cell,
    baseline_cells,
    fit_cell,
    label_problem,
    naive_stitch,
    relative_cell,
    undefined,
)
from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier, zeroshot_report

Float = NDArray[np.float64]
Index = NDArray[np.int64]
PCA_POINTS = 200
HEADLINE_METRICS = ("accuracy", "macro_f1", "macro_auroc")


def _space_rows(table: ResultTable, report: dict[str, float], n: int, **key: Any) -> None:
    table.add({m: Estimate(v) for m, v in report.items()}, n=n, task="space", **key)


def _skip(reason: str, metrics: Sequence[str]) -> tuple[dict[str, Estimate], str]:
    return undefined(metrics), f"skipped: {reason}"


def _problem(xa: Float, y: Any, test: Any) -> tuple[LabelProblem, Index, Index]:
    tr, te = split_rows(xa.shape[0], test)
    return label_problem(y), tr, te


def stitch_baseline(
    xa: Float,
    xb: Float,
    y: Any,
    test: Any,
    modes: Sequence[str],
    names: tuple[str, str],
    bootstrap: int,
) -> UnitOutput:
    """End-to-end / target / naive modes (:func:`semalign.tasks.stitching.baseline_cells`) and
    the spaces' similarity before alignment."""
    prob, tr, te = _problem(xa, y, test)
    setting = CellSetting(names[0], names[1], bootstrap)
    table, _ = baseline_cells(xa, xb, prob, tr, te, modes=modes, setting=setting)
    rep = space_report(naive_stitch(xa[te], xb.shape[1]), xb[te], xa[te])
    _space_rows(table, rep, int(te.size), source=names[0], target=names[1], mode="before")
    return UnitOutput(table)


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
) -> UnitOutput:
    """Aligned stitching for one method and scaling at every anchor count and seed
    (:func:`semalign.tasks.stitching.aligned_cell`).

    One target head serves every map; CIs are bootstrapped for the first seed (the other seeds
    show the spread over anchor draws). Space metrics and PCA at the most anchors, first seed.
    A cell whose anchors are too few, or of too low a rank, is a row of NaN with the reason.
    """
    prob, tr, te = _problem(xa, y, test)
    setting = CellSetting(names[0], names[1], bootstrap)
    _, head = baseline_cells(xa, xb, prob, tr, te, modes=(), setting=setting)
    table = ResultTable()
    fitted: dict[int, Any] = {}
    for k in anchors:
        for seed in seeds:
            cell = aligned_cell(
                xa, xb, prob, tr, te, head, method=method, scaling=scaling, anchors=k,
                seed=seed, strategy=strategy, setting=setting,
                n_resamples=bootstrap if seed == seeds[0] else 0,
            )  # fmt: skip
            table.extend(cell.table)
            if seed == seeds[0] and cell.aligner is not None:
                fitted[int(k)] = (cell.anchors, cell.aligner)
    extras: dict[str, list[dict[str, Any]]] = {}
    if fitted:
        k = max(fitted)
        idx, aligner = fitted[k]
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
        shown = idx[:PCA_POINTS]
        extras["pca"] = pca_rows(
            xa[shown],
            xb[shown],
            aligner.transform(xa[shown]),
            np.asarray(y)[shown],
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
) -> UnitOutput:
    """Relative representations (:func:`semalign.tasks.stitching.relative_cell`); first seed."""
    prob, tr, te = _problem(xa, y, test)
    setting = CellSetting(names[0], names[1], bootstrap)
    table = ResultTable()
    for k in anchors:
        cell = relative_cell(
            xa, xb, prob, tr, te, anchors=k, seed=seeds[0], strategy=strategy, setting=setting
        )
        table.extend(cell.table)
    return UnitOutput(table)


def _pca2(fit_on: Float) -> tuple[Float, Float]:
    mean = fit_on.mean(axis=0)
    _, _, vt = np.linalg.svd(fit_on - mean, full_matrices=False)
    return mean, vt[:2].T


def pca_rows(xs: Float, xt: Float, xa: Float, labels: Any, **key: Any) -> list[dict[str, Any]]:
    """2-D PCA coordinates: source in its own basis; target and aligned in the target's basis."""
    rows: list[dict[str, Any]] = []
    ms, bs = _pca2(xs)
    mt, bt = _pca2(xt)
    for role, x, mean, basis in (
        ("source", xs, ms, bs),
        ("target", xt, mt, bt),
        ("aligned", xa, mt, bt),
    ):
        xy = (x - mean) @ basis
        for i in range(x.shape[0]):
            rows.append(
                {
                    **key,
                    "role": role,
                    "row": i,
                    "label": str(np.asarray(labels)[i]),
                    "pc1": float(xy[i, 0]),
                    "pc2": float(xy[i, 1]),
                }
            )
    return rows


# --------------------------------------------------------------------------- zero-shot


def _report(
    d: Float, y: Any, mask: Any, classes: list[str], rule: str, bootstrap: int
) -> dict[str, Estimate]:
    """Metrics of decision values ``d`` (:func:`semalign.tasks.zeroshot.zeroshot_report`)."""
    return zeroshot_report(d, y, mask, classes, rule, n_resamples=bootstrap)


def score_rows(
    d: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    classes: list[str],
    rule: str,
    **key: Any,
) -> list[dict[str, Any]]:
    """One row per (image, class): the true 0/1 and the decision value (for ROC and confusion)."""
    rows = []
    yy = np.asarray(y)
    for i, item in enumerate(ids):
        for j, cls in enumerate(classes):
            if rule == "argmax":
                truth = float(str(yy[i]).lower() == cls.lower())
            elif mask is not None and not mask[i, j]:
                continue
            else:
                truth = float(yy[i, j])
            rows.append({**key, "id": item, "class": cls, "y_true": truth, "score": float(d[i, j])})
    return rows


def zeroshot_joint(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    *,
    rule: str,
    aggregate: str,
    temperature: float,
    key: dict[str, Any],
    bootstrap: int,
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
) -> UnitOutput:
    """A dual encoder (mode ``multimodal``): images and prompts already share one space; one
    row per scoring (CSLS over the batch of all evaluated images); scores kept for cosine."""
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    for sc in scorings:
        clf = ZeroShotClassifier(
            prompts, rule=rule, aggregate=aggregate, temperature=temperature, scoring=sc,
            csls_k=csls_k,
        )  # fmt: skip
        d = clf.decision_values(images)
        rep = _report(d, y, mask, prompts.classes, rule, bootstrap)
        table.add(rep, n=len(ids), mode="multimodal", **scored_key(key, sc, csls_k))
        if sc == "cosine":
            scores = score_rows(
                d, y, mask, ids, prompts.classes, rule, mode="multimodal", method=None,
                scaling=None, anchors=None, seed=None, **_score_key(key),
            )  # fmt: skip
    return UnitOutput(table, {"scores": scores})


COMPARATOR_FUNCTIONS = {"nearest-centroid": nearest_centroid_loo, "linear-probe": linear_probe_loo}


def zeroshot_comparators(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    classes: list[str],
    *,
    comparators: Sequence[str],
    rule: str,
    key: dict[str, Any],
    bootstrap: int,
) -> UnitOutput:
    """Supervised leave-one-out comparators on the image embeddings (no text, no map): one row
    per comparator (its name is the mode), on the same images and folds as the map."""
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    for name in comparators:
        d = COMPARATOR_FUNCTIONS[name](images, y, rule=rule, classes=classes, mask=mask)
        table.add(_report(d, y, mask, classes, rule, bootstrap), n=len(ids), mode=name, **key)
        scores += score_rows(
            d, y, mask, ids, classes, rule, mode=name, method=None, scaling=None, anchors=None,
            seed=None, **_score_key(key),
        )  # fmt: skip
    return UnitOutput(table, {"scores": scores})


def _score_key(key: dict[str, Any]) -> dict[str, Any]:
    return {"setting": key["setting"], "source": key["source"], "target": key["target"]}


SHUFFLED = "shuffled-anchors"
CENTROID = "anchor-centroid"


def anchor_centroid_scores(
    mapped: Float, texts: Float, labels: Float, rule: str, center: Float | None
) -> Float:
    """Cosines (n, C) of mapped images to the centroid of the anchor reports of each class
    (argmax), or positive minus negative centroid cosine per label (pos-neg); the prompts play
    no part. ``labels`` (k, C): each anchor's 1/0 (NaN unknown) per class."""
    c = 0.0 if center is None else center
    x = mapped - c
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    t = texts - c

    def cos_to(rows: NDArray[np.bool_]) -> Float:
        if not rows.any():
            return np.full(x.shape[0], np.nan)
        m = t[rows].mean(axis=0)
        out: Float = x @ (m / max(float(np.linalg.norm(m)), 1e-300))
        return out

    out = np.empty((x.shape[0], labels.shape[1]))
    for j in range(labels.shape[1]):
        pos = cos_to(labels[:, j] == 1.0)
        out[:, j] = pos if rule == "argmax" else pos - cos_to(labels[:, j] == 0.0)
    return out


def scored_key(key: dict[str, Any], scoring: str, csls_k: int) -> dict[str, Any]:
    """The row key of ``scoring``: the task's key with column ``scoring`` = ``cosine`` or
    ``csls@k`` (read back by :func:`semalign.experiments.plots.scoring_of`)."""
    return {**key, "scoring": "cosine" if scoring == "cosine" else f"{scoring}@{csls_k}"}


def fold_decisions(clf: ZeroShotClassifier, images: Float, fold: NDArray[np.int64]) -> Float:
    """Decision values of the ``fold`` rows: cosine scores each image alone; CSLS scores the
    batch of every image (mapped by this fold's map) and keeps the fold's rows."""
    if clf.scoring == "cosine":
        return clf.decision_values(images[fold])
    return clf.decision_values(images)[fold]


def _folds(
    ids: Sequence[str], owners: NDArray[Any], loo: bool
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.bool_]]]:
    """Evaluation folds (one image each under leave-one-out, else all) and, per fold, the
    anchor pairs allowed to fit its map (none owned by the fold's image)."""
    n = len(ids)
    folds = [np.array([i]) for i in range(n)] if loo else [np.arange(n)]
    allowed = [owners != ids[f[0]] if loo else np.ones(owners.size, bool) for f in folds]
    return folds, allowed


def zeroshot_method(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    anchor_images: Float,
    anchor_texts: Float,
    owner: Sequence[str],
    *,
    loo: bool,
    method: str,
    scaling: str,
    anchors: Sequence[int],
    seeds: Sequence[int],
    rule: str,
    aggregate: str,
    temperature: float,
    center_text: bool,
    key: dict[str, Any],
    bootstrap: int,
    score_at: int | None = None,
    anchor_labels: Float | None = None,
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
) -> UnitOutput:
    """Prompt classification through T (mode ``unimodal``) for every anchor count and seed
    (leave-one-out or fixed), and its control (mode ``shuffled-anchors``): the same estimator on
    the same anchors with the reports shuffled among them, so that the pairing carries nothing.
    With ``anchor_labels`` (n_pairs, C) also mode ``anchor-centroid``: the same map with no
    prompts, scored against the centroids of the fold's anchor reports of each label (cosine).

    Both prompt modes are scored under each of ``scorings`` (:func:`scored_key` marks the rows).
    CSLS takes the class term over a batch (:mod:`semalign.tasks.zeroshot`): here the batch is
    every evaluated image mapped by the fold's map, the held-out image included (transductive,
    label-free), so a leave-one-out fold is not a batch of one.

    Per-item scores are kept for the first seed at ``score_at`` anchors (default: the most),
    cosine scoring only.
    """
    n = len(ids)
    owners = np.asarray(owner)
    folds, allowed = _folds(ids, owners, loo)
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    need = min_anchors(method, scaling, images.shape[1])
    most = min(int(a.sum()) for a in allowed)
    keep_at = score_at if score_at is not None else max(anchors)
    metrics = ("accuracy", "macro_auroc")
    for k in anchors:
        for seed in seeds:
            setting: dict[str, Any] = {
                "method": method,
                "scaling": scaling,
                "anchors": int(k),
                "seed": int(seed),
            }
            why = None
            if k < need or k > most:
                why = f"needs >= {need} anchors" if k < need else f"only {most} anchors available"
            cells = [(m, sc) for m in ("unimodal", SHUFFLED) for sc in scorings]
            if anchor_labels is not None:
                cells.append((CENTROID, "cosine"))
            d = {cell: np.empty((n, len(prompts.classes))) for cell in cells}
            rng = np.random.default_rng(int(seed))
            for fold, ok in zip(folds, allowed, strict=True):
                if why is not None:
                    break
                sel = select_anchors(owners.size, int(k), seed=int(seed), exclude=~ok)
                shuffled = sel[rng.permutation(sel.size)]
                center = anchor_texts[sel].mean(axis=0) if center_text else None
                for mode, text_rows in (("unimodal", sel), (SHUFFLED, shuffled)):
                    aligner, why = fit_cell(
                        anchor_images, anchor_texts, sel, method, scaling, int(seed),
                        targets=text_rows,
                    )  # fmt: skip
                    if aligner is None:
                        break
                    for sc in scorings:
                        clf = ZeroShotClassifier(
                            prompts, rule=rule, aggregate=aggregate, temperature=temperature,
                            aligner=aligner, center=center, scoring=sc, csls_k=csls_k,
                        )  # fmt: skip
                        d[mode, sc][fold] = fold_decisions(clf, images, fold)
                    if mode == "unimodal" and anchor_labels is not None:
                        mapped = aligner.transform(images[fold])
                        d[CENTROID, "cosine"][fold] = anchor_centroid_scores(
                            mapped, anchor_texts[sel], anchor_labels[sel], rule, center
                        )
            for (mode, sc), dv in d.items():
                if why is None and mode == CENTROID and np.isnan(dv).any():
                    why_mode: str | None = "a class has no anchor report in some fold"
                else:
                    why_mode = why
                row_key = scored_key(key, sc, csls_k)
                if why_mode is not None:
                    nan, note = _skip(why_mode, metrics)
                    table.add(nan, n=n, mode=mode, note=note, **row_key, **setting)
                    continue
                rep = _report(dv, y, mask, prompts.classes, rule, bootstrap)
                table.add(rep, n=n, mode=mode, **row_key, **setting)
                keep = seed == seeds[0] and (k == keep_at or (k == most and keep_at > most))
                if keep and sc == "cosine":
                    scores += score_rows(
                        dv, y, mask, ids, prompts.classes, rule, mode=mode, **setting,
                        **_score_key(key),
                    )  # fmt: skip
    return UnitOutput(table, {"scores": scores})


def asif_prompts(asif: ASIF, prompts: PromptEmbeddings) -> PromptEmbeddings:
    """The prompts (text space) as ASIF relative representations over the anchor texts."""
    k = asif.params_["n_anchors"]

    def rel(p: Float) -> Float:
        return asif.transform_target(p) if p.shape[0] else np.empty((0, k))

    return PromptEmbeddings(
        prompts.classes,
        [rel(p) for p in prompts.positive],
        [rel(q) for q in prompts.negative],
        prompts.name,
    )


def zeroshot_asif(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    anchor_images: Float,
    anchor_texts: Float,
    owner: Sequence[str],
    *,
    loo: bool,
    anchors: Sequence[int],
    seeds: Sequence[int],
    top_k: int,
    power: float,
    rule: str,
    aggregate: str,
    temperature: float,
    key: dict[str, Any],
    bootstrap: int,
    score_at: int | None = None,
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
) -> UnitOutput:
    """The ASIF baseline (mode ``asif``, Norelli et al. 2023) on the folds and anchor pairs of
    :func:`zeroshot_method` (same draw per anchor count, seed and fold): images become their
    sparsified similarities to the fold's anchor images, prompts theirs to its anchor reports,
    and the prompt rule (aggregate, temperature, scoring) runs on those codes. No map, no
    centring. Per-item scores as in :func:`zeroshot_method` (cosine only)."""
    n = len(ids)
    owners = np.asarray(owner)
    folds, allowed = _folds(ids, owners, loo)
    most = min(int(a.sum()) for a in allowed)
    keep_at = score_at if score_at is not None else max(anchors)
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    for k in anchors:
        for seed in seeds:
            setting: dict[str, Any] = {"anchors": int(k), "seed": int(seed)}
            d = {sc: np.empty((n, len(prompts.classes))) for sc in scorings}
            for fold, ok in zip(folds, allowed, strict=True):
                if k > most:
                    break
                sel = select_anchors(owners.size, int(k), seed=int(seed), exclude=~ok)
                asif = ASIF(top_k, power).fit(anchor_images[sel], anchor_texts[sel])
                codes = asif.transform_source(images)
                rel = asif_prompts(asif, prompts)
                for sc in scorings:
                    clf = ZeroShotClassifier(
                        rel, rule=rule, aggregate=aggregate, temperature=temperature,
                        scoring=sc, csls_k=csls_k,
                    )  # fmt: skip
                    d[sc][fold] = fold_decisions(clf, codes, fold)
            for sc, dv in d.items():
                row_key = scored_key(key, sc, csls_k)
                if k > most:
                    nan, note = _skip(f"only {most} anchors available", ("accuracy", "macro_auroc"))
                    table.add(nan, n=n, mode="asif", note=note, **row_key, **setting)
                    continue
                rep = _report(dv, y, mask, prompts.classes, rule, bootstrap)
                table.add(rep, n=n, mode="asif", **row_key, **setting)
                keep = seed == seeds[0] and (k == keep_at or (k == most and keep_at > most))
                if keep and sc == "cosine":
                    scores += score_rows(
                        dv, y, mask, ids, prompts.classes, rule, mode="asif", method=None,
                        scaling=None, **setting, **_score_key(key),
                    )  # fmt: skip
    return UnitOutput(table, {"scores": scores})


# --------------------------------------------------------------------------- space vs n

SAMPLE_SIZE = "sample-size"  # mode of the raw-space similarity rows at several sample sizes


def space_at_sizes(
    xa: Float, xb: Float, sizes: Sequence[int], *, repeats: int, k: int, names: tuple[str, str]
) -> UnitOutput:
    """Similarity of the raw spaces xa (n, d_a), xb (n, d_b) at each sample size (mode
    ``sample-size``, ``n`` = the size): linear CKA (``cka``), k-NN Jaccard, and
    :func:`~semalign.metrics.similarity.at_sample_sizes` (unbiased CKA, mutual k-NN, CKNNA) on
    the same nested subsets, for subsample seeds 0 .. repeats-1. Value: the mean over the seeds;
    CI: the 2.5-97.5 percentiles of the seeds' values (the spread of one sample of that size).
    A size above the rows at hand gives an n/a row with the reason."""
    from semalign.metrics.similarity import at_sample_sizes, nested_subsets
    from semalign.metrics.space import knn_jaccard, linear_cka

    n_rows = xa.shape[0]
    feasible = [int(m) for m in sizes if int(m) <= n_rows]
    values: dict[int, dict[str, list[float]]] = {m: {} for m in feasible}
    for seed in range(repeats if feasible else 0):
        subsets = nested_subsets(n_rows, feasible, k=k, seed=seed)
        reports = at_sample_sizes(xa, xb, feasible, k=k, seed=seed)
        for idx, rep in zip(subsets, reports, strict=True):
            rep = {
                "cka": linear_cka(xa[idx], xb[idx]),
                f"knn_jaccard@{k}": knn_jaccard(xa[idx], xb[idx], k),
                **{m: v for m, v in rep.items() if m != "n"},
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
