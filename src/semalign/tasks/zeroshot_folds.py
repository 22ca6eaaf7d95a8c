"""Zero-shot cells on folds: the prompt protocol of a recipe, one anchor count and seed at a time.

Modes: ``unimodal`` (through T fitted on the fold's anchor pairs), its control
``shuffled-anchors`` (the same estimator on the same anchors with the reports shuffled among
them, so that the pairing carries nothing), ``anchor-centroid`` (the same map with no prompts,
scored against the fold's anchor reports of each label), ``asif`` (ASIF codes through the same
anchor pairs), ``multimodal`` (a dual encoder's joint space) and the supervised comparators
(``nearest-centroid``, ``linear-probe``, leave-one-out on the image embeddings). Folds: one
patient each under leave-one-out (:func:`patient_folds`: all of its images held out, and every
anchor pair owned by one of them left out), else one fold of every image. Each
function returns its result rows (n/a rows with the reason where a cell cannot be run) and the
per-item scores at the headline anchors, every seed (cosine scoring only), kept for ROC curves and
confusion matrices (first seed) and for the paired differences of T against ASIF and the
comparators (every seed).

Decision values keep their order (:meth:`ZeroShotClassifier.decision_values`); metrics come from
:func:`semalign.tasks.zeroshot.zeroshot_report`; maps are fitted by
:func:`semalign.tasks.stitching.fit_cell`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import min_anchors, select_anchors
from semalign.errors import InputError
from semalign.metrics.classification import Estimate
from semalign.tasks.asif import ASIF, AsifSweep, asif_model, fold_means, sweep_rows
from semalign.tasks.comparators import linear_probe_loo, nearest_centroid_loo
from semalign.tasks.comparisons import zeroshot_comparisons
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import group_folds
from semalign.tasks.stitching import fit_cell, undefined
from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier, zeroshot_report

__all__ = [
    "CENTROID",
    "COMPARATOR_FUNCTIONS",
    "SHUFFLED",
    "SPLITS",
    "anchor_centroid_scores",
    "asif_prompts",
    "draw_pairs",
    "fold_decisions",
    "patient_folds",
    "score_rows",
    "scored_key",
    "zeroshot_asif",
    "zeroshot_comparators",
    "zeroshot_joint",
    "zeroshot_method",
]

Float = NDArray[np.float64]

SPLITS: tuple[str, ...] = ("loo", "none")
"""Folds of a zero-shot task: ``loo``, one patient each (:func:`patient_folds`), or ``none``,
one fold of every image."""


def draw_pairs(n_pairs: int, k: int, seed: int, allowed: Any = None) -> NDArray[np.int64]:
    """The ``k`` anchor pairs (of ``n_pairs``) a fold draws among the ``allowed`` ones ((n_pairs,)
    bool; all by default), seeded: the draw of every zero-shot cell, and what must be embedded."""
    exclude = np.zeros(n_pairs, dtype=bool) if allowed is None else ~np.asarray(allowed, bool)
    return np.asarray(select_anchors(n_pairs, int(k), seed=int(seed), exclude=exclude), np.int64)


@dataclass(frozen=True)
class DrawnRows:
    """One side of an anchor pool of ``n_pairs`` pairs holding only the rows some cell draws:
    ``rows`` (m, d), float32 as the store gives them, and ``where`` (n_pairs,), each pair's
    row in ``rows`` (-1: never drawn). Indexing it by pair indices gives their rows in float64
    (exactly), so the units read it as they read a full (n_pairs, d) array, and it travels to a
    unit worker at the size of the drawn rows (a full array of 227,000 MIMIC-CXR pairs would
    pickle every never-drawn row too)."""

    rows: NDArray[np.float32]
    where: NDArray[np.int64]

    @classmethod
    def of(cls, rows: NDArray[Any], pairs: NDArray[np.int64], n_pairs: int) -> DrawnRows:
        """Rows (m, d) of the pairs ``pairs`` (m,), among ``n_pairs`` pairs."""
        where = np.full(n_pairs, -1, dtype=np.int64)
        where[pairs] = np.arange(len(pairs))
        return cls(np.ascontiguousarray(rows, dtype=np.float32), where)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.where.size), int(self.rows.shape[1])

    def __getitem__(self, pairs: NDArray[np.int64]) -> Float:
        at = self.where[pairs]
        if at.size and at.min() < 0:
            raise InputError(
                f"anchor pair {int(np.asarray(pairs).ravel()[np.argmin(at)])} was drawn but "
                "never embedded: the runner's drawn_pairs must list every pair a cell draws"
            )
        return self.rows[at].astype(np.float64)


def _rows(pool: Any, sel: NDArray[np.int64]) -> Float:
    """Rows ``sel`` of an anchor pool (n_pairs, d) (an array or :class:`DrawnRows`), in float64:
    the runner holds the pool as the store gives it, float32, and converting rows is exact."""
    return np.asarray(pool[sel], dtype=np.float64)


def _skip(reason: str, metrics: Sequence[str]) -> tuple[dict[str, Estimate], str]:
    return undefined(metrics), f"skipped: {reason}"


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
) -> tuple[ResultTable, list[dict[str, Any]]]:
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
    return table, scores


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
    patients: Mapping[str, str] | None = None,
) -> tuple[ResultTable, list[dict[str, Any]]]:
    """Supervised leave-one-out comparators on the image embeddings (no text, no map): one row
    per comparator (its name is the mode), on the same images and folds as the map (one
    patient at a time with ``patients``, see :func:`patient_folds`)."""
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    groups = [_patient(patients, i) for i in ids]
    for name in comparators:
        d = COMPARATOR_FUNCTIONS[name](
            images, y, rule=rule, classes=classes, mask=mask, groups=groups
        )
        table.add(_report(d, y, mask, classes, rule, bootstrap), n=len(ids), mode=name, **key)
        scores += score_rows(
            d, y, mask, ids, classes, rule, mode=name, method=None, scaling=None, anchors=None,
            seed=None, **_score_key(key),
        )  # fmt: skip
    return table, scores


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
    batch of every image (mapped by this fold's map) and keeps the fold's rows. A fold of
    every row in order (a fixed split) scores ``images`` itself, not a copy (ASIF's codes of
    RSNA's 26,684 images against 10,000 anchors are 2.1 GB)."""
    every = fold.size == images.shape[0] and bool(np.all(fold[1:] > fold[:-1]))
    if clf.scoring == "cosine":
        return clf.decision_values(images if every else images[fold])
    return clf.decision_values(images)[fold]


def _patient(patients: Mapping[str, str] | None, image_id: str) -> str:
    return image_id if patients is None else patients.get(image_id, image_id)


def patient_folds(
    ids: Sequence[str], owner: Sequence[str], patients: Mapping[str, str] | None = None
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.bool_]]]:
    """Leave-one-patient-out folds: per patient (in order of its first image), the rows of its
    images among ``ids`` (n,) and the anchor pairs (n_pairs,) allowed to fit that fold's map,
    i.e. those whose ``owner`` image is not one of that patient's. ``patients`` maps image ids
    (evaluated images and anchor owners) to a patient key
    (:attr:`semalign.data.records.Record.patient_key`); an id it lacks is its own patient, so
    without it every image is a fold (leave one image out)."""
    groups = [_patient(patients, i) for i in ids]
    owners = np.array([_patient(patients, o) for o in owner], dtype=object)
    folds = group_folds(groups, len(ids))
    return folds, [owners != groups[int(f[0])] for f in folds]


def _folds(
    ids: Sequence[str], owners: NDArray[Any], loo: bool, patients: Mapping[str, str] | None
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.bool_]]]:
    """Evaluation folds (one patient each under leave-one-out, else all images) and, per fold,
    the anchor pairs allowed to fit its map (none owned by the fold's patient)."""
    if loo:
        return patient_folds(ids, owners.tolist(), patients)
    return [np.arange(len(ids))], [np.ones(owners.size, bool)]


def zeroshot_method(
    images: Float,
    y: Any,
    mask: Any,
    ids: Sequence[str],
    prompts: PromptEmbeddings,
    anchor_images: Float | DrawnRows,
    anchor_texts: Float | DrawnRows,
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
    patients: Mapping[str, str] | None = None,
    permutations: int = 0,
    comparisons: ResultTable | None = None,
) -> tuple[ResultTable, list[dict[str, Any]]]:
    """Prompt classification through T (mode ``unimodal``) for every anchor count and seed
    (leave one patient out, ``patients`` as in :func:`patient_folds`, or fixed), and its
    control (mode ``shuffled-anchors``): the same estimator on the same anchors with the
    reports shuffled among them, so that the pairing carries nothing.
    With ``anchor_labels`` (n_pairs, C) also mode ``anchor-centroid``: the same map with no
    prompts, scored against the centroids of the fold's anchor reports of each label (cosine).

    Both prompt modes are scored under each of ``scorings`` (:func:`scored_key` marks the rows).
    CSLS takes the class term over a batch (:mod:`semalign.tasks.zeroshot`): here the batch is
    every evaluated image mapped by the fold's map, the held-out image included (transductive,
    label-free), so a leave-one-out fold is not a batch of one.

    Per-item scores are kept for every seed at ``score_at`` anchors (default: the most),
    cosine scoring only (column ``seed``: ROC curves and confusion matrices take the first,
    :func:`semalign.tasks.comparisons.score_differences` every one). ``comparisons`` receives
    the rows of :func:`semalign.tasks.comparisons.zeroshot_comparisons` (seed means; at
    ``score_at``, the paired differences and, with ``permutations`` > 0, the shuffled-anchors
    permutation control on the first seed's draws).
    """
    n = len(ids)
    owners = np.asarray(owner)
    folds, allowed = _folds(ids, owners, loo, patients)
    decided: dict[tuple[str, str, int], list[tuple[int, Float]]] = {}
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
                sel = draw_pairs(owners.size, k, seed, ok)
                shuffled = sel[rng.permutation(sel.size)]
                center = _rows(anchor_texts, sel).mean(axis=0) if center_text else None
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
                            mapped, _rows(anchor_texts, sel), anchor_labels[sel], rule, center
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
                decided.setdefault((mode, row_key["scoring"], int(k)), []).append((seed, dv))
                keep = k == keep_at or (k == most and keep_at > most)
                if keep and sc == "cosine":
                    scores += score_rows(
                        dv, y, mask, ids, prompts.classes, rule, mode=mode, **setting,
                        **_score_key(key),
                    )  # fmt: skip
    if comparisons is not None:
        at = keep_at if keep_at <= most else max((k for k in anchors if k <= most), default=0)

        def control(perm: NDArray[np.int64]) -> Float:
            """Decision values of the first seed's folds at ``at`` anchors, re-paired."""
            out = np.full((n, len(prompts.classes)), np.nan)
            for fold, ok in zip(folds, allowed, strict=True):
                sel = draw_pairs(owners.size, at, seeds[0], ok)
                aligner, _ = fit_cell(
                    anchor_images, anchor_texts, sel, method, scaling, int(seeds[0]),
                    targets=sel[perm],
                )  # fmt: skip
                if aligner is None:
                    return out
                center = _rows(anchor_texts, sel).mean(axis=0) if center_text else None
                clf = ZeroShotClassifier(
                    prompts, rule=rule, aggregate=aggregate, temperature=temperature,
                    aligner=aligner, center=center,
                )  # fmt: skip
                out[fold] = fold_decisions(clf, images, fold)
            return out

        comparisons.extend(
            zeroshot_comparisons(
                decided, y, mask, prompts.classes, rule, n_resamples=bootstrap, headline=at,
                control=control, control_seed=int(seeds[0]), permutations=permutations,
                key={**key, "method": method, "scaling": scaling},
            )
        )  # fmt: skip
    return table, scores


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
    anchor_images: Float | DrawnRows,
    anchor_texts: Float | DrawnRows,
    owner: Sequence[str],
    *,
    loo: bool,
    anchors: Sequence[int],
    seeds: Sequence[int],
    top_k: int | Sequence[int],
    power: float | Sequence[float],
    rule: str,
    aggregate: str,
    temperature: float,
    key: dict[str, Any],
    bootstrap: int,
    score_at: int | None = None,
    scorings: Sequence[str] = ("cosine",),
    csls_k: int = 10,
    patients: Mapping[str, str] | None = None,
    center: bool | Sequence[bool] = False,
    select: str | None = None,
) -> tuple[ResultTable, list[dict[str, Any]]]:
    """The ASIF baseline (mode ``asif``, Norelli et al. 2023) on the folds and anchor pairs of
    :func:`zeroshot_method` (same draw per anchor count, seed and fold): images become their
    sparsified similarities to the fold's anchor images, prompts theirs to its anchor reports,
    and the prompt rule (aggregate, temperature, scoring) runs on those codes. No map. With
    ``select = "held-out-anchors"`` the settings (lists of ``top_k``, ``power``, ``center``)
    are chosen per fold on that fold's own anchor pairs (:class:`~semalign.tasks.asif.AsifSweep`;
    the held-out image's pairs are never among them): ``variant`` says so, and mode
    ``asif-sweep`` rows give each setting's held-out MRR averaged over the folds and how many
    folds chose it. Per-item scores as in :func:`zeroshot_method` (cosine only)."""
    n = len(ids)
    owners = np.asarray(owner)
    folds, allowed = _folds(ids, owners, loo, patients)
    most = min(int(a.sum()) for a in allowed)
    keep_at = score_at if score_at is not None else max(anchors)
    table = ResultTable()
    scores: list[dict[str, Any]] = []
    spec = asif_model(top_k, power, center, select)
    for k in anchors:
        for seed in seeds:
            setting: dict[str, Any] = {"anchors": int(k), "seed": int(seed)}
            d = {sc: np.empty((n, len(prompts.classes))) for sc in scorings}
            swept: list[list[dict[str, Any]]] = []
            for fold, ok in zip(folds, allowed, strict=True):
                if k > most:
                    break
                sel = draw_pairs(owners.size, k, seed, ok)
                model = spec
                if isinstance(spec, AsifSweep):
                    model, records = spec.select(
                        _rows(anchor_images, sel), _rows(anchor_texts, sel), seed
                    )
                    swept.append(records)
                assert isinstance(model, ASIF)
                asif = model.fit(_rows(anchor_images, sel), _rows(anchor_texts, sel))
                codes = asif.transform_source(images)
                rel = asif_prompts(asif, prompts)
                for sc in scorings:
                    clf = ZeroShotClassifier(
                        rel, rule=rule, aggregate=aggregate, temperature=temperature,
                        scoring=sc, csls_k=csls_k,
                    )  # fmt: skip
                    d[sc][fold] = fold_decisions(clf, codes, fold)
            if swept:
                sweep_rows(table, fold_means(swept), n=n, **key, **setting)
            for sc, dv in d.items():
                row_key = scored_key(key, sc, csls_k)
                if swept:
                    row_key["variant"] = "settings chosen per fold on held-out anchors"
                if k > most:
                    nan, note = _skip(f"only {most} anchors available", ("accuracy", "macro_auroc"))
                    table.add(nan, n=n, mode="asif", note=note, **row_key, **setting)
                    continue
                rep = _report(dv, y, mask, prompts.classes, rule, bootstrap)
                table.add(rep, n=n, mode="asif", **row_key, **setting)
                keep = k == keep_at or (k == most and keep_at > most)
                if keep and sc == "cosine":
                    scores += score_rows(
                        dv, y, mask, ids, prompts.classes, rule, mode="asif", method=None,
                        scaling=None, **setting, **_score_key(key),
                    )  # fmt: skip
    return table, scores
