"""Seed summaries, paired differences and permutation controls as result rows.

The rows (written to ``results/comparisons.csv`` by the runner) use the columns of every result
row; ``variant`` says which kind a row is (:mod:`semalign.tasks.results` lists the scheme):

  ``seed-mean``         a setting's mean over seeds (and split seeds) with the hierarchical
                        interval of :func:`semalign.metrics.intervals.seed_interval`; column
                        ``seed`` empty; metrics ``m`` and ``m:seed-sd`` / ``-min`` / ``-max``;
  ``paired: A - B``     the key of A, the mean of A minus the mean of B on the same rows with the
                        paired interval (seeds paired where A and B share the anchor draw of
                        each seed; ``note`` names the seeds where they are not all of A's);
                        ``accuracy:mcnemar-p`` on the first seed (multi-class; discordant
                        counts in ``note``);
  ``permutations=P``    the shuffled-anchors control of the setting (mode ``shuffled-anchors``,
                        the seed whose anchors were permuted): metric ``m`` is the null mean and
                        its central 95% range, ``m:observed`` the setting's value, ``m:p`` the
                        permutation p-value.

The ``paired`` rows, all at the headline anchor count (A and B name mode, method and scoring):

  stitching       per (method, scaling) unit: ``aligned - target``, ``aligned - naive``
                  (:func:`stitch_comparisons`); the headline map only:
                  ``aligned M - aligned M2`` for every other map scored there (``M2/scaling``
                  where its scaling is not the headline's; seeds paired) and
                  ``aligned M - relative`` (relative runs the first seed only), from
                  the prediction rows (:func:`stitch_method_differences`, called by the runner);
  zero-shot       ``unimodal (cosine) - S (sc)`` for every other mode and scoring of the unit
                  (:func:`zeroshot_comparisons`: ``unimodal (csls@k)``, ``shuffled-anchors
                  (..)``, ``anchor-centroid (cosine)``; seeds paired); ``unimodal - asif``
                  (seeds paired), ``unimodal - nearest-centroid`` and ``unimodal -
                  linear-probe`` (T's every seed against the comparator's one run), from the
                  per-item scores (:func:`score_differences`, called by the runner);
  retrieval       per direction, the headline map: ``aligned (cosine) - aligned (csls@k)``,
                  ``- asif (cosine)``, ``- naive (cosine)``, ``aligned M (cosine) - aligned M2
                  (cosine)`` for every other map (:func:`retrieval_comparisons`), and
                  ``aligned (cosine) - refined (cosine)`` / ``- refined (csls@k)`` with
                  unpaired pools (:func:`refined_comparisons`); seeds paired; no McNemar (a
                  query's outcome is a rank, not right or wrong).

Stitching (:func:`stitch_comparisons`) reuses each seed's fitted map and the target head and
zero-shot (:func:`zeroshot_comparisons`, called by
:func:`semalign.tasks.zeroshot_folds.zeroshot_method`) each seed's decision values: no refit
but the control's, P times, at one anchor count and seed. Map against map in stitching reads
each setting's logits from the prediction rows (extra ``stitch_predictions``, one per test
row, seed and split). T against ASIF and the zero-shot comparators pairs the per-item scores
kept at the headline for every seed (``results/zeroshot_scores.csv``, column ``seed``).
Retrieval (:func:`retrieval_comparisons`) refits T, ASIF and the other maps on the anchors
``retrieve`` draws (same strategy, seeds and train rows), since ``retrieve`` keeps no per-query
outcome; the refined maps are not refitted: the refined unit hands its fitted maps to
:func:`refined_comparisons` (:func:`semalign.tasks.retrieval_refined.refined_cell`,
``fitted=``), which refits T only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner
from semalign.errors import InputError
from semalign.metrics.classification import Estimate
from semalign.metrics.intervals import (
    Scored,
    WeightStat,
    classification_stat,
    mcnemar,
    mean_stat,
    paired_difference,
    permutation_test,
    seed_interval,
)
from semalign.metrics.space import retrieval_outcome
from semalign.tasks.asif import ASIF, AsifSweep
from semalign.tasks.heads import Head
from semalign.tasks.results import ResultTable
from semalign.tasks.retrieval import DIRECTIONS, scoring_label
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import (
    CellSetting,
    LabelProblem,
    count_reason,
    draw_anchors,
    fit_cell,
    naive_stitch,
)
from semalign.tasks.zeroshot import class_indices

__all__ = [
    "COMPARISONS",
    "SCORED_MODES",
    "SEED_MEAN",
    "SHUFFLED",
    "difference_rows",
    "paired_label",
    "permutation_label",
    "permutation_rows",
    "prediction_stat",
    "refined_comparisons",
    "retrieval_comparisons",
    "score_classes",
    "score_differences",
    "seed_rows",
    "stitch_comparisons",
    "stitch_method_differences",
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
    note: str = "",
    **key: Any,
) -> None:
    """Add the ``paired: A - B`` rows (``names`` = (A, B)); ``correct``: the first seeds' (n,)
    0/1 outcomes of A and B, for McNemar's test on accuracy; ``note``: what was paired (the
    McNemar counts follow it)."""
    diff = paired_difference(a, b, n_resamples=n_resamples)
    report = {m: e for m, e in diff.items() if _wanted(m, metrics)}
    notes = [note] if note else []
    if correct is not None:
        test = mcnemar(*correct)
        report["accuracy:mcnemar-p"] = Estimate(test.p_value)
        notes.append(
            f"McNemar on the first seed: b={test.b} (A only right), c={test.c} (B only right)"
        )
    variant = paired_label(*names)
    table.add(report, n=sum(a.rows), variant=variant, note="; ".join(notes),
              **{**key, "seed": None})  # fmt: skip


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


def _seed_of(value: Any) -> int | None:
    """A row's seed: None for a setting without one (empty in a CSV)."""
    return None if value is None or value == "" else int(value)


def _seed_list(seeds: Sequence[Any]) -> str:
    """``seed 0`` / ``seeds 0, 1, 2``."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def _seeds_note(seeds: Sequence[Any], why: str = "") -> str:
    """What a difference paired: ``seed 0`` / ``seeds 0, 1, 2 paired`` (+ why)."""
    text = _seed_list(seeds) + (" paired" if len(seeds) > 1 else "")
    return f"{text} ({why})" if why else text


def _predicted(
    rows: Sequence[Mapping[str, Any]], ids: Sequence[Any], classes: Sequence[str]
) -> tuple[Any, Float] | None:
    """Truth and logits (n, K or L) of one seed's prediction rows
    (:func:`semalign.tasks.stitching.prediction_rows`) in the order of ``ids`` and ``classes``:
    class indices (n,) for multi-class rows, 0/1 with NaN where masked (n, L) for multi-label;
    None when the rows do not cover ``ids`` or a class (or a true class is not one)."""
    at = {r["id"]: r for r in rows}
    if set(at) != set(ids) or any(f"score[{c}]" not in at[i] for i in ids for c in classes):
        return None
    logits = np.array([[float(at[i][f"score[{c}]"]) for c in classes] for i in ids])
    if "y_true" in at[ids[0]]:
        names = [str(at[i]["y_true"]) for i in ids]
        if any(c not in classes for c in names):
            return None
        return np.array([list(classes).index(c) for c in names], dtype=np.int64), logits
    truth = np.array([
        [np.nan if at[i].get(f"y_true[{c}]") in (None, "") else float(at[i][f"y_true[{c}]"])
         for c in classes] for i in ids
    ])  # fmt: skip
    return truth, logits


def _seed_runs(
    by_seed: Mapping[int, Sequence[Mapping[str, Any]]],
    seeds: Sequence[int],
    ids: Sequence[Any],
    classes: Sequence[str],
) -> list[tuple[Any, Float]] | None:
    """:func:`_predicted` of each of ``seeds``; None when one of them does not fit."""
    out = []
    for s in seeds:
        got = _predicted(by_seed[s], ids, classes)
        if got is None:
            return None
        out.append(got)
    return out


def _predicted_stat(truth: Any, logits: Float, classes: Sequence[str]) -> WeightStat:
    """The weight statistic of :func:`_stat` from prediction rows (:func:`_predicted`)."""
    if truth.ndim == 1:
        return classification_stat(truth, logits)
    return classification_stat(
        truth, logits, task="multilabel", mask=~np.isnan(truth), label_names=list(classes)
    )


def score_classes(row: Mapping[str, Any]) -> list[str]:
    """The classes (or labels) of a prediction row: its ``score[c]`` columns, in order."""
    return [c[len("score[") : -1] for c in row if c.startswith("score[")]


def prediction_stat(rows: Sequence[Mapping[str, Any]]) -> WeightStat:
    """The weight statistic of one setting's prediction rows (one per test row, in their
    order; :func:`semalign.tasks.stitching.prediction_rows`)."""
    classes = score_classes(rows[0])
    got = _predicted(rows, [r["id"] for r in rows], classes)
    if got is None:
        raise InputError("a prediction row's true class has no score column")
    return _predicted_stat(*got, classes)


def stitch_method_differences(
    predictions: Sequence[Mapping[str, Any]],
    *,
    headline: Mapping[str, Any],
    n_resamples: int,
    setting: str = "",
    metrics: Sequence[str] | None = None,
) -> ResultTable:
    """Method against method at the headline, from one stitching task's prediction rows
    (:func:`semalign.tasks.stitching.prediction_rows`, extra ``stitch_predictions``: each
    scored setting's logits on the test rows). Per encoder pair, the ``headline`` map
    (``method``, ``scaling``, ``anchors``; mode ``aligned``) minus every other map scored at the
    same anchor count (``paired: aligned M - aligned M2``, ``M2/scaling`` where its scaling is
    not the headline's) and minus mode ``relative`` at that count (``paired: aligned M -
    relative``), on the rows of A's key. Only the seeds both have are used (a seed is one
    anchor draw for every map, so seeds are paired): every seed between maps, the first seed
    against ``relative`` (it runs that one only; ``note`` says which seeds); exact McNemar on
    the first of them for a multi-class task. Rows with a ``split`` column (a task with
    several test splits) are one split each of the :class:`Scored` settings. A setting without
    rows at that count (n/a for its anchors' rank, or relative beyond its largest count) gives
    no row."""
    table = ResultTable()
    k = int(headline["anchors"])
    # (source, target, mode, method, scaling) -> split -> seed -> rows
    runs: dict[tuple[Any, ...], dict[Any, dict[int, list[Mapping[str, Any]]]]] = {}
    for r in predictions:
        if r.get("mode") in ("aligned", "relative") and _seed_of(r.get("anchors")) == k:
            at = (r["source"], r["target"], r["mode"], r["method"], r["scaling"])
            by_split = runs.setdefault(at, {}).setdefault(r.get("split"), {})
            by_split.setdefault(int(r["seed"]), []).append(r)
    for (src, tgt, mode, method, scaling), ref in runs.items():
        if (mode, method, scaling) != ("aligned", headline["method"], headline["scaling"]):
            continue
        for (s2, t2, mode2, method2, scaling2), other in runs.items():
            if (s2, t2) != (src, tgt) or (mode2, method2, scaling2) == (mode, method, scaling):
                continue
            a_stats: list[tuple[WeightStat, ...]] = []
            b_stats: list[tuple[WeightStat, ...]] = []
            rows: list[int] = []
            correct = None
            seeds: list[int] = []
            for split, by_seed in ref.items():
                first = next(iter(by_seed.values()))
                ids = [r["id"] for r in first]
                classes = score_classes(first[0])
                seeds = [s for s in by_seed if s in other.get(split, {})]
                a = _seed_runs(by_seed, seeds, ids, classes)
                b = _seed_runs(other.get(split, {}), seeds, ids, classes)
                if not seeds or a is None or b is None:
                    break
                a_stats.append(tuple(_predicted_stat(*v, classes) for v in a))
                b_stats.append(tuple(_predicted_stat(*v, classes) for v in b))
                rows.append(len(ids))
                truth = a[0][0]
                if correct is None and truth.ndim == 1:
                    correct = (a[0][1].argmax(axis=1) == truth, b[0][1].argmax(axis=1) == truth)
            else:
                if not rows:
                    continue
                if mode2 == "relative":
                    label, why = "relative", "relative runs the first seed only"
                else:
                    label, why = f"aligned {method2}", ""
                    if scaling2 != scaling:
                        label += f"/{scaling2}"
                fewer = len(seeds) < len(next(iter(ref.values())))
                note = _seeds_note(seeds, why if fewer else "")
                if len(rows) > 1:
                    note += f" in each of {len(rows)} test splits"
                difference_rows(
                    table, Scored(tuple(a_stats), tuple(rows)),
                    Scored(tuple(b_stats), tuple(rows)), (f"aligned {method}", label),
                    n_resamples=n_resamples, metrics=metrics, correct=correct, note=note,
                    task="stitch", source=src, target=tgt, mode="aligned", method=method,
                    scaling=scaling, anchors=k, setting=setting,
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


def _query_values(
    mapped: Float,
    gallery: Float,
    extra: tuple[Float | None, Float | None],
    *,
    ks: Sequence[int],
    scoring: str,
    csls_k: int,
) -> dict[str, dict[str, Float]]:
    """Per direction, each query's recall@k and reciprocal rank (n,) (the values
    :func:`semalign.tasks.retrieval.retrieval_report` averages); ``extra``: the distractor keys
    of report->image (mapped) and image->report (gallery)."""
    out = {}
    for d in DIRECTIONS:
        q, g = (mapped, gallery) if d == "image->report" else (gallery, mapped)
        o = retrieval_outcome(
            q, g, scoring=scoring, csls_k=csls_k, distractors=extra[d == "image->report"]
        )
        values = {f"recall@{int(k)}": o.recall_at(int(k)) for k in ks}
        values["mrr"] = o.reciprocal_rank()
        out[d] = values
    return out


def retrieval_comparisons(
    xs: Any,
    xt: Any,
    test: Any,
    *,
    method: str,
    scaling: str,
    anchors: Sequence[int],
    seeds: Sequence[int],
    strategy: str = "random",
    ks: Sequence[int] = (1, 5, 10),
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
    asif: ASIF | AsifSweep | None = None,
    distractors: tuple[Any, Any] | None = None,
    headline: int | None = None,
    permutations: int = 0,
    n_resamples: int = 1000,
    names: tuple[str, str] = ("image", "text"),
    others: Sequence[tuple[str, str]] = (),
) -> ResultTable:
    """Comparison rows of retrieval through T (``method``, ``scaling``) on the anchors
    :func:`semalign.tasks.retrieval.retrieve` draws (same strategy, seeds, train rows).

    Every anchor count, direction and scoring: the ``seed-mean`` row of T (and of ``asif`` on
    the same anchors). At the ``headline`` count, per direction: T (cosine) minus T under each
    other scoring, minus ASIF and minus the unaligned control (``naive``), paired on queries
    (and seeds); minus each map of ``others`` ((method, scaling), fitted on the same anchors
    of each seed, cosine: ``paired: aligned M (cosine) - aligned M2 (cosine)``, ``M2/scaling``
    where its scaling differs), on the seeds both could be fitted for, paired; with
    ``permutations`` > 0, the shuffled-anchors control of T (cosine) on the first seed's
    anchors. Rows are the queries (the gallery is fixed)."""
    x = np.asarray(xs, dtype=np.float64)
    t = np.asarray(xt, dtype=np.float64)
    tr, te = split_rows(x.shape[0], test)
    n = int(te.size)
    xd = None if distractors is None else np.asarray(distractors[0], dtype=np.float64)
    td = None if distractors is None else np.asarray(distractors[1], dtype=np.float64)
    base: dict[str, Any] = {"task": "retrieve", "source": names[0], "target": names[1]}
    opts: dict[str, Any] = {"ks": ks, "csls_k": csls_k}

    def through(aligner: Any) -> tuple[Float, tuple[Float | None, Float | None]]:
        return aligner.transform(x[te]), (None if xd is None else aligner.transform(xd), td)

    # (mode, scoring label, k) -> per seed: direction -> metric -> (n,)
    runs: dict[tuple[str, str, int], list[dict[str, dict[str, Float]]]] = {}
    first: dict[int, tuple[int, Index]] = {}
    # at the headline count, per seed: T (cosine) and each map of ``others`` (cosine)
    ref_seeds: dict[int, dict[str, dict[str, Float]]] = {}
    maps: dict[str, dict[int, dict[str, dict[str, Float]]]] = {}
    for k in anchors:
        for seed in seeds:
            if count_reason(method, scaling, x.shape[1], int(k), int(tr.size)) is not None:
                continue
            idx = draw_anchors(x, int(k), strategy, int(seed), tr)
            aligner, _ = fit_cell(x, t, idx, method, scaling, int(seed))
            if aligner is None:
                continue
            first.setdefault(int(k), (int(seed), idx))
            mapped, extra = through(aligner)
            for sc in scorings:
                values = _query_values(mapped, t[te], extra, scoring=sc, **opts)
                runs.setdefault(("aligned", scoring_label(sc, csls_k), int(k)), []).append(values)
            if int(k) == headline and ("aligned", "cosine", int(k)) in runs:
                ref_seeds[int(seed)] = runs["aligned", "cosine", int(k)][-1]
                for m2, s2 in others:
                    if count_reason(m2, s2, x.shape[1], int(k), int(tr.size)) is not None:
                        continue
                    other, _ = fit_cell(x, t, idx, m2, s2, int(seed))
                    if other is not None:
                        label = f"aligned {m2}" + (f"/{s2}" if s2 != scaling else "")
                        mapped2, extra2 = through(other)
                        values = _query_values(mapped2, t[te], extra2, scoring="cosine", **opts)
                        maps.setdefault(f"{label} (cosine)", {})[int(seed)] = values
            if asif is not None:
                model = (
                    asif.select(x[idx], t[idx], int(seed))[0]
                    if isinstance(asif, AsifSweep)
                    else asif
                )  # the setting retrieve() chose on this draw
                fitted = model.fit(x[idx], t[idx])
                codes = (
                    None if xd is None else fitted.transform_source(xd),
                    None if td is None else fitted.transform_target(td),
                )
                values = _query_values(
                    fitted.transform_source(x[te]), fitted.transform_target(t[te]), codes,
                    scoring="cosine", **opts,
                )  # fmt: skip
                runs.setdefault(("asif", "cosine", int(k)), []).append(values)
    table = ResultTable()

    def scored(per_seed: Sequence[dict[str, dict[str, Float]]], d: str) -> Scored:
        return Scored.seeds([mean_stat(v[d]) for v in per_seed], n)

    for (mode, sc, k), per_seed in runs.items():
        m_key = {"method": method, "scaling": scaling} if mode == "aligned" else {"method": mode}
        for d in DIRECTIONS:
            seed_rows(table, scored(per_seed, d), n_resamples=n_resamples, mode=mode,
                      scoring=sc, anchors=k, direction=d, **m_key, **base)  # fmt: skip
    if headline is None or not runs.get(("aligned", "cosine", headline)):
        return table
    ref = ("aligned", "cosine", headline)
    naive_extra = (None if xd is None else naive_stitch(xd, t.shape[1]), td)
    naive = _query_values(naive_stitch(x[te], t.shape[1]), t[te], naive_extra,
                          scoring="cosine", **opts)  # fmt: skip
    compared = {
        f"{mode} ({sc})": per_seed
        for (mode, sc, k), per_seed in runs.items()
        if k == headline and (mode, sc) != ("aligned", "cosine")
    }
    compared["naive (cosine)"] = [naive]
    ref_runs = runs[ref]
    key = {**base, "mode": "aligned", "method": method, "scaling": scaling, "scoring": "cosine",
           "anchors": headline}  # fmt: skip
    for d in DIRECTIONS:
        for label, per_seed in compared.items():
            difference_rows(
                table, scored(ref_runs, d), scored(per_seed, d), ("aligned (cosine)", label),
                n_resamples=n_resamples, direction=d, **key,
            )  # fmt: skip
        for label, by_seed in maps.items():
            common = [s for s in ref_seeds if s in by_seed]
            difference_rows(
                table, scored([ref_seeds[s] for s in common], d),
                scored([by_seed[s] for s in common], d), (f"aligned {method} (cosine)", label),
                n_resamples=n_resamples, direction=d, note=_seeds_note(common), **key,
            )  # fmt: skip
    if permutations > 0:
        seed, idx = first[headline]
        memo: dict[bytes, dict[str, dict[str, float]]] = {}

        def shuffled(perm: Index) -> dict[str, dict[str, float]]:
            if perm.tobytes() not in memo:
                aligner, _ = fit_cell(x, t, idx, method, scaling, seed, targets=idx[perm])
                if aligner is None:
                    nan = {m: float("nan") for m in ref_runs[0][DIRECTIONS[0]]}
                    memo[perm.tobytes()] = {d: nan for d in DIRECTIONS}
                else:
                    mapped, extra = through(aligner)
                    values = _query_values(mapped, t[te], extra, scoring="cosine", **opts)
                    memo[perm.tobytes()] = {
                        d: {m: float(v.mean()) for m, v in values[d].items()} for d in DIRECTIONS
                    }
            return memo[perm.tobytes()]

        for d in DIRECTIONS:
            observed = {m: float(v.mean()) for m, v in ref_runs[0][d].items()}
            permutation_rows(
                table, observed, partial(_direction_of, shuffled, d), idx.size,
                permutations=permutations, n=n, rng_seed=seed, direction=d,
                **{**key, "seed": seed},
            )  # fmt: skip
    return table


def refined_comparisons(
    xs: Any,
    xt: Any,
    test: Any,
    refined: Sequence[tuple[int, Index, Any]],
    *,
    method: str,
    scaling: str,
    anchors: int,
    ks: Sequence[int] = (1, 5, 10),
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
    distractors: tuple[Any, Any] | None = None,
    n_resamples: int = 1000,
    names: tuple[str, str] = ("image", "text"),
) -> ResultTable:
    """T against its refinement at ``anchors``: ``refined`` holds each seed's (seed, anchor
    rows, fitted :class:`~semalign.align.refine.RefinedAligner`) as
    :func:`semalign.tasks.retrieval_refined.refined_cell` fitted it (the refinement is not run
    again); T is refitted on the same anchor rows (``method``, ``scaling``, as
    :func:`retrieval_comparisons` does). Per direction and scoring S of ``scorings``:
    ``paired: aligned (cosine) - refined (S)`` on A's key (mode ``aligned``, scoring
    ``cosine``), paired on queries and on the seeds both maps have (``note``)."""
    x = np.asarray(xs, dtype=np.float64)
    t = np.asarray(xt, dtype=np.float64)
    _, te = split_rows(x.shape[0], test)
    n = int(te.size)
    xd = None if distractors is None else np.asarray(distractors[0], dtype=np.float64)
    td = None if distractors is None else np.asarray(distractors[1], dtype=np.float64)
    opts: dict[str, Any] = {"ks": ks, "csls_k": csls_k}

    def values(aligner: Any, scoring: str) -> dict[str, dict[str, Float]]:
        extra = (None if xd is None else aligner.transform(xd), td)
        return _query_values(aligner.transform(x[te]), t[te], extra, scoring=scoring, **opts)

    ref: dict[int, dict[str, dict[str, Float]]] = {}
    runs: dict[str, dict[int, dict[str, dict[str, Float]]]] = {}
    for seed, idx, model in refined:
        aligner, _ = fit_cell(x, t, np.asarray(idx, dtype=np.int64), method, scaling, int(seed))
        if aligner is None:
            continue
        ref[int(seed)] = values(aligner, "cosine")
        for sc in scorings:
            runs.setdefault(f"refined ({scoring_label(sc, csls_k)})", {})[int(seed)] = values(
                model, sc
            )
    table = ResultTable()
    seeds = list(ref)
    if not seeds:
        return table
    key: dict[str, Any] = {
        "task": "retrieve", "source": names[0], "target": names[1], "mode": "aligned",
        "method": method, "scaling": scaling, "scoring": "cosine", "anchors": int(anchors),
    }  # fmt: skip
    for d in DIRECTIONS:
        a = Scored.seeds([mean_stat(ref[s][d]) for s in seeds], n)
        for label, by_seed in runs.items():
            b = Scored.seeds([mean_stat(by_seed[s][d]) for s in seeds], n)
            difference_rows(
                table, a, b, ("aligned (cosine)", label), n_resamples=n_resamples, direction=d,
                note=_seeds_note(seeds), **key,
            )  # fmt: skip
    return table


def _direction_of(
    statistic: Callable[[Index], Mapping[str, Mapping[str, float]]], direction: str, perm: Index
) -> Mapping[str, float]:
    return statistic(perm)[direction]


SCORED_MODES = ("asif", "nearest-centroid", "linear-probe")
"""Zero-shot modes compared with T from their per-item scores (other units than T's)."""


def score_differences(
    scores: Sequence[Mapping[str, Any]],
    *,
    rule: str,
    headline: Mapping[str, Any],
    n_resamples: int,
    key: Mapping[str, Any],
) -> ResultTable:
    """``paired: unimodal - M`` rows at the headline for the modes of :data:`SCORED_MODES`,
    from the per-item score rows (``zeroshot_scores``: ``id``, ``class``, ``y_true``,
    ``score``, ``seed``) kept for every seed of T at the headline anchors, of ASIF on the same
    draws and of the comparators (no seed), paired on images. ASIF: the seeds both have,
    paired (seed s is the same anchor draw for both). Comparators: every seed of T against the
    comparator's one run (seeds unpaired). Exact McNemar for ``argmax`` on T's first seed (and
    ASIF's same seed); ``note`` names the seeds."""
    table = ResultTable()
    groups: dict[tuple[Any, ...], dict[int | None, list[Mapping[str, Any]]]] = {}
    for r in scores:
        at = (r["mode"], r["method"], r["scaling"], r["anchors"])
        groups.setdefault(at, {}).setdefault(_seed_of(r.get("seed")), []).append(r)
    ref_key = ("unimodal", headline["method"], headline["scaling"], headline["anchors"])
    if ref_key not in groups:
        return table
    first_rows = next(iter(groups[ref_key].values()))
    ids = list(dict.fromkeys(r["id"] for r in first_rows))
    classes = list(dict.fromkeys(r["class"] for r in first_rows))

    def matrices(rows: Sequence[Mapping[str, Any]]) -> tuple[Float, Float] | None:
        at = {(r["id"], r["class"]): r for r in rows}
        if {i for i, _ in at} != set(ids):
            return None
        d = np.full((len(ids), len(classes)), np.nan)
        t = np.full((len(ids), len(classes)), np.nan)
        for (i, c), r in at.items():
            if c not in classes:
                return None
            d[ids.index(i), classes.index(c)] = float(r["score"])
            t[ids.index(i), classes.index(c)] = float(r["y_true"])
        return d, t

    def stat(d: Float, t: Float) -> WeightStat:
        if rule == "argmax":
            return classification_stat(np.nanargmax(t, axis=1), d)
        return classification_stat(
            t, np.nan_to_num(d), task="multilabel", mask=~np.isnan(t), label_names=classes
        )

    ref: dict[int | None, tuple[Float, Float]] = {}
    for seed, rows in groups[ref_key].items():
        got = matrices(rows)
        if got is None:
            return table
        ref[seed] = got
    n = len(ids)
    for (mode, _, _, anchors), by_seed in groups.items():
        if mode not in SCORED_MODES or anchors not in (None, "", headline["anchors"]):
            continue
        other: dict[int | None, tuple[Float, Float]] = {}
        for seed, rows in by_seed.items():
            got = matrices(rows)
            if got is not None:
                other[seed] = got
        if set(other) == {None} and len(by_seed) == 1:  # a comparator: one run, no seed
            seeds = list(ref)
            b = [other[None]]
            note = (f"per-item scores of T's {_seed_list(seeds)} against the one run of {mode} "
                    "(no seed)")  # fmt: skip
        else:
            seeds = [s for s in ref if s in other and s is not None]
            b = [other[s] for s in seeds]
            note = f"per-item scores of {_seeds_note(seeds)}"
        if not seeds or len(other) < len(by_seed):
            continue
        a = [ref[s] for s in seeds]
        correct = None
        if rule == "argmax":
            truth = np.nanargmax(a[0][1], axis=1)
            correct = (a[0][0].argmax(axis=1) == truth, b[0][0].argmax(axis=1) == truth)
        difference_rows(
            table, Scored.seeds([stat(*v) for v in a], n), Scored.seeds([stat(*v) for v in b], n),
            ("unimodal", mode), n_resamples=n_resamples, correct=correct, note=note,
            mode="unimodal", method=headline["method"], scaling=headline["scaling"],
            anchors=headline["anchors"], scoring="cosine", **key,
        )  # fmt: skip
    return table
