"""Classification metrics of many bootstrap resamples at once, as row weights.

A resample that draws row i ``w_i`` times is the same data set as the original rows weighted by
``w_i``, so every metric of R resamples is a function of a count matrix W (R, n). Scores are
sorted once per label and each metric is a few vectorised sums over W, instead of R separate
evaluations. Row 0 of W is usually all ones: the point estimate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Bool = NDArray[np.bool_]


def resample_counts(indices: NDArray[np.int64], n: int) -> Float:
    """Count matrix (R, n) of resampled row indices (R, n): how often each row was drawn."""
    r = indices.shape[0]
    flat = (indices + n * np.arange(r)[:, None]).ravel()
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def ranked(t: Bool, s: Float, w: Float) -> tuple[Float, Float]:
    """Positive and negative weight (R, G) of each run of equal scores (G runs, from the
    highest score down) per row of w (R, n). Continuous scores have no ties (G = n) and skip
    the grouping; every sum is of counts, so it is exact in any order."""
    order = np.argsort(-s, kind="mergesort")
    ws = w[:, order]
    pos = ws * t[order]
    neg = np.subtract(ws, pos, out=ws)
    ss = s[order]
    if np.any(ss[1:] == ss[:-1]):
        starts = np.r_[0, np.flatnonzero(np.diff(ss)) + 1].astype(np.intp)
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    return pos, neg


def ranked_auroc(pos: Float, neg: Float) -> Float:
    """Mann-Whitney AUROC (ties count one half) per row of the :func:`ranked` weights; NaN if
    a weighted class is empty."""
    n_neg = neg.sum(axis=1)
    below = np.cumsum(neg, axis=1)  # negative weight at or above each run's score ...
    np.subtract(n_neg[:, None], below, out=below)  # ... so this is the weight below it
    below += 0.5 * neg
    num = np.einsum("ij,ij->i", pos, below)  # sums of half-integers: exact in any order
    den = pos.sum(axis=1) * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ranked_average_precision(pos: Float, neg: Float) -> Float:
    """Average precision (step-wise, each run of equal scores one threshold) per row of the
    :func:`ranked` weights; NaN when no weighted positive."""
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    total = tp[:, -1]
    fp += tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.divide(tp, fp, out=np.zeros(tp.shape), where=fp > 0)
        ap = np.multiply(pos, precision, out=precision).sum(axis=1)
        ap /= np.where(total > 0, total, 1.0)
    return np.where(total > 0, ap, np.nan)


def auroc(t: Bool, s: Float, w: Float) -> Float:
    """Weighted Mann-Whitney AUROC (ties count one half) for each row of w (R, n); NaN if a
    weighted class is empty."""
    return ranked_auroc(*ranked(t, s, w))


def f1_per_class(t: NDArray[np.int64], p: NDArray[np.int64], k: int, w: Float) -> Float:
    """F1 of each class 0..k-1 per row of w: (R, k); 0 where a class has no true or predicted
    weight."""
    classes = np.arange(k)
    true_c = (t[:, None] == classes).astype(np.float64)
    pred_c = (p[:, None] == classes).astype(np.float64)
    tp = w @ (true_c * pred_c)
    denom = w @ true_c + w @ pred_c
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1.0), 0.0)


def nanmean_rows(x: Float) -> Float:
    """Mean over axis 1 ignoring NaN; NaN for a row with no finite value."""
    finite = ~np.isnan(x)
    count = finite.sum(axis=1)
    total = np.where(finite, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def multiclass(
    t: NDArray[np.int64], s: Float, names: list[str] | None, w: Float
) -> dict[str, Float]:
    """accuracy, balanced accuracy (mean recall over the classes with weight), macro-F1 (all K
    classes) and one-vs-rest macro-AUROC per row of w (R, n); with ``names`` (K,) also each
    class's F1 and AUROC as ``f1[name]`` / ``auroc[name]``."""
    k = s.shape[1]
    pred = s.argmax(axis=1)
    weight = w.sum(axis=1)
    classes = np.arange(k)
    true_c = (t[:, None] == classes).astype(np.float64)
    hit_c = true_c * (pred[:, None] == classes)
    support, hits = w @ true_c, w @ hit_c
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (w @ (t == pred).astype(np.float64)) / np.where(weight > 0, weight, np.nan)
        recall = np.where(support > 0, hits / np.where(support > 0, support, 1.0), np.nan)
    aurocs = np.stack([auroc(t == c, s[:, c], w) for c in range(k)], axis=1)
    f1 = f1_per_class(t, pred, k, w)
    out = {
        "accuracy": acc,
        "balanced_accuracy": nanmean_rows(recall),
        "macro_f1": f1.mean(axis=1),
        "macro_auroc": nanmean_rows(aurocs),
    }
    if names is not None:
        out.update({f"f1[{name}]": f1[:, c] for c, name in enumerate(names)})
        out.update({f"auroc[{name}]": aurocs[:, c] for c, name in enumerate(names)})
    return out


def f1_per_label(
    t: NDArray[np.int64], p: NDArray[np.int64], m: Bool, average: str, w: Float
) -> Float:
    """F1 of each label (R, L) over its unmasked entries: the positive class's F1
    (``average="positive"``, 0 when a label has no true and no predicted positive) or the mean
    of both classes' F1 (``"both-classes"``); NaN for a label with no unmasked weight."""
    out = np.full((w.shape[0], t.shape[1]), np.nan)
    for j in range(t.shape[1]):
        wj = w * m[:, j]
        f1 = f1_per_class(t[:, j], p[:, j], 2, wj)
        value = f1[:, 1] if average == "positive" else f1.mean(axis=1)
        out[:, j] = np.where(wj.sum(axis=1) > 0, value, np.nan)
    return out


def multilabel(
    t: NDArray[np.int64],
    s: Float,
    m: Bool,
    threshold: float,
    names: list[str],
    both_classes: bool,
    w: Float,
) -> dict[str, Float]:
    """Masked multi-label metrics per row of w (R, n): accuracy over unmasked entries,
    positive-class macro-F1 (and, with ``both_classes``, the mean of both classes' F1 per label
    as ``macro_f1_both_classes``), AUROC and AUPRC (macro = mean over defined labels); with
    several labels also each label's ``f1[name]`` and ``auroc[name]``.
    Predictions are ``s >= threshold``."""
    pred = (s >= threshold).astype(np.int64)
    n_labels = t.shape[1]
    hits = np.zeros(w.shape[0])
    seen = np.zeros(w.shape[0])
    aurocs = np.full((w.shape[0], n_labels), np.nan)
    auprcs = np.full((w.shape[0], n_labels), np.nan)
    for j in range(n_labels):
        wj = w * m[:, j]
        hits += wj @ (t[:, j] == pred[:, j]).astype(np.float64)
        seen += wj.sum(axis=1)
        pos, neg = ranked(t[:, j].astype(bool), s[:, j], wj)
        aurocs[:, j] = ranked_auroc(pos, neg)
        auprcs[:, j] = ranked_average_precision(pos, neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(seen > 0, hits / np.where(seen > 0, seen, 1.0), np.nan)
    f1 = f1_per_label(t, pred, m, "positive", w)
    out = {"accuracy": acc, "macro_f1": nanmean_rows(f1)}
    if both_classes:
        out["macro_f1_both_classes"] = nanmean_rows(f1_per_label(t, pred, m, "both-classes", w))
    out["macro_auroc"] = nanmean_rows(aurocs)
    out["macro_auprc"] = nanmean_rows(auprcs)
    if len(names) > 1:
        out.update({f"f1[{name}]": f1[:, j] for j, name in enumerate(names)})
        out.update({f"auroc[{name}]": aurocs[:, j] for j, name in enumerate(names)})
    return out
