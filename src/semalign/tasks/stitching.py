"""Model stitching: feed source encoder A's embeddings into a head trained on target encoder B.

Given the same n items embedded by A (n, d_A) and B (n, d_B), labels, and a test split, every
mode is scored on the same test rows:

  end-to-end  a head trained on A's training rows, applied to A (the reference for A);
  target      B's head applied to B's own test rows (the ceiling of the borrowed head);
  naive       A's test rows fed straight into B's head, zero-padded or truncated to d_B;
  aligned     T(A -> B) fitted on k anchor pairs drawn from the training rows, then B's head,
              for every method, scaling, anchor count and seed asked for;
  relative    a head trained on B's relative representation (cosines to the k anchors), applied
              to A's relative representation of the same anchors (Moschella et al. 2023);
  majority    no features: always the most frequent class of the training rows
              (:class:`~semalign.tasks.heads.MajorityHead`), the floor every mode must clear.

Every cell also gives its per-row predictions (:func:`prediction_rows`: the true and predicted
class and the head's logits of each test row), from which :func:`confusion_rows` counts a
confusion matrix.

Anchors are chosen by :func:`semalign.align.select_anchors` with the test rows excluded, so they
never overlap the test split. With ``groups`` (e.g. :func:`semalign.metrics.text_groups` of the
texts) a group never sits on both sides: the training rows (and so the anchors) leave out every
group with a test row, and :func:`group_split` draws a test split of whole groups.

Heads hand the metrics their logits (``decision_function``), never saturating probabilities.
Multi-class rows carry accuracy, balanced accuracy, macro-F1, macro-AUROC and each class's
``f1[class]`` / ``auroc[class]``, all with the same bootstrap.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import pickle
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner, AnchorSet, min_anchors, select_anchors
from semalign.errors import InputError, RankDeficientError
from semalign.metrics.classification import (
    Estimate,
    class_log_odds,
    classification_report,
    confusion_matrix,
)
from semalign.tasks.heads import Head, LogisticHead, MajorityHead
from semalign.tasks.relative import RelativeProjector
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import group_split, split_rows

__all__ = [
    "HEADLINE_METRICS",
    "HEADS",
    "STITCH_MODES",
    "Cell",
    "CellSetting",
    "StitchedModel",
    "aligned_cell",
    "baseline_cells",
    "confusion_rows",
    "draw_anchors",
    "fit_grid",
    "group_split",
    "label_problem",
    "majority_cell",
    "naive_stitch",
    "prediction_rows",
    "relative_cell",
    "split_rows",
    "stitch",
]

STITCH_MODES: tuple[str, ...] = (
    "majority", "end-to-end", "target", "naive", "aligned", "relative",
)  # fmt: skip

HEADS: tuple[str, ...] = (LogisticHead.kind,)
HEADLINE_METRICS: tuple[str, ...] = (
    "balanced_accuracy", "accuracy", "macro_f1", "macro_auroc",
)  # fmt: skip
"""Metrics a summary may lead with (a multi-class cell's; the first is the default: balanced
accuracy, which always answering the most frequent class cannot lift above 1/K)."""
"""Heads a stitching task fits by name (a recipe's ``head``): the ``make_head`` default."""

Float = NDArray[np.float64]
Index = NDArray[np.int64]


def naive_stitch(X: Any, width: int) -> Float:
    """Rows X (n, d) zero-padded or truncated to ``width`` columns: absolute stitching."""
    x = np.asarray(X, dtype=np.float64)
    if x.shape[1] >= width:
        return x[:, :width].copy()
    return np.pad(x, ((0, 0), (0, width - x.shape[1])))


@dataclass
class StitchedModel:
    """An aligner (source -> target space) followed by a head trained on the target space."""

    aligner: Aligner
    head: Head

    def predict_proba(self, X: Any) -> Float:
        """Probabilities (n, K or L) for source embeddings X (n, d_source)."""
        return self.head.predict_proba(self.aligner.transform(np.asarray(X, dtype=np.float64)))

    def decision_function(self, X: Any) -> Float:
        """Logits (n, K or L) for source embeddings X (n, d_source): the scores to rank by."""
        mapped = self.aligner.transform(np.asarray(X, dtype=np.float64))
        return self.head.decision_function(mapped)

    def predict(self, X: Any) -> NDArray[Any]:
        return self.head.predict(self.aligner.transform(np.asarray(X, dtype=np.float64)))


@dataclass
class LabelProblem:
    """Labels of a stitching task: (n,) classes (multiclass) or (n, L) 0/1 with a mask."""

    y: Any
    mask: Any
    label_names: list[str] | None
    task: str
    extras: dict[str, Any] = field(default_factory=dict)


def label_problem(
    y: Any, mask: Any = None, label_names: Sequence[str] | None = None
) -> LabelProblem:
    """The task of labels ``y``: (n,) class keys, or (n, L) binary labels with ``mask`` (n, L)."""
    yy = np.asarray(y)
    if yy.ndim == 1:
        return LabelProblem(yy, None, None, "multiclass")
    if yy.ndim == 2:
        m = np.ones(yy.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
        names = list(label_names) if label_names else [str(j) for j in range(yy.shape[1])]
        return LabelProblem(yy.astype(np.float64), m, names, "multilabel")
    raise InputError(f"labels have shape {yy.shape}: pass (n,) classes or (n, L) binary labels")


def evaluate_head(
    head: Head,
    features: Any,
    prob: LabelProblem,
    rows: Index,
    *,
    n_resamples: int,
    ci_seed: int,
    level: float,
) -> dict[str, Estimate]:
    """Classification report of ``head`` on ``features`` (n_test, d) for the labels of ``rows``,
    ranked by the head's logits."""
    scores = head.decision_function(features)
    return score_report(head, scores, prob, rows, n_resamples=n_resamples, ci_seed=ci_seed,
                        level=level)  # fmt: skip


def score_report(
    head: Head,
    scores: Float,
    prob: LabelProblem,
    rows: Index,
    *,
    n_resamples: int,
    ci_seed: int,
    level: float,
) -> dict[str, Estimate]:
    """Classification report of the logits ``scores`` (len(rows), K or L) of ``head`` for the
    labels of ``rows``; per-class rows named by the head's classes (labels)."""
    if prob.task == "multiclass":
        return classification_report(
            head.class_index(prob.y[rows]), scores, task="multiclass", logits=True,
            label_names=head.label_names_, n_resamples=n_resamples, seed=ci_seed, level=level,
        )  # fmt: skip
    return classification_report(
        prob.y[rows], scores, task="multilabel", mask=prob.mask[rows], logits=True,
        label_names=prob.label_names, n_resamples=n_resamples, seed=ci_seed, level=level,
    )  # fmt: skip


PREDICTION_KEY: tuple[str, ...] = (
    "setting", "source", "target", "mode", "method", "scaling", "anchors", "seed",
)  # fmt: skip
"""The key columns of a prediction row (those of a results row that name a setting)."""


def prediction_rows(
    head: Head,
    scores: Float,
    prob: LabelProblem,
    rows: Index,
    ids: Sequence[str] | None = None,
    **key: Any,
) -> list[dict[str, Any]]:
    """One dict per row of ``rows``: the :data:`PREDICTION_KEY` columns from ``key`` (None
    where absent), ``id`` (``ids[row]``, or the row index), then

    multi-class  ``y_true`` and ``y_pred`` (class keys as text; the prediction is the class the
                 metrics count, the argmax of the class log-odds) and ``score[class]`` per class;
    multi-label  per label ``y_true[label]`` (1/0, None where masked), ``y_pred[label]``
                 (1 where the logit >= 0) and ``score[label]``;

    ``score``: the head's logits ``scores`` (len(rows), K or L), from which every metric of the
    row's setting is recomputed."""
    base = {c: key.get(c, "" if c == "setting" else None) for c in PREDICTION_KEY}
    out: list[dict[str, Any]] = []
    names = [str(c) for c in head.label_names_]
    if prob.task == "multiclass":
        pred = np.asarray(class_log_odds(scores).argmax(axis=1))
        truth = np.asarray(prob.y)[rows]
        for i, r in enumerate(rows.tolist()):
            row = {**base, "id": str(ids[r]) if ids is not None else r,
                   "y_true": str(truth[i]), "y_pred": names[int(pred[i])]}  # fmt: skip
            row.update({f"score[{c}]": float(scores[i, j]) for j, c in enumerate(names)})
            out.append(row)
        return out
    truth, mask = np.asarray(prob.y)[rows], np.asarray(prob.mask)[rows]
    for i, r in enumerate(rows.tolist()):
        row = {**base, "id": str(ids[r]) if ids is not None else r}
        for j, c in enumerate(names):
            row[f"y_true[{c}]"] = int(truth[i, j]) if mask[i, j] else None
            row[f"y_pred[{c}]"] = int(scores[i, j] >= 0.0)
            row[f"score[{c}]"] = float(scores[i, j])
        out.append(row)
    return out


def confusion_rows(
    predictions: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> list[dict[str, Any]]:
    """The confusion matrix of multi-class prediction rows (:func:`prediction_rows`) of one
    setting, in long form: one dict per (true, predicted) class pair of ``labels`` (K,), in
    that order, with the setting's key columns and ``count`` (K * K dicts)."""
    if not predictions:
        return []
    first = predictions[0]
    keys = {c: first.get(c) for c in PREDICTION_KEY}
    others = {tuple(p.get(c) for c in PREDICTION_KEY) for p in predictions}
    if len(others) > 1:
        raise InputError(
            f"prediction rows of {len(others)} settings passed: count one setting at a time"
        )
    counts = confusion_matrix(
        [p["y_true"] for p in predictions], [p["y_pred"] for p in predictions], labels=labels
    )
    return [
        {**keys, "true": t, "predicted": q, "count": int(counts[i, j])}
        for i, t in enumerate(labels)
        for j, q in enumerate(labels)
    ]


def fit_head(make_head: Callable[[], Head], x: Any, prob: LabelProblem, rows: Index) -> Head:
    """A head from ``make_head()`` fitted on features ``x`` (len(rows), d) and the labels of
    ``rows``.

    A :class:`~semalign.tasks.heads.LogisticHead` (a deterministic L-BFGS fit) is fitted once
    per distinct (hyper-parameters, features, labels) in a process and copied thereafter: the
    baseline and every aligned unit of a pair fit the same target head.
    """
    head = make_head()
    yr = prob.y[rows]
    mr = None if prob.task == "multiclass" else prob.mask[rows]
    key = _head_key(head, x, yr, mr, prob) if type(head) is LogisticHead else None
    if key is not None and key in _FITTED:
        _FITTED.move_to_end(key)
        return copy.deepcopy(_FITTED[key])
    fit = head.fit  # type: ignore[attr-defined]
    if prob.task == "multiclass":
        fitted: Head = fit(x, yr)
    else:
        fitted = fit(x, yr, mask=mr, label_names=prob.label_names)
    if key is not None:
        _FITTED[key] = copy.deepcopy(fitted)
        while len(_FITTED) > _FITTED_MAX:
            _FITTED.popitem(last=False)
    return fitted


_FITTED: OrderedDict[bytes, Head] = OrderedDict()
"""Logistic heads fitted in this process, by :func:`_head_key` (least recently used first)."""
_FITTED_MAX = 16


def _head_key(head: Head, x: Any, y: Any, mask: Any, prob: LabelProblem) -> bytes | None:
    """Digest of everything a head's fit reads: its class and settings (the unfitted head,
    pickled), the features, labels, mask, label names and task. None if it will not pickle."""
    try:
        settings = pickle.dumps(head)
    except Exception:
        return None
    h = hashlib.blake2b(settings, digest_size=32)
    for part in (x, y, mask):
        if part is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(part)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.data if a.dtype != object else pickle.dumps(a))
    h.update(repr((prob.task, prob.label_names)).encode())
    return h.digest()


@dataclass(frozen=True)
class CellSetting:
    """Row key and bootstrap of the cells of one stitching task (see :func:`aligned_cell`)."""

    source: str = "source"
    target: str = "target"
    n_resamples: int = 1000
    level: float = 0.95
    ci_seed: int = 0
    ids: tuple[str, ...] | None = None  # item id of each row, for the prediction rows

    def key(self, test: Index) -> dict[str, Any]:
        return {"task": "stitch", "source": self.source, "target": self.target,
                "n": int(test.size)}  # fmt: skip

    def ci(self, n_resamples: int | None = None) -> dict[str, Any]:
        n = self.n_resamples if n_resamples is None else n_resamples
        return {"n_resamples": n, "ci_seed": self.ci_seed, "level": self.level}


@dataclass
class Cell:
    """What one cell gives: its rows (an n/a row with the reason when skipped), its per-row
    predictions (:func:`prediction_rows`; none when skipped) and, when a map was fitted, the
    anchor rows and the map."""

    table: ResultTable
    anchors: Index | None = None
    aligner: Aligner | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def score(
        self, head: Head, features: Any, prob: LabelProblem, test: Index, setting: CellSetting,
        key: dict[str, Any], n_resamples: int | None = None,
    ) -> None:  # fmt: skip
        """Add the rows and prediction rows of ``head`` on ``features`` (test rows, d) under
        ``key``."""
        scores = head.decision_function(features)
        self.table.add(score_report(head, scores, prob, test, **setting.ci(n_resamples)), **key)
        self.predictions += prediction_rows(head, scores, prob, test, setting.ids, **key)


def rank_reason(exc: RankDeficientError) -> str:
    """The skip note of a fit refused for rank: measured and needed rank."""
    return f"anchors' rank {exc.rank} < {exc.needed} needed"


def count_reason(
    method: str, scaling: str, d: int, k: int, available: int, pool: str = "train"
) -> str | None:
    """Why ``k`` anchors cannot fit ``method``/``scaling`` on ``d`` source dims with
    ``available`` rows to draw from (None when they can)."""
    need = min_anchors(method, scaling, d)
    if k < need:
        return f"needs >= {need} anchors"
    if k > available:
        return f"only {available} {pool} rows"
    return None


def fit_cell(
    x: Any,
    y: Any,
    anchors: Index,
    method: str,
    scaling: str,
    seed: int,
    *,
    targets: Index | None = None,
    shared: AnchorSet | None = None,
) -> tuple[Aligner | None, str | None]:
    """The map ``x -> y`` fitted on the rows ``x[anchors]``, ``y[targets]`` (default the same
    rows; x, y: (n, d) arrays or anything indexed by rows so, e.g. a ``DrawnRows`` pool), or
    None and the reason when the anchors' rank is too low
    (:class:`~semalign.errors.RankDeficientError`). ``shared``: the :class:`AnchorSet` of these
    pairs, to share work across methods and scalings."""
    try:
        if shared is not None:
            return shared.fit(method, scaling, seed=int(seed)), None
        y_rows = y[anchors if targets is None else targets]
        return Aligner(method, scaling, seed=int(seed)).fit(x[anchors], y_rows), None
    except RankDeficientError as exc:
        return None, rank_reason(exc)


def draw_shared(
    xa: Float, xb: Float, prob: LabelProblem, train: Index, *, anchors: int, seed: int,
    strategy: str = "random",
) -> tuple[Index, AnchorSet] | None:  # fmt: skip
    """The anchors an :func:`aligned_cell` of (``anchors``, ``seed``) draws, with their
    :class:`AnchorSet` so that the cells of several methods and scalings share one draw (None
    when there are more anchors than train rows)."""
    if anchors > train.size:
        return None
    idx = draw_anchors(xa, int(anchors), strategy, int(seed), train, _strat_labels(prob, strategy))
    return idx, AnchorSet(xa[idx], xb[idx])


def undefined(metrics: Sequence[str]) -> dict[str, Estimate]:
    """NaN estimates of ``metrics``: the values of a skipped cell."""
    return {m: Estimate(float("nan")) for m in metrics}


def _metric_names(prob: LabelProblem, train: Index) -> list[str]:
    """The metrics of a scored cell, for the NaN rows of a skipped one."""
    if prob.task == "multiclass":
        classes = [str(c) for c in np.unique(np.asarray(prob.y)[train]).tolist()]
        names = ["accuracy", "balanced_accuracy", "macro_f1", "macro_auroc"]
    else:
        classes = list(prob.label_names or []) if len(prob.label_names or []) > 1 else []
        names = ["accuracy", "macro_f1", "macro_auroc", "macro_auprc"]
    return names + [f"f1[{c}]" for c in classes] + [f"auroc[{c}]" for c in classes]


def _strat_labels(prob: LabelProblem, strategy: str) -> Any:
    if strategy != "stratified":
        return None
    if prob.task != "multiclass":
        raise InputError("stratified anchors need multi-class labels: use random or kmeans++")
    return prob.y


def majority_cell(
    prob: LabelProblem, train: Index, test: Index, *, setting: CellSetting = CellSetting()
) -> Cell:
    """Mode ``majority``: a :class:`~semalign.tasks.heads.MajorityHead` fitted on the ``train``
    labels scored on the ``test`` rows, the floor of the task (accuracy = the test frequency of
    the most frequent training class, balanced accuracy 1/K, every AUROC 0.5)."""
    head = fit_head(MajorityHead, np.zeros((train.size, 1)), prob, train)
    cell = Cell(ResultTable())
    key = {**setting.key(test), "mode": "majority"}
    cell.score(head, np.zeros((test.size, 1)), prob, test, setting, key)
    return cell


def baseline_cells(
    xa: Float,
    xb: Float,
    prob: LabelProblem,
    train: Index,
    test: Index,
    *,
    modes: Sequence[str] = ("end-to-end", "target", "naive"),
    make_head: Callable[[], Head] = LogisticHead,
    setting: CellSetting = CellSetting(),
) -> tuple[Cell, Head]:
    """Modes ``end-to-end``, ``target`` and ``naive`` (those in ``modes``) on the ``test`` rows,
    and the target head (fitted on B's ``train`` rows) that the aligned cells reuse."""
    key = setting.key(test)
    if "end-to-end" in modes:
        head_a = fit_head(make_head, xa[train], prob, train)
    head_b = fit_head(make_head, xb[train], prob, train)
    cell = Cell(ResultTable())
    if "end-to-end" in modes:
        cell.score(head_a, xa[test], prob, test, setting, {**key, "mode": "end-to-end"})
    if "target" in modes:
        cell.score(head_b, xb[test], prob, test, setting, {**key, "mode": "target"})
    if "naive" in modes:
        feats = naive_stitch(xa[test], xb.shape[1])
        cell.score(head_b, feats, prob, test, setting, {**key, "mode": "naive"})
    return cell, head_b


def aligned_cell(
    xa: Float,
    xb: Float,
    prob: LabelProblem,
    train: Index,
    test: Index,
    head: Head,
    *,
    method: str,
    scaling: str,
    anchors: int,
    seed: int,
    strategy: str = "random",
    setting: CellSetting = CellSetting(),
    n_resamples: int | None = None,
    drawn: tuple[Index, AnchorSet] | None = None,
) -> Cell:
    """One aligned-stitching cell: ``anchors`` pairs drawn among the ``train`` rows (seeded),
    T(A -> B) fitted by ``method``/``scaling``, then the target ``head`` on T(A)'s test rows.

    Too few anchors for the method, more than the train rows, or anchors of too low a rank give
    one n/a row with the reason in ``note``. ``n_resamples`` overrides the bootstrap of
    ``setting`` (e.g. 0 for the seeds after the first). ``drawn``: this cell's anchors from
    :func:`draw_shared`, to share one draw and its work across methods and scalings.
    """
    key: dict[str, Any] = {
        **setting.key(test), "mode": "aligned", "method": method, "scaling": scaling,
        "anchors": int(anchors), "seed": int(seed),
    }  # fmt: skip
    table = ResultTable()
    why = count_reason(method, scaling, xa.shape[1], int(anchors), int(train.size))
    idx = aligner = None
    if why is None:
        if drawn is None:
            labels = _strat_labels(prob, strategy)
            idx = draw_anchors(xa, int(anchors), strategy, int(seed), train, labels)
            aligner, why = fit_cell(xa, xb, idx, method, scaling, int(seed))
        else:
            idx = drawn[0]
            aligner, why = fit_cell(xa, xb, idx, method, scaling, int(seed), shared=drawn[1])
    if aligner is None:
        table.add(undefined(_metric_names(prob, train)), note=f"skipped: {why}", **key)
        return Cell(table)
    cell = Cell(table, idx, aligner)
    cell.score(head, aligner.transform(xa[test]), prob, test, setting, key, n_resamples)
    return cell


def relative_cell(
    xa: Float,
    xb: Float,
    prob: LabelProblem,
    train: Index,
    test: Index,
    *,
    anchors: int,
    seed: int,
    strategy: str = "random",
    center: bool = True,
    make_head: Callable[[], Head] = LogisticHead,
    setting: CellSetting = CellSetting(),
    idx: Index | None = None,
) -> Cell:
    """One relative-representation cell (mode ``relative``): a head trained on B's cosines to
    the anchors, applied to A's cosines to the same anchors; an n/a row when ``anchors``
    exceeds the train rows. ``idx``: the anchor rows to use instead of drawing them."""
    key: dict[str, Any] = {
        **setting.key(test), "mode": "relative", "method": "cosine", "anchors": int(anchors),
        "seed": int(seed),
    }  # fmt: skip
    table = ResultTable()
    if anchors > train.size:
        note = f"skipped: only {train.size} train rows"
        table.add(undefined(_metric_names(prob, train)), note=note, **key)
        return Cell(table)
    if idx is None:
        labels = _strat_labels(prob, strategy)
        idx = draw_anchors(xa, int(anchors), strategy, int(seed), train, labels)
    rel_a = RelativeProjector(center).fit(xa[idx])
    rel_b = RelativeProjector(center).fit(xb[idx])
    head = fit_head(make_head, rel_b.transform(xb[train]), prob, train)
    cell = Cell(table, idx)
    cell.score(head, rel_a.transform(xa[test]), prob, test, setting, key)
    return cell


def stitch(
    source: Any,
    target: Any,
    y: Any,
    *,
    test: Any,
    train: Any = None,
    mask: Any = None,
    label_names: Sequence[str] | None = None,
    methods: Sequence[str] = ("orthogonal",),
    scalings: Sequence[str] = ("standard",),
    anchor_counts: Sequence[int] = (100,),
    seeds: Sequence[int] = (0,),
    anchor_strategy: str = "random",
    make_head: Callable[[], Head] = LogisticHead,
    modes: Sequence[str] = STITCH_MODES,
    relative_center: bool = True,
    groups: Any = None,
    source_name: str = "source",
    target_name: str = "target",
    n_resamples: int = 1000,
    level: float = 0.95,
    ci_seed: int = 0,
    ids: Sequence[str] | None = None,
    predictions: list[dict[str, Any]] | None = None,
) -> ResultTable:
    """Score every stitching mode on the test rows; returns a :class:`ResultTable`.

    source (n, d_A), target (n, d_B): the same n items embedded by A and B, row by row.
    y: (n,) class keys, or (n, L) binary labels with ``mask`` (n, L) (False = skip, e.g. an
    uncertain label). test/train: row indices or boolean masks (train defaults to the rest).
    ``groups`` (n,): no group on both sides (see :func:`split_rows`). Anchors come from the
    train rows only. ``make_head()`` builds an unfitted head (default
    :class:`LogisticHead`). Metrics: accuracy, balanced accuracy, macro-F1, macro-AUROC and
    per-class F1 / AUROC (multi-label: AUPRC and per-label F1 / AUROC), each with a
    percentile-bootstrap CI over the test rows. A loop over :func:`majority_cell`,
    :func:`baseline_cells`, :func:`aligned_cell` and :func:`relative_cell`: a cell with too few
    anchors, more anchors than train rows, or anchors of too low a rank is an n/a row with the
    reason in ``note``. ``predictions``: a list that receives every scored setting's
    :func:`prediction_rows` (named by ``ids`` (n,), default the row indices).
    """
    xa = np.asarray(source, dtype=np.float64)
    xb = np.asarray(target, dtype=np.float64)
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[0] != xb.shape[0]:
        raise InputError(
            f"source has shape {xa.shape}, target {xb.shape}: pass (n, d) embeddings of the same "
            "n items, paired row by row"
        )
    prob = label_problem(y, mask, label_names)
    if np.asarray(prob.y).shape[0] != xa.shape[0]:
        raise InputError(
            f"labels have {np.asarray(prob.y).shape[0]} rows, embeddings {xa.shape[0]}: pass one "
            "label row per embedding row"
        )
    unknown = set(modes) - set(STITCH_MODES)
    if unknown:
        raise InputError(f"unknown modes {sorted(unknown)}: use {', '.join(STITCH_MODES)}")
    if ids is not None and len(ids) != xa.shape[0]:
        raise InputError(f"ids has {len(ids)} entries for {xa.shape[0]} rows: pass one id per row")
    tr, te = split_rows(xa.shape[0], test, train, groups=groups)
    _strat_labels(prob, anchor_strategy)
    setting = CellSetting(
        source_name, target_name, n_resamples, level, ci_seed,
        None if ids is None else tuple(str(i) for i in ids),
    )  # fmt: skip
    sink = [] if predictions is None else predictions
    table = ResultTable()
    if "majority" in modes:
        cell = majority_cell(prob, tr, te, setting=setting)
        table.extend(cell.table)
        sink += cell.predictions
    base, head_b = baseline_cells(
        xa, xb, prob, tr, te, modes=modes, make_head=make_head, setting=setting
    )
    table.extend(base.table)
    sink += base.predictions
    for k in anchor_counts:
        for seed in seeds:
            if "aligned" in modes:
                drawn = draw_shared(
                    xa, xb, prob, tr, anchors=k, seed=seed, strategy=anchor_strategy
                )
                for method, scaling in itertools.product(methods, scalings):
                    cell = aligned_cell(
                        xa, xb, prob, tr, te, head_b, method=method, scaling=scaling,
                        anchors=k, seed=seed, strategy=anchor_strategy, setting=setting,
                        drawn=drawn,
                    )  # fmt: skip
                    table.extend(cell.table)
                    sink += cell.predictions
            if "relative" in modes:
                cell = relative_cell(
                    xa, xb, prob, tr, te, anchors=k, seed=seed, strategy=anchor_strategy,
                    center=relative_center, make_head=make_head, setting=setting,
                )  # fmt: skip
                table.extend(cell.table)
                sink += cell.predictions
    return table


def fit_grid(
    x: Float, y: Float, anchors: Index, methods: Sequence[str], scalings: Sequence[str], seed: int
) -> Iterator[tuple[str, str, int, Aligner | None]]:
    """``(method, scaling, need, aligner)`` for every method and scaling: the map from ``x`` to
    ``y`` fitted on the ``anchors`` rows, or None when there are fewer anchors than ``need``
    (:func:`semalign.align.min_anchors`). The fits share their common work
    (:class:`semalign.align.AnchorSet`)."""
    shared: AnchorSet | None = None
    for method, scaling in itertools.product(methods, scalings):
        need = min_anchors(method, scaling, x.shape[1])
        fitted = None
        if anchors.size >= need:
            shared = shared or AnchorSet(x[anchors], y[anchors])
            fitted = shared.fit(method, scaling, seed=seed)
        yield method, scaling, need, fitted


def draw_anchors(
    x: Float,
    k: int,
    strategy: str,
    seed: int,
    train: Index,
    labels: Any = None,
    pool: str = "training",
) -> Index:
    """k anchor rows of ``x`` (n, d) drawn among the ``train`` rows only (``pool`` names them in
    the error when there are too few)."""
    n = x.shape[0]
    if k > train.size:
        raise InputError(f"{k} anchors asked for but only {train.size} {pool} rows exist")
    outside = np.ones(n, dtype=bool)
    outside[train] = False
    source = x if strategy in {"farthest", "kmeans++"} else n
    idx = select_anchors(
        source, int(k), strategy=strategy, labels=labels, seed=seed, exclude=outside
    )
    return np.asarray(idx, dtype=np.int64)
