"""Classification metrics with masked labels and seeded percentile-bootstrap confidence intervals.

Conventions:
  multi-class   ``y_true`` (n,) class indices 0..K-1, ``scores`` (n, K) (probabilities or logits).
  multi-label   ``y_true`` (n, L) in {1, 0, -1, NaN} (CheXpert: positive, negative, uncertain,
                not mentioned), ``scores`` (n, L). :func:`mask_labels` turns the raw values into
                binary targets and a validity mask per the uncertainty/missing policy; every
                multi-label metric skips masked entries label by label.
  binary        a multi-label problem with L = 1.

AUROC is the Mann-Whitney statistic with ties counted one half; AUPRC is average precision
(step-wise, as scikit-learn's ``average_precision_score``). A metric that is undefined on the
data (a label with one class only) is NaN and left out of macro averages. numpy only.

Rank metrics need scores that keep their order. A probability saturates: a logit above ~37
gives exactly 1.0 in float64, so a head with large logits hands out one-hot rows whose AUROC is
0.5 whatever the ranking. Pass logits (``classification_report(..., logits=True)``): multi-label
logits rank as they are, multi-class logits are turned into each class's log-odds
``log(p_c / (1 - p_c)) = z_c - logsumexp_{j != c} z_j`` (:func:`class_log_odds`), the exact order
of the probabilities without their saturation.

Multi-label macro-F1 is scikit-learn's ``f1_score(average="macro")``: the F1 of the positive
class of each label, averaged over labels (a label with no true and no predicted positive scores
0). The mean of the positive- and negative-class F1 of each label is available by its own name,
``macro_f1_both_classes`` (:func:`multilabel_macro_f1` with ``average="both-classes"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from semalign.errors import InputError
from semalign.metrics import _weighted

__all__ = [
    "TASK_TYPES",
    "Estimate",
    "accuracy",
    "average_precision",
    "balanced_accuracy",
    "binary_auroc",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "class_log_odds",
    "classification_report",
    "confusion_matrix",
    "macro_auprc",
    "macro_auroc",
    "macro_f1",
    "mask_labels",
    "multiclass_auroc",
    "multilabel_macro_f1",
    "per_class_auroc",
    "per_class_f1",
    "per_label_auprc",
    "per_label_auroc",
]

Float = NDArray[np.float64]
Bool = NDArray[np.bool_]
Task = Literal["multiclass", "multilabel", "binary"]
TASK_TYPES: tuple[str, ...] = ("multiclass", "multilabel", "binary")
F1_AVERAGES: tuple[str, ...] = ("positive", "both-classes")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval (NaN bounds when not computed)."""

    value: float
    low: float = float("nan")
    high: float = float("nan")


def mask_labels(
    values: Any, uncertain: str = "ignore", missing: str = "zeros"
) -> tuple[NDArray[np.int64], Bool]:
    """Binary targets and a validity mask from raw label values in {1, 0, -1, NaN}.

    values: (n,) or (n, L). ``uncertain`` (-1): ``ones``, ``zeros`` or ``ignore`` (masked).
    ``missing`` (NaN): ``zeros`` or ``ignore``. Returns int64 targets and a bool mask, both
    shaped like ``values``; masked targets are 0.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[~np.isnan(v)]
    bad = ~np.isin(finite, (1.0, 0.0, -1.0))
    if bad.any():
        raise InputError(
            f"label values contain {float(finite[bad][0]):g}: use 1 (positive), 0 (negative), "
            "-1 (uncertain) or blank/NaN (not mentioned)"
        )
    if uncertain not in ("ones", "zeros", "ignore"):
        raise InputError(f"uncertain policy {uncertain!r} is unknown: use ones, zeros or ignore")
    if missing not in ("zeros", "ignore"):
        raise InputError(f"missing policy {missing!r} is unknown: use zeros or ignore")
    targets = (v == 1.0).astype(np.int64)
    mask = np.ones(v.shape, dtype=bool)
    unc = v == -1.0
    if uncertain == "ones":
        targets[unc] = 1
    elif uncertain == "ignore":
        mask[unc] = False
    if missing == "ignore":
        mask[np.isnan(v)] = False
    return targets, mask


def _vector(x: Any, name: str) -> NDArray[Any]:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name} has shape {arr.shape}: expected a vector (n,)")
    return arr


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of equal entries of ``y_true`` (n,) and ``y_pred`` (n,); NaN when n = 0."""
    t, p = _paired_vectors(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def _paired_vectors(y_true: Any, y_pred: Any) -> tuple[NDArray[Any], NDArray[Any]]:
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        raise InputError(f"y_true has {t.shape[0]} rows, y_pred {p.shape[0]}: pass paired rows")
    return t, p


def _class_order(t: NDArray[Any], p: NDArray[Any], labels: Any) -> NDArray[Any]:
    """``labels`` as an array (K,) of distinct classes; by default the sorted union of both."""
    if labels is None:
        return np.union1d(t, p)
    classes = np.asarray(labels)
    if classes.ndim != 1 or np.unique(classes).size != classes.size:
        raise InputError(f"labels {classes.tolist()} must be a list of distinct classes")
    return classes


def confusion_matrix(y_true: Any, y_pred: Any, labels: Any) -> NDArray[np.int64]:
    """Counts (K, K) of ``y_true`` (n,) vs ``y_pred`` (n,): row i holds the rows whose true class
    is ``labels[i]``, column j those predicted ``labels[j]``, in the order of ``labels`` (K,).
    A class outside ``labels`` is an error."""
    t, p = _paired_vectors(y_true, y_pred)
    classes = _class_order(t, p, labels)
    index = {c: i for i, c in enumerate(classes.tolist())}
    out = np.zeros((classes.size, classes.size), dtype=np.int64)
    for name, vec in (("y_true", t), ("y_pred", p)):
        unknown = [v for v in dict.fromkeys(vec.tolist()) if v not in index]
        if unknown:
            raise InputError(
                f"{name} holds class {unknown[0]!r}, which is not in labels "
                f"{classes.tolist()}: list every class"
            )
    rows = np.array([index[v] for v in t.tolist()], dtype=np.int64)
    cols = np.array([index[v] for v in p.tolist()], dtype=np.int64)
    np.add.at(out, (rows, cols), 1)
    return out


def per_class_f1(y_true: Any, y_pred: Any, labels: Any = None) -> Float:
    """F1 (K,) of each class of ``labels`` (default: the sorted classes of either vector), one
    vs the rest; 0 for a class with no true and no predicted row."""
    t, p = _paired_vectors(y_true, y_pred)
    classes = _class_order(t, p, labels)
    f1 = np.empty(classes.size)
    for i, c in enumerate(classes.tolist()):
        tp = np.count_nonzero((t == c) & (p == c))
        denom = np.count_nonzero(t == c) + np.count_nonzero(p == c)
        f1[i] = 2.0 * tp / denom if denom else 0.0
    return f1


def macro_f1(y_true: Any, y_pred: Any, labels: Any = None) -> float:
    """Unweighted mean over classes of F1 (a class with no true or predicted rows scores 0).

    ``labels`` fixes the classes averaged over; by default those present in either vector.
    """
    f1 = per_class_f1(y_true, y_pred, labels)
    return float(f1.mean()) if f1.size else float("nan")


def balanced_accuracy(y_true: Any, y_pred: Any, labels: Any = None) -> float:
    """Mean over classes of recall (the fraction of a class's rows predicted as that class).

    Averaged over the classes of ``labels`` (default: all) that have at least one true row, so
    that always answering one class scores 1/K whatever the class frequencies; NaN when n = 0.
    """
    t, p = _paired_vectors(y_true, y_pred)
    classes = _class_order(t, p, labels)
    recalls = [
        np.count_nonzero((t == c) & (p == c)) / np.count_nonzero(t == c)
        for c in classes.tolist()
        if np.count_nonzero(t == c)
    ]
    return float(np.mean(recalls)) if recalls else float("nan")


def multilabel_macro_f1(
    y_true: Any, y_pred: Any, mask: Any = None, average: str = "positive"
) -> float:
    """Macro-F1 of multi-label ``y_true`` (n, L) in {0, 1} vs ``y_pred`` (n, L) in {0, 1}.

    ``average="positive"`` (default, scikit-learn's multilabel ``f1_score(average="macro")``):
    the positive-class F1 of each label, 0 for a label with no true and no predicted positive;
    ``"both-classes"``: the mean of each label's positive- and negative-class F1. Entries with
    ``mask`` False are skipped; a label with no unmasked entry is left out of the mean.
    """
    if average not in F1_AVERAGES:
        raise InputError(f"average {average!r} is unknown: use {' or '.join(F1_AVERAGES)}")
    t, p, m = _matrix_pair(y_true, y_pred, mask)
    values = _weighted.f1_per_label(t, p.astype(np.int64), m, average, np.ones((1, t.shape[0])))
    return _nanmean(values[0])


def class_log_odds(logits: Any) -> Float:
    """Per-class log-odds ``log(p_c / (1 - p_c))`` of softmax ``logits`` (n, K): (n, K).

    Equals ``z_c - logsumexp_{j != c} z_j``, computed without forming p, so it never saturates;
    for each class it orders rows exactly as ``softmax(logits)[:, c]`` does.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise InputError(f"logits have shape {z.shape}: pass (n, K) with K >= 2 classes")
    out = np.empty_like(z)
    for c in range(z.shape[1]):
        others = np.delete(z, c, axis=1)
        top = others.max(axis=1)
        lse = top + np.log(np.exp(others - top[:, None]).sum(axis=1))
        out[:, c] = z[:, c] - lse
    return out


def binary_auroc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve of binary ``y_true`` (n,) vs ``scores`` (n,); NaN if one class."""
    t = _vector(y_true, "y_true").astype(bool)
    s = _vector(scores, "scores").astype(np.float64)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y_true: Any, scores: Any) -> float:
    """Average precision (area under the step precision-recall curve); NaN without positives."""
    t = _vector(y_true, "y_true").astype(bool)
    s = _vector(scores, "scores").astype(np.float64)
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(t_sorted)[last_of_tie]
    fp = last_of_tie + 1 - tp
    precision = tp / (tp + fp)
    recall_gain = np.diff(np.r_[0.0, tp / n_pos])
    return float(np.sum(recall_gain * precision))


def _matrix_pair(y: Any, s: Any, mask: Any) -> tuple[NDArray[np.int64], Float, Bool]:
    t = np.asarray(y)
    sc = np.asarray(s, dtype=np.float64)
    if t.ndim == 1:
        t, sc = t[:, None], sc.reshape(sc.shape[0], -1)
    if t.shape != sc.shape:
        raise InputError(
            f"labels have shape {t.shape} but scores {sc.shape}: pass one score per label"
        )
    m = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != t.shape:
        raise InputError(f"mask has shape {m.shape}, labels {t.shape}: they must match")
    if np.issubdtype(t.dtype, np.floating):
        m = m & ~np.isnan(t)
        t = np.nan_to_num(t, nan=0.0)
    return (t == 1).astype(np.int64), sc, m


def per_label_auroc(y_true: Any, scores: Any, mask: Any = None) -> Float:
    """AUROC of each label (L,) over its unmasked rows; y_true (n, L) in {0, 1}, scores (n, L)."""
    t, s, m = _matrix_pair(y_true, scores, mask)
    return np.array([binary_auroc(t[m[:, j], j], s[m[:, j], j]) for j in range(t.shape[1])])


def per_label_auprc(y_true: Any, scores: Any, mask: Any = None) -> Float:
    """Average precision of each label (L,) over its unmasked rows."""
    t, s, m = _matrix_pair(y_true, scores, mask)
    return np.array([average_precision(t[m[:, j], j], s[m[:, j], j]) for j in range(t.shape[1])])


def _nanmean(x: Float) -> float:
    finite = x[~np.isnan(x)]
    return float(finite.mean()) if finite.size else float("nan")


def macro_auroc(y_true: Any, scores: Any, mask: Any = None) -> float:
    """Mean of the defined per-label AUROCs (labels with one class only are skipped)."""
    return _nanmean(per_label_auroc(y_true, scores, mask))


def macro_auprc(y_true: Any, scores: Any, mask: Any = None) -> float:
    """Mean of the defined per-label average precisions."""
    return _nanmean(per_label_auprc(y_true, scores, mask))


def per_class_auroc(y_true: Any, scores: Any, n_classes: int | None = None) -> Float:
    """One-vs-rest AUROC (K,) of each class index of ``y_true`` (n,) against its column of
    ``scores`` (n, K); NaN for a class with no row or every row."""
    t = _vector(y_true, "y_true").astype(np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise InputError(f"scores have shape {s.shape} for {t.shape[0]} labels: pass (n, K)")
    k = s.shape[1] if n_classes is None else n_classes
    onehot = (t[:, None] == np.arange(k)[None, :]).astype(np.int64)
    return per_label_auroc(onehot, s[:, :k])


def multiclass_auroc(y_true: Any, scores: Any, n_classes: int | None = None) -> float:
    """One-vs-rest macro AUROC of class indices ``y_true`` (n,) against ``scores`` (n, K)."""
    return _nanmean(per_class_auroc(y_true, scores, n_classes))


#: rows x resamples held at once by the bootstraps (8 bytes each: 4 MB), so that a bootstrap
#: over tens of thousands of rows neither holds (n_resamples, n) arrays nor leaves the cache
#: (RSNA's 26,684 rows x 1,000 resamples ran 1.8x faster than with 32 MB blocks); one generator
#: drawn in order gives the same indices in blocks as in one (n_resamples, n) draw, and every
#: weighted metric scores each resample on its own, so the block size changes no value
BOOTSTRAP_BLOCK = 1 << 19


def _index_blocks(n: int, n_resamples: int, seed: int) -> Iterator[NDArray[np.int64]]:
    """The resampled row indices (n_resamples, n) of ``seed``, a block of resamples (rows) at
    a time."""
    rng = np.random.default_rng(seed)
    step = max(1, BOOTSTRAP_BLOCK // max(n, 1))
    for start in range(0, n_resamples, step):
        yield rng.integers(0, n, size=(min(step, n_resamples - start), n), dtype=np.int64)


def _check_ci_args(n_resamples: int, level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"level={level}: a confidence level lies strictly between 0 and 1")
    if n_resamples < 0:
        raise InputError(f"n_resamples={n_resamples}: pass 0 (no CI) or a positive count")


def _percentile_ci(point: float, draws: Float, level: float) -> Estimate:
    """``point`` with the ((1 - level) / 2, (1 + level) / 2) percentiles of the defined draws."""
    d = draws[~np.isnan(draws)]
    q = (100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0)
    low, high = np.percentile(d, q) if d.size else (np.nan, np.nan)
    return Estimate(float(point), float(low), float(high))


def bootstrap_ci(
    statistic: Callable[[NDArray[np.int64]], Mapping[str, float]],
    n: int,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Percentile bootstrap CIs for several statistics of the same n rows, resampled together.

    ``statistic(idx)`` computes named values on rows ``idx`` (``arange(n)`` for the point
    estimate). Each of ``n_resamples`` resamples draws n rows with replacement (seeded); the CI
    is the ((1 - level) / 2, (1 + level) / 2) percentile of the resampled values, ignoring
    resamples where a value is undefined (NaN). ``n_resamples=0`` gives NaN bounds.
    """
    _check_ci_args(n_resamples, level)
    point = dict(statistic(np.arange(n)))
    if n_resamples == 0 or n == 0:
        return {k: Estimate(float(v)) for k, v in point.items()}

    def block(idx: NDArray[np.int64]) -> dict[str, Float]:
        rows = [statistic(i) for i in idx]
        return {k: np.array([float(r[k]) for r in rows]) for k in point}

    draws = _block_draws(block, n, n_resamples, seed)
    return {k: _percentile_ci(v, draws[k], level) for k, v in point.items()}


def _block_draws(
    stat: Callable[[NDArray[np.int64]], Mapping[str, Float]], n: int, n_resamples: int, seed: int
) -> dict[str, Float]:
    """Each statistic's value per resample (n_resamples,), ``stat`` scoring a block of
    resampled indices (b, n) at a time."""
    draws: dict[str, list[Float]] = {}
    for idx in _index_blocks(n, n_resamples, seed):
        for k, v in stat(idx).items():
            draws.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in draws.items()}


def bootstrap_mean_ci(
    values: Mapping[str, Any],
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """:func:`bootstrap_ci` of the means of per-row values {name: (n,)}, every resample at
    once: the same resamples, the same draws, the same bounds (for a statistic that is a mean,
    e.g. a query's reciprocal rank), a block of resamples at a time (``BOOTSTRAP_BLOCK``)."""
    _check_ci_args(n_resamples, level)
    cols = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in values.items()}
    n = next(iter(cols.values())).size if cols else 0
    point = {k: float(np.mean(v)) for k, v in cols.items()}
    if n_resamples == 0 or n == 0:
        return {k: Estimate(v) for k, v in point.items()}
    draws = _block_draws(
        lambda idx: {k: v[idx].mean(axis=1) for k, v in cols.items()}, n, n_resamples, seed
    )
    return {k: _percentile_ci(point[k], draws[k], level) for k in cols}


def classification_report(
    y_true: Any,
    scores: Any,
    *,
    task: str = "multiclass",
    mask: Any = None,
    label_names: list[str] | None = None,
    threshold: float = 0.5,
    logits: bool = False,
    f1_both_classes: bool = False,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Accuracy, macro-F1, macro-AUROC (and AUPRC for multi-label) with CIs.

    multiclass: ``y_true`` (n,) class indices, ``scores`` (n, K); prediction is the argmax and
    macro-F1 averages all K classes; ``balanced_accuracy`` is the mean recall over the classes
    with a true row. With ``label_names`` (K,) also each class's one-vs-rest ``f1[name]`` and
    ``auroc[name]``. multilabel/binary: ``y_true`` (n, L) or (n,) binary (NaN
    entries and ``mask`` False are skipped), ``scores`` (n, L), thresholded at the probability
    ``threshold`` for accuracy (over unmasked entries) and macro-F1 (positive-class F1 per
    label, averaged: scikit-learn's convention; ``f1_both_classes`` adds
    ``macro_f1_both_classes``, the mean of both classes' F1 per label); with several
    ``label_names``, each label's ``f1[name]`` and ``auroc[name]``.

    ``logits=False``: scores are probabilities (a warning says when they saturate to exactly 0
    or 1, which ties their ranks). ``logits=True``: scores are logits (softmax logits for
    multiclass, one sigmoid logit per label), and AUROC/AUPRC rank the multi-class log-odds
    (:func:`class_log_odds`) or the logits themselves, which keep their order where
    probabilities saturate. Rows are resampled jointly for all metrics (``n_resamples``,
    ``seed``).
    """
    if task not in TASK_TYPES:
        raise InputError(f"task {task!r} is unknown: use one of {', '.join(TASK_TYPES)}")
    if logits and not 0.0 < threshold < 1.0:
        raise InputError(f"threshold={threshold}: with logits, pass a probability in (0, 1)")
    s = np.asarray(scores, dtype=np.float64)
    if not logits:
        _warn_if_saturated(s)
    if task == "multiclass":
        t = _vector(y_true, "y_true")
        if s.ndim != 2 or s.shape[0] != t.shape[0]:
            raise InputError(
                f"scores have shape {s.shape} for {t.shape[0]} labels: pass (n, n_classes)"
            )
        if t.size and (t.min() < 0 or t.max() >= s.shape[1]):
            raise InputError(
                f"class indices span {t.min()}..{t.max()} but scores have {s.shape[1]} columns"
            )
        if label_names is not None and len(label_names) != s.shape[1]:
            raise InputError(
                f"label_names has {len(label_names)} names for {s.shape[1]} score columns: "
                "name every class, in column order"
            )
        if logits:
            s = class_log_odds(s)
        names = None if label_names is None else [str(c) for c in label_names]
        stats = partial(_weighted.multiclass, t.astype(np.int64), s, names)
        n = t.shape[0]
    else:
        tt, ss, mm = _matrix_pair(y_true, s, mask)
        names = label_names or [str(j) for j in range(tt.shape[1])]
        cut = float(np.log(threshold / (1.0 - threshold))) if logits else threshold
        stats = partial(_weighted.multilabel, tt, ss, mm, cut, names, f1_both_classes)
        n = tt.shape[0]
    return _weighted_bootstrap(stats, n, n_resamples=n_resamples, level=level, seed=seed)


def _warn_if_saturated(probabilities: Float) -> None:
    """Warn when at least 5% (and two) of the rows of a column are exactly 0, or exactly 1:
    saturated probabilities, whose ranks are tied."""
    if probabilities.ndim == 0 or probabilities.size == 0:
        return
    if probabilities.min() < 0.0 or probabilities.max() > 1.0:
        return  # decision values, not probabilities
    p = probabilities.reshape(probabilities.shape[0], -1)
    least = max(2.0, 0.05 * p.shape[0])
    edge = np.maximum((p == 0.0).sum(axis=0), (p == 1.0).sum(axis=0))
    tied = int(np.count_nonzero(edge >= least))
    if tied:
        warnings.warn(
            f"scores hold probabilities of exactly 0 or 1 in {tied} column(s), so AUROC/AUPRC "
            "see ties there: pass logits (logits=True, e.g. a head's decision_function)",
            RuntimeWarning,
            stacklevel=3,
        )


def _weighted_bootstrap(
    stats: Callable[[Float], dict[str, Float]],
    n: int,
    *,
    n_resamples: int,
    level: float,
    seed: int,
) -> dict[str, Estimate]:
    """:func:`bootstrap_ci` for statistics of row weights: the same resamples (same seed, same
    draws), evaluated a block of resamples at a time (each row of weights is scored on its own,
    so the blocks change no value)."""
    _check_ci_args(n_resamples, level)
    point = stats(np.ones((1, n)))
    if n_resamples == 0 or n == 0:
        return {key: Estimate(float(v[0])) for key, v in point.items()}
    draws = _block_draws(lambda idx: stats(_weighted.resample_counts(idx, n)), n, n_resamples, seed)
    return {key: _percentile_ci(v[0], draws[key], level) for key, v in point.items()}
