"""Seed summaries, paired differences and permutation controls as result rows.

The rows (written to ``results/comparisons.csv`` by the runner) use the columns of every result
row; ``variant`` says which kind a row is (:mod:`semalign.tasks.results` lists the scheme):

  ``seed-mean``         a setting's mean over seeds (and split seeds) with the hierarchical
                        interval of :func:`semalign.metrics.intervals.seed_interval`; column
                        ``seed`` empty; metrics ``m`` and ``m:seed-sd`` / ``-min`` / ``-max``;
  ``paired: A - B``     the key of A, the mean of A minus the mean of B on the same rows with the
                        paired interval; ``accuracy:mcnemar-p`` on the first seed (multi-class;
                        discordant counts in ``note``);
  ``permutations=P``    the shuffled-anchors control of the setting (mode ``shuffled-anchors``,
                        the seed whose anchors were permuted): metric ``m`` is the null mean and
                        its central 95% range, ``m:observed`` the setting's value, ``m:p`` the
                        permutation p-value.

Stitching's cell (:func:`stitch_comparisons`) reuses each seed's fitted map and the target head
(no refit) for the summaries and differences; only the control refits, P times, at one anchor
count and seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner
from semalign.metrics.classification import Estimate
from semalign.metrics.intervals import (
    Scored,
    WeightStat,
    classification_stat,
    mcnemar,
    paired_difference,
    permutation_test,
    seed_interval,
)
from semalign.tasks.heads import Head
from semalign.tasks.results import ResultTable
from semalign.tasks.stitching import CellSetting, LabelProblem, fit_cell, naive_stitch
from semalign.tasks.zeroshot import class_indices

__all__ = [
    "COMPARISONS",
    "SEED_MEAN",
    "SHUFFLED",
    "difference_rows",
    "paired_label",
    "permutation_label",
    "permutation_rows",
    "seed_rows",
    "stitch_comparisons",
    "zeroshot_comparisons",
]

Float = NDArray[np.float64]
Index = NDArray[np.int64]
COMPARISONS = "comparisons"  # the extra table (and results file) of these rows
SEED_MEAN = "seed-mean"
SHUFFLED = "shuffled-anchors"


def paired_label(a: str, b: str) -> str:
    """The ``variant`` of a paired-difference row: ``paired: A - B``."""
    return f"paired: {a} - {b}"


def permutation_label(permutations: int) -> str:
    """The ``variant`` of a permutation-control row: ``permutations=P``."""
    return f"permutations={int(permutations)}"


def _wanted(metric: str, metrics: Sequence[str] | None) -> bool:
    """Whether ``metric`` is reported: one of ``metrics``, or by default any but per-class
    ones (``auroc[name]``)."""
    return metric in metrics if metrics is not None else "[" not in metric


def seed_rows(
    table: ResultTable,
    scored: Scored,
    *,
    n_resamples: int,
    metrics: Sequence[str] | None = None,
    **key: Any,
) -> None:
    """Add the ``seed-mean`` rows of ``scored`` (every metric, or those in ``metrics``)."""
    est = seed_interval(scored, n_resamples=n_resamples)
    report: dict[str, Estimate] = {}
    for m, e in est.items():
        if not _wanted(m, metrics):
            continue
        report[m] = e.estimate()
        report[f"{m}:seed-sd"] = Estimate(e.sd)
        report[f"{m}:seed-min"] = Estimate(e.min)
        report[f"{m}:seed-max"] = Estimate(e.max)
    table.add(report, n=sum(scored.rows), variant=SEED_MEAN, **{**key, "seed": None})


def difference_rows(
    table: ResultTable,
    a: Scored,
    b: Scored,
    names: tuple[str, str],
    *,
    n_resamples: int,
    metrics: Sequence[str] | None = None,
    correct: tuple[Any, Any] | None = None,
    **key: Any,
) -> None:
    """Add the ``paired: A - B`` rows (``names`` = (A, B)); ``correct``: the first seeds' (n,)
    0/1 outcomes of A and B, for McNemar's test on accuracy."""
    diff = paired_difference(a, b, n_resamples=n_resamples)
    report = {m: e for m, e in diff.items() if _wanted(m, metrics)}
    note = ""
    if correct is not None:
        test = mcnemar(*correct)
        report["accuracy:mcnemar-p"] = Estimate(test.p_value)
        note = f"McNemar on the first seed: b={test.b} (A only right), c={test.c} (B only right)"
    variant = paired_label(*names)
    table.add(report, n=sum(a.rows), variant=variant, note=note, **{**key, "seed": None})


def permutation_rows(
    table: ResultTable,
    observed: Mapping[str, float],
    statistic: Callable[[Index], Mapping[str, float]],
    k: int,
    *,
    permutations: int,
    n: int,
    rng_seed: int = 0,
    metrics: Sequence[str] | None = None,
    **key: Any,
) -> None:
    """Add the ``permutations=P`` rows of a shuffled-anchors control: ``statistic(perm)`` scores
    the setting with its ``k`` anchor pairs re-paired by ``perm`` (k,); each metric's null
    draws the same ``permutations`` permutations, seeded by ``rng_seed`` (one fit each)."""
    memo: dict[bytes, Mapping[str, float]] = {}

    def scored(perm: Index) -> Mapping[str, float]:
        if perm.tobytes() not in memo:
            memo[perm.tobytes()] = statistic(perm)
        return memo[perm.tobytes()]

    report: dict[str, Estimate] = {}
    for m, value in observed.items():
        if not _wanted(m, metrics):
            continue
        res = permutation_test(
            partial(_metric_of, scored, m), k, value, permutations=permutations, seed=rng_seed
        )
        report[m] = res.estimate()
        report[f"{m}:observed"] = Estimate(res.observed)
        report[f"{m}:p"] = Estimate(res.p_value)
    key = {**key, "mode": SHUFFLED}
    table.add(report, n=n, variant=permutation_label(permutations), **key)


def _metric_of(
    statistic: Callable[[Index], Mapping[str, float]], metric: str, perm: Index
) -> float:
    return float(statistic(perm)[metric])


def _stat(prob: LabelProblem, head: Head, logits: Float, test: Index) -> WeightStat:
    if prob.task == "multiclass":
        return classification_stat(head.class_index(prob.y[test]), logits)
    return classification_stat(
        prob.y[test], logits, task="multilabel", mask=prob.mask[test],
        label_names=prob.label_names,
    )  # fmt: skip


def _point(stat: WeightStat, n: int) -> dict[str, float]:
    return {m: float(v[0]) for m, v in stat(np.ones((1, n))).items()}


def stitch_comparisons(
    xa: Float,
    xb: Float,
    prob: LabelProblem,
    test: Index,
    head: Head,
    fitted: Mapping[int, Sequence[tuple[int, Index, Aligner]]],
    *,
    method: str,
    scaling: str,
    setting: CellSetting,
    headline: int | None = None,
    permutations: int = 0,
    metrics: Sequence[str] | None = None,
) -> ResultTable:
    """Comparison rows of one stitching (method, scaling): ``fitted[k]`` holds each seed's
    (seed, anchor rows, map) at k anchors (every seed a map could be fitted for).

    At every k: the ``seed-mean`` row. At the ``headline`` k: ``paired: aligned - target`` and
    ``paired: aligned - naive`` (the same target head on T(A), on B and on A zero-padded), and,
    with ``permutations`` > 0, the shuffled-anchors control on the first seed's anchors (the map
    refitted with the pairing permuted, scored by the same head)."""
    table = ResultTable()
    n = int(test.size)
    key: dict[str, Any] = {
        **setting.key(test), "mode": "aligned", "method": method, "scaling": scaling,
    }  # fmt: skip
    del key["n"]
    bs = setting.n_resamples
    mapped_logits = {
        k: [head.decision_function(a.transform(xa[test])) for _, _, a in cells]
        for k, cells in fitted.items()
    }
    for k, cells in sorted(fitted.items()):
        if not cells:
            continue
        stats = [_stat(prob, head, lg, test) for lg in mapped_logits[k]]
        seed_rows(table, Scored.seeds(stats, n), n_resamples=bs, metrics=metrics, anchors=k,
                  **key)  # fmt: skip
    if headline is None or not fitted.get(headline):
        return table
    cells = fitted[headline]
    aligned = Scored.seeds([_stat(prob, head, lg, test) for lg in mapped_logits[headline]], n)
    others = {
        "target": head.decision_function(xb[test]),
        "naive": head.decision_function(naive_stitch(xa[test], xb.shape[1])),
    }
    truth = head.class_index(prob.y[test]) if prob.task == "multiclass" else None
    for name, logits in others.items():
        correct = None
        if truth is not None:
            first = mapped_logits[headline][0].argmax(axis=1) == truth
            correct = (first, logits.argmax(axis=1) == truth)
        difference_rows(
            table, aligned, Scored.seeds([_stat(prob, head, logits, test)], n),
            ("aligned", name), n_resamples=bs, metrics=metrics, correct=correct,
            anchors=headline, **key,
        )  # fmt: skip
    if permutations > 0:
        seed, idx, _ = cells[0]

        def shuffled(perm: Index) -> dict[str, float]:
            aligner, _ = fit_cell(xa, xb, idx, method, scaling, seed, targets=idx[perm])
            if aligner is None:
                return {m: float("nan") for m in observed}
            logits = head.decision_function(aligner.transform(xa[test]))
            return _point(_stat(prob, head, logits, test), n)

        observed = _point(aligned.stats[0][0], n)
        permutation_rows(
            table, observed, shuffled, idx.size, permutations=permutations, n=n, rng_seed=seed,
            metrics=metrics, anchors=headline, **{**key, "seed": seed},
        )  # fmt: skip
    return table


def _zs_stat(dv: Float, y: Any, mask: Any, classes: Sequence[str], rule: str) -> WeightStat:
    """The metrics of :func:`semalign.tasks.zeroshot.zeroshot_report` on decision values
    ``dv`` (n, C) as a weight statistic."""
    if rule == "argmax":
        return classification_stat(class_indices(y, classes), dv)
    return classification_stat(y, dv, task="multilabel", mask=mask, label_names=list(classes))


def zeroshot_comparisons(
    decisions: Mapping[tuple[str, str, int], Sequence[tuple[int, Float]]],
    y: Any,
    mask: Any,
    classes: Sequence[str],
    rule: str,
    *,
    key: Mapping[str, Any],
    n_resamples: int,
    headline: int | None = None,
    control: Callable[[Index], Float] | None = None,
    control_seed: int = 0,
    permutations: int = 0,
) -> ResultTable:
    """Comparison rows of one zero-shot (method, scaling): ``decisions[mode, scoring, k]`` holds
    each seed's (seed, decision values (n, C)) over every fold.

    Every (mode, scoring, k): the ``seed-mean`` row. At the ``headline`` k: ``unimodal``
    (cosine) minus each other mode and scoring, paired on images and seeds (exact McNemar on
    the first seed for ``argmax``); with ``control`` and ``permutations`` > 0, the
    shuffled-anchors control: ``control(perm)`` gives the decision values of the first seed's
    folds with each fold's k anchor pairs re-paired by ``perm`` (k,)."""
    table = ResultTable()
    n = int(np.asarray(y).shape[0])

    def scored(mode: str, sc: str, k: int) -> Scored:
        stats = [_zs_stat(dv, y, mask, classes, rule) for _, dv in decisions[mode, sc, k]]
        return Scored.seeds(stats, n)

    for (mode, sc, k), runs in decisions.items():
        if runs:
            seed_rows(table, scored(mode, sc, k), n_resamples=n_resamples, mode=mode,
                      scoring=sc, anchors=k, **key)  # fmt: skip
    if headline is None or not decisions.get(("unimodal", "cosine", headline)):
        return table
    ref = ("unimodal", "cosine", headline)
    a = scored(*ref)
    truth = class_indices(y, classes) if rule == "argmax" else None
    first = decisions[ref][0][1]
    for (mode, sc, k), runs in decisions.items():
        if k != headline or (mode, sc) == ref[:2] or not runs:
            continue
        correct = None
        if truth is not None:
            correct = (first.argmax(axis=1) == truth, runs[0][1].argmax(axis=1) == truth)
        difference_rows(
            table, a, scored(mode, sc, k), (f"unimodal ({ref[1]})", f"{mode} ({sc})"),
            n_resamples=n_resamples, correct=correct, mode="unimodal", scoring=ref[1],
            anchors=headline, **key,
        )  # fmt: skip
    if control is not None and permutations > 0:

        def shuffled(perm: Index) -> dict[str, float]:
            return _point(_zs_stat(control(perm), y, mask, classes, rule), n)

        observed = _point(a.stats[0][0], n)
        permutation_rows(
            table, observed, shuffled, headline, permutations=permutations, n=n,
            rng_seed=control_seed, scoring=ref[1], anchors=headline, seed=control_seed, **key,
        )  # fmt: skip
    return table
