"""Model stitching: feed source encoder A's embeddings into a head trained on target encoder B.

Given the same n items embedded by A (n, d_A) and B (n, d_B), labels, and a test split, every
mode is scored on the same test rows:

  end-to-end  a head trained on A's training rows, applied to A (the reference for A);
  target      B's head applied to B's own test rows (the ceiling of the borrowed head);
  naive       A's test rows fed straight into B's head, zero-padded or truncated to d_B;
  aligned     T(A -> B) fitted on k anchor pairs drawn from the training rows, then B's head,
              for every method, scaling, anchor count and seed asked for;
  relative    a head trained on B's relative representation (cosines to the k anchors), applied
              to A's relative representation of the same anchors (Moschella et al. 2023).

Anchors are chosen by :func:`semalign.align.select_anchors` with the test rows excluded, so they
never overlap the test split. With ``groups`` (e.g. :func:`semalign.metrics.text_groups` of the
texts) a group never sits on both sides: the training rows (and so the anchors) leave out every
group with a test row, and :func:`group_split` draws a test split of whole groups.

Heads hand the metrics their logits (``decision_function``), never saturating probabilities.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner, AnchorSet, min_anchors, select_anchors
from semalign.errors import InputError
from semalign.metrics.classification import Estimate, classification_report
from semalign.tasks.heads import Head, LogisticHead
from semalign.tasks.relative import RelativeProjector
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import group_split, split_rows

__all__ = [
    "STITCH_MODES",
    "StitchedModel",
    "draw_anchors",
    "fit_grid",
    "group_split",
    "naive_stitch",
    "split_rows",
    "stitch",
]

STITCH_MODES: tuple[str, ...] = ("end-to-end", "target", "naive", "aligned", "relative")

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
class _Problem:
    y: Any
    mask: Any
    label_names: list[str] | None
    task: str
    extras: dict[str, Any] = field(default_factory=dict)


def _problem(y: Any, mask: Any, label_names: Sequence[str] | None) -> _Problem:
    yy = np.asarray(y)
    if yy.ndim == 1:
        return _Problem(yy, None, None, "multiclass")
    if yy.ndim == 2:
        m = np.ones(yy.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
        names = list(label_names) if label_names else [str(j) for j in range(yy.shape[1])]
        return _Problem(yy.astype(np.float64), m, names, "multilabel")
    raise InputError(f"labels have shape {yy.shape}: pass (n,) classes or (n, L) binary labels")


def evaluate_head(
    head: Head,
    features: Any,
    prob: _Problem,
    rows: Index,
    *,
    n_resamples: int,
    ci_seed: int,
    level: float,
) -> dict[str, Estimate]:
    """Classification report of ``head`` on ``features`` (n_test, d) for the labels of ``rows``,
    ranked by the head's logits."""
    scores = head.decision_function(features)
    if prob.task == "multiclass":
        return classification_report(
            head.class_index(prob.y[rows]), scores, task="multiclass", logits=True,
            n_resamples=n_resamples, seed=ci_seed, level=level,
        )  # fmt: skip
    return classification_report(
        prob.y[rows], scores, task="multilabel", mask=prob.mask[rows], logits=True,
        label_names=prob.label_names, n_resamples=n_resamples, seed=ci_seed, level=level,
    )  # fmt: skip


def _fit(make_head: Callable[[], Head], x: Any, prob: _Problem, rows: Index) -> Head:
    head = make_head()
    fit = head.fit  # type: ignore[attr-defined]
    if prob.task == "multiclass":
        fitted: Head = fit(x, prob.y[rows])
    else:
        fitted = fit(x, prob.y[rows], mask=prob.mask[rows], label_names=prob.label_names)
    return fitted


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
) -> ResultTable:
    """Score every stitching mode on the test rows; returns a :class:`ResultTable`.

    source (n, d_A), target (n, d_B): the same n items embedded by A and B, row by row.
    y: (n,) class keys, or (n, L) binary labels with ``mask`` (n, L) (False = skip, e.g. an
    uncertain label). test/train: row indices or boolean masks (train defaults to the rest).
    ``groups`` (n,): no group on both sides (see :func:`split_rows`). Anchors come from the
    train rows only. ``make_head()`` builds an unfitted head (default
    :class:`LogisticHead`). Metrics: accuracy, macro-F1, macro-AUROC (+ AUPRC and per-label AUROC
    for multi-label), each with a percentile-bootstrap CI over the test rows.
    """
    xa = np.asarray(source, dtype=np.float64)
    xb = np.asarray(target, dtype=np.float64)
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[0] != xb.shape[0]:
        raise InputError(
            f"source has shape {xa.shape}, target {xb.shape}: pass (n, d) embeddings of the same "
            "n items, paired row by row"
        )
    prob = _problem(y, mask, label_names)
    if np.asarray(prob.y).shape[0] != xa.shape[0]:
        raise InputError(
            f"labels have {np.asarray(prob.y).shape[0]} rows, embeddings {xa.shape[0]}: pass one "
            "label row per embedding row"
        )
    unknown = set(modes) - set(STITCH_MODES)
    if unknown:
        raise InputError(f"unknown modes {sorted(unknown)}: use {', '.join(STITCH_MODES)}")
    tr, te = split_rows(xa.shape[0], test, train, groups=groups)
    strat_labels = (
        prob.y if (anchor_strategy == "stratified" and prob.task == "multiclass") else None
    )
    if anchor_strategy == "stratified" and strat_labels is None:
        raise InputError("stratified anchors need multi-class labels: use random or kmeans++")
    table = ResultTable()
    common: dict[str, Any] = {
        "task": "stitch",
        "source": source_name,
        "target": target_name,
        "n": int(te.size),
    }
    ev: dict[str, Any] = {"n_resamples": n_resamples, "ci_seed": ci_seed, "level": level}

    if "end-to-end" in modes:
        head_a = _fit(make_head, xa[tr], prob, tr)
        table.add(evaluate_head(head_a, xa[te], prob, te, **ev), mode="end-to-end", **common)
    head_b = _fit(make_head, xb[tr], prob, tr)
    if "target" in modes:
        table.add(evaluate_head(head_b, xb[te], prob, te, **ev), mode="target", **common)
    if "naive" in modes:
        feats = naive_stitch(xa[te], xb.shape[1])
        table.add(evaluate_head(head_b, feats, prob, te, **ev), mode="naive", **common)
    for k in anchor_counts:
        for seed in seeds:
            anchors = draw_anchors(xa, k, anchor_strategy, seed, tr, strat_labels)
            grid = fit_grid(xa, xb, anchors, methods, scalings, seed) if "aligned" in modes else ()
            for method, scaling, need, aligner in grid:
                key: dict[str, Any] = {
                    "method": method, "scaling": scaling, "anchors": int(k), "seed": int(seed),
                }  # fmt: skip
                if aligner is None:
                    note = f"skipped: needs >= {need} anchors"
                    table.add(_undefined(prob), mode="aligned", setting=note, **key, **common)
                    continue
                table.add(
                    evaluate_head(head_b, aligner.transform(xa[te]), prob, te, **ev),
                    mode="aligned", **key, **common,
                )  # fmt: skip
            if "relative" in modes:
                rel_a = RelativeProjector(relative_center).fit(xa[anchors])
                rel_b = RelativeProjector(relative_center).fit(xb[anchors])
                head_r = _fit(make_head, rel_b.transform(xb[tr]), prob, tr)
                table.add(
                    evaluate_head(head_r, rel_a.transform(xa[te]), prob, te, **ev),
                    mode="relative", method="cosine", anchors=int(k), seed=int(seed), **common,
                )  # fmt: skip
    return table


def _undefined(prob: _Problem) -> dict[str, Estimate]:
    names = ["accuracy", "macro_f1", "macro_auroc"]
    if prob.task == "multilabel":
        names.append("macro_auprc")
    return {m: Estimate(float("nan")) for m in names}


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
