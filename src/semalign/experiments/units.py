"""Units of work the runner caches: each is a pure function of arrays and settings.

Stitching units (per encoder pair): ``baseline`` (end-to-end, target, naive + space similarity
before alignment), one per ``(method, scaling)`` (aligned at every anchor count and seed + space
similarity after alignment + 2-D PCA of the anchors) and ``relative``. Zero-shot units: the
``unaligned`` control, one per ``(method, scaling)`` (unimodal through T) and ``multimodal`` for
a dual encoder. Scores of the headline setting are kept for ROC curves and confusion matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner, min_anchors, select_anchors
from semalign.experiments.cache import UnitOutput
from semalign.metrics.classification import Estimate, classification_report
from semalign.metrics.space import space_report
from semalign.tasks.results import ResultTable
from semalign.tasks.stitching import naive_stitch, stitch
from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier, _class_indices

Float = NDArray[np.float64]
PCA_POINTS = 200


def _space_rows(table: ResultTable, report: dict[str, float], n: int, **key: Any) -> None:
    table.add({m: Estimate(v) for m, v in report.items()}, n=n, task="space", **key)


def stitch_baseline(
    xa: Float,
    xb: Float,
    y: Any,
    test: Any,
    modes: Sequence[str],
    names: tuple[str, str],
    bootstrap: int,
) -> UnitOutput:
    """End-to-end / target / naive modes and the spaces' similarity before alignment."""
    wanted = [m for m in ("end-to-end", "target", "naive") if m in modes]
    table = stitch(
        xa,
        xb,
        y,
        test=test,
        modes=wanted,
        anchor_counts=(),
        source_name=names[0],
        target_name=names[1],
        n_resamples=bootstrap,
    )
    te = np.asarray(test)
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
    """Aligned stitching for one method and scaling at every anchor count and seed.

    One target head serves every map; CIs are bootstrapped for the first seed (the other seeds
    show the spread over anchor draws). Space metrics and PCA at the most anchors, first seed.
    """
    from semalign.tasks.heads import LogisticHead

    te = np.asarray(test)
    yy = np.asarray(y)
    excluded = np.zeros(xa.shape[0], dtype=bool)
    excluded[te] = True
    head = LogisticHead().fit(xb[~excluded], yy[~excluded])
    truth = head.class_index(yy[te])
    need = min_anchors(method, scaling, xa.shape[1])
    n_train = int((~excluded).sum())
    table = ResultTable()
    key: dict[str, Any] = {
        "task": "stitch",
        "source": names[0],
        "target": names[1],
        "mode": "aligned",
        "method": method,
        "scaling": scaling,
        "n": int(te.size),
    }
    labels = yy if strategy == "stratified" else None
    source = xa if strategy in {"farthest", "kmeans++"} else xa.shape[0]
    fitted: dict[int, Any] = {}
    for k in anchors:
        for seed in seeds:
            if k < need or k > n_train:
                why = f"needs >= {need} anchors" if k < need else f"only {n_train} train rows"
                nan = {m: Estimate(float("nan")) for m in ("accuracy", "macro_f1", "macro_auroc")}
                table.add(nan, anchors=int(k), seed=int(seed), setting=f"skipped: {why}", **key)
                continue
            idx = select_anchors(
                source, int(k), strategy=strategy, labels=labels, seed=int(seed), exclude=excluded
            )
            aligner = Aligner(method, scaling, seed=int(seed)).fit(xa[idx], xb[idx])
            scores = head.predict_proba(aligner.transform(xa[te]))
            rep = classification_report(
                truth, scores, task="multiclass", n_resamples=bootstrap if seed == seeds[0] else 0
            )
            table.add(rep, anchors=int(k), seed=int(seed), **key)
            if seed == seeds[0]:
                fitted[int(k)] = (idx, aligner)
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
            yy[shown],
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
    """Relative representations (cosines to the anchors) in both spaces; first seed only."""
    table = stitch(
        xa,
        xb,
        y,
        test=test,
        modes=["relative"],
        anchor_counts=anchors,
        seeds=seeds[:1],
        anchor_strategy=strategy,
        source_name=names[0],
        target_name=names[1],
        n_resamples=bootstrap,
    )
    return UnitOutput(ResultTable(r for r in table if r.mode == "relative"))


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
    p: Float, y: Any, mask: Any, prompts: PromptEmbeddings, rule: str, bootstrap: int
) -> dict[str, Estimate]:
    if rule == "argmax":
        idx = _class_indices(y, prompts.classes)
        return classification_report(idx, p, task="multiclass", n_resamples=bootstrap)
    return classification_report(
        y, p, task="multilabel", mask=mask, label_names=prompts.classes, n_resamples=bootstrap
    )


def score_rows(
    p: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    rule: str,
    **key: Any,
) -> list[dict[str, Any]]:
    """One row per (image, class): the true 0/1 and the score (for ROC and confusion)."""
    rows = []
    yy = np.asarray(y)
    for i, item in enumerate(ids):
        for j, cls in enumerate(prompts.classes):
            if rule == "argmax":
                truth = float(str(yy[i]).lower() == cls.lower())
            elif mask is not None and not mask[i, j]:
                continue
            else:
                truth = float(yy[i, j])
            rows.append({**key, "id": item, "class": cls, "y_true": truth, "score": float(p[i, j])})
    return rows


def zeroshot_fixed(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    *,
    mode: str,
    rule: str,
    aggregate: str,
    temperature: float,
    key: dict[str, Any],
    bootstrap: int,
) -> UnitOutput:
    """No map: the ``unaligned`` control (zero-padded/truncated) or a ``multimodal`` encoder."""
    x = naive_stitch(images, prompts.dim) if mode == "unaligned" else images
    clf = ZeroShotClassifier(prompts, rule=rule, aggregate=aggregate, temperature=temperature)
    p = clf.predict_proba(x)
    table = ResultTable()
    table.add(_report(p, y, mask, prompts, rule, bootstrap), n=len(ids), mode=mode, **key)
    scores = score_rows(
        p,
        y,
        mask,
        ids,
        prompts,
        rule,
        mode=mode,
        method=None,
        scaling=None,
        anchors=None,
        seed=None,
        **_score_key(key),
    )
    return UnitOutput(table, {"scores": scores})


def _score_key(key: dict[str, Any]) -> dict[str, Any]:
    return {"setting": key["setting"], "source": key["source"], "target": key["target"]}


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
) -> UnitOutput:
    """Unimodal zero-shot through T for every anchor count and seed (leave-one-out or fixed)."""
    n = len(ids)
    owners = np.asarray(owner)
    folds = [np.array([i]) for i in range(n)] if loo else [np.arange(n)]
    allowed = [owners != ids[f[0]] if loo else np.ones(owners.size, bool) for f in folds]
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    need = min_anchors(method, scaling, images.shape[1])
    most = min(int(a.sum()) for a in allowed)
    top_k = max(anchors)
    for k in anchors:
        for seed in seeds:
            setting: dict[str, Any] = {
                "method": method,
                "scaling": scaling,
                "anchors": int(k),
                "seed": int(seed),
            }
            if k < need or k > most:
                why = f"needs >= {need} anchors" if k < need else f"only {most} anchors available"
                nan = {m: Estimate(float("nan")) for m in ("accuracy", "macro_auroc")}
                note = {**key, "setting": f"{key['setting']}; skipped: {why}"}
                table.add(nan, n=n, mode="unimodal", **note, **setting)
                continue
            p = np.empty((n, len(prompts.classes)))
            for fold, ok in zip(folds, allowed, strict=True):
                sel = select_anchors(owners.size, int(k), seed=int(seed), exclude=~ok)
                aligner = Aligner(method, scaling, seed=int(seed)).fit(
                    anchor_images[sel], anchor_texts[sel]
                )
                center = anchor_texts[sel].mean(axis=0) if center_text else None
                clf = ZeroShotClassifier(
                    prompts,
                    rule=rule,
                    aggregate=aggregate,
                    temperature=temperature,
                    aligner=aligner,
                    center=center,
                )
                p[fold] = clf.predict_proba(images[fold])
            table.add(
                _report(p, y, mask, prompts, rule, bootstrap),
                n=n,
                mode="unimodal",
                **key,
                **setting,
            )
            if seed == seeds[0] and (k == top_k or k == most):
                scores = score_rows(
                    p, y, mask, ids, prompts, rule, mode="unimodal", **setting, **_score_key(key)
                )
    return UnitOutput(table, {"scores": scores})
