"""From recipe datasets to what the tasks need: items to embed, labels, splits, anchor pairs."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.data.records import Record
from semalign.errors import InputError
from semalign.experiments.recipe import DatasetSpec, RetrievalSpec, StitchSpec, ZeroShotSpec
from semalign.metrics.space import normalise_text
from semalign.store.items import Items
from semalign.tasks.splits import Dedup, dedup_by_text, group_split, split_rows
from semalign.tasks.zeroshot_folds import draw_pairs


def read_records(spec: DatasetSpec) -> list[Record]:
    """Every record of a recipe dataset."""
    from semalign.data.registry import open_dataset

    root = Path(spec.root) if spec.root else None
    return list(open_dataset(spec.name, root, **spec.options))


def single_class(record: Record, classes: dict[str, list[str]]) -> str | None:
    """The one class whose labels are positive in ``record`` (None if no class or several)."""
    hits = [c for c, labels in classes.items() if any(record.labels.get(x) == 1.0 for x in labels)]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True)
class StitchData:
    """Items, class names (n,), stratified test rows, and the count of each class.

    ``dedup``: what deduplication by normalised text did (None for images or ``dedup = "none"``).
    """

    items: Items
    y: NDArray[Any]
    test: NDArray[np.int64]
    counts: dict[str, int]
    available: dict[str, int]
    dedup: Dedup | None = None
    distinct_texts: int | None = None


def stitch_data(spec: StitchSpec, records: list[Record]) -> StitchData:
    """Single-class records of ``spec`` (deduplicated by normalised text unless ``dedup =
    "none"``, then capped per class, seeded), with a test split stratified by class in which one
    normalised text is never on both sides: :func:`semalign.tasks.splits.group_split` of the
    kept rows with ``seed = split_seed``, as from Python."""
    text_mode = spec.modality == "text"
    candidates: list[tuple[Record, str]] = []
    texts: dict[str, str] = {}
    for r in records:
        payload = r.text(spec.section) if text_mode else r.image_path
        cls = single_class(r, spec.classes)
        if cls is not None and payload:
            candidates.append((r, cls))
            if text_mode:
                texts[r.id] = str(payload)
    dedup = None
    if spec.dedup == "text":
        rows, dedup = dedup_by_text(
            [r.id for r, _ in candidates], [texts[r.id] for r, _ in candidates],
            [c for _, c in candidates],
        )  # fmt: skip
        candidates = [candidates[i] for i in rows.tolist()]
    by_class: dict[str, list[Record]] = {c: [] for c in spec.classes}
    for r, cls in candidates:
        by_class[cls].append(r)
    available = {c: len(v) for c, v in by_class.items()}
    rng = np.random.default_rng(spec.split_seed)
    chosen: list[tuple[Record, str]] = []
    for cls, recs in by_class.items():
        if len(recs) < 2:
            raise InputError(
                f"stitch {spec.name!r}: class {cls!r} has {len(recs)} records: every class needs "
                "at least two (check classes and section)"
            )
        order = rng.permutation(len(recs))
        if spec.max_per_class is not None:
            order = np.sort(order[: spec.max_per_class])
        chosen += [(recs[i], cls) for i in order]
    chosen.sort(key=lambda rc: rc[0].id)
    y = np.array([c for _, c in chosen])
    payloads = [texts[r.id] if text_mode else str(r.image_path) for r, _ in chosen]
    items = Items([r.id for r, _ in chosen], payloads, spec.modality)
    keys = split_keys(items)
    test = group_split(keys, spec.test_fraction, y=y, seed=spec.split_seed)[1]
    return StitchData(
        items,
        y,
        test,
        dict(Counter(y.tolist())),
        available,
        dedup,
        len(set(keys)) if text_mode else None,
    )


def split_keys(items: Items) -> list[str]:
    """The groups a stitch task's test split keeps whole: a text's normalised form (one text
    never on both sides), an image's id."""
    if items.modality == "text":
        return [normalise_text(str(p)) for p in items.payloads]
    return list(items.ids)


def stitch_splits_data(spec: StitchSpec, data: StitchData) -> list[StitchData]:
    """``data`` (:func:`stitch_data`: rows kept and capped with ``split_seed``, the first of
    ``split_seeds``) once per test split of ``spec.splits``: the same items, each seed's
    stratified :func:`~semalign.tasks.splits.group_split` as ``test`` (the first is ``data``)."""
    out = [data]
    keys = split_keys(data.items)
    for seed in spec.splits[1:]:
        test = group_split(keys, spec.test_fraction, y=data.y, seed=seed)[1]
        out.append(replace(data, test=test))
    return out


@dataclass(frozen=True)
class EvalImages:
    """Images to classify: items, labels (n,) class names or (n, L) 0/1, and a mask (n, L)."""

    items: Items
    y: NDArray[Any]
    mask: NDArray[np.bool_] | None
    counts: dict[str, int]


def eval_images(spec: ZeroShotSpec, records: list[Record]) -> EvalImages:
    """The images of ``spec.images`` with usable labels, in id order (first ``max_images``)."""
    recs = sorted((r for r in records if r.image_path is not None), key=lambda r: r.id)
    if spec.rule == "argmax":
        keep = [(r, pos[0]) for r in recs if len(pos := _positives(r, spec.labels)) == 1]
        keep = keep[: spec.max_images] if spec.max_images else keep
        if not keep:
            raise InputError(f"zeroshot {spec.name!r}: no image has exactly one of {spec.labels}")
        y: NDArray[Any] = np.array([c for _, c in keep])
        chosen = [r for r, _ in keep]
        mask = None
        counts = dict(Counter(y.tolist()))
    else:
        chosen = recs[: spec.max_images] if spec.max_images else recs
        raw = np.array([[r.labels.get(x, math.nan) for x in spec.labels] for r in chosen])
        mask = np.isin(raw, (0.0, 1.0))
        y = np.where(mask, raw, 0.0)
        counts = {x: int(((y[:, j] == 1) & mask[:, j]).sum()) for j, x in enumerate(spec.labels)}
    if not chosen:
        raise InputError(f"zeroshot {spec.name!r}: dataset {spec.images!r} has no images")
    items = Items([r.id for r in chosen], [str(r.image_path) for r in chosen], "image")
    return EvalImages(items, y, mask, counts)


def patient_keys(*collections: list[Record]) -> dict[str, str]:
    """Each record id -> its patient key (:attr:`~semalign.data.records.Record.patient_key`),
    over the evaluated images and the anchor images: what leave-one-patient-out folds group by
    (the first collection wins where an id recurs)."""
    out: dict[str, str] = {}
    for records in collections:
        for r in records:
            out.setdefault(r.id, r.patient_key)
    return out


def _positives(record: Record, labels: list[str]) -> list[str]:
    return [x for x in labels if record.labels.get(x) == 1.0]


@dataclass(frozen=True)
class AnchorSet:
    """Anchor pairs as row indices into unique image and report items; ``owner`` = image id;
    ``labels`` (n_pairs, L): each pair's value of the task's labels (1, 0, NaN unknown)."""

    images: Items
    reports: Items
    image_row: NDArray[np.int64]
    report_row: NDArray[np.int64]
    owner: list[str]
    labels: NDArray[np.float64]


def anchor_set(
    spec: ZeroShotSpec, anchor_records: list[Record], report_records: list[Record] | None
) -> AnchorSet:
    """Image-report anchor pairs of ``spec``: per study, or label-matched (one deal per seed)."""
    from semalign.data.pairing import label_matched_pairs, study_pairs

    if spec.pairing == "study":
        pairs = study_pairs(anchor_records, section=spec.section)
    else:
        assert report_records is not None
        pairs = []
        for s in range(spec.reports_per_image):
            pairs += label_matched_pairs(
                anchor_records, report_records, spec.match_labels, section=spec.section, seed=s
            )
    if not pairs:
        raise InputError(
            f"zeroshot {spec.name!r}: no anchor pairs could be formed from dataset "
            f"{spec.anchor_dataset!r} (pairing {spec.pairing}): check its images and reports"
        )
    img_ids = sorted({p.image_id for p in pairs})
    rep_ids = sorted({p.report_id for p in pairs})
    img_path = {p.image_id: str(p.image_path) for p in pairs}
    rep_text = {p.report_id: p.text for p in pairs}
    img_at = {k: i for i, k in enumerate(img_ids)}
    rep_at = {k: i for i, k in enumerate(rep_ids)}
    return AnchorSet(
        Items(img_ids, [img_path[k] for k in img_ids], "image"),
        Items(rep_ids, [rep_text[k] for k in rep_ids], "text"),
        np.array([img_at[p.image_id] for p in pairs], dtype=np.int64),
        np.array([rep_at[p.report_id] for p in pairs], dtype=np.int64),
        [p.image_id for p in pairs],
        np.array([[p.labels.get(x, math.nan) for x in spec.labels] for p in pairs], dtype=float),
    )


@dataclass(frozen=True)
class RetrievalData:
    """Paired rows: ``texts`` (the target side) and ``images`` (None for report-report).

    ``dedup``: what deduplication by normalised text did (None when not asked for);
    ``dropped_shared``: training rows left out because their text is also a test row's.
    """

    texts: Items
    images: Items | None
    test: NDArray[np.int64]
    dedup: Dedup | None = None
    dropped_shared: int = 0

    def source_items(self) -> Items:
        """What the source encoder embeds: the images, or the reports themselves."""
        return self.images if self.images is not None else self.texts


def retrieval_data(spec: RetrievalSpec, records: list[Record]) -> RetrievalData:
    """Rows of ``spec.dataset`` in id order: one study's frontal image and report (image-report),
    or one report per study (report-report), one row per normalised text with ``dedup =
    "text"``; test rows from the official split or at random by whole texts. Training rows whose
    text is also a test row's are left out, so one text is never on both sides."""
    from semalign.data.pairing import study_pairs

    if spec.kind == "image-report":
        pairs = sorted(study_pairs(records, section=spec.section), key=lambda p: p.id)
        ids = [p.id for p in pairs]
        texts = [p.text for p in pairs]
        paths: list[str] | None = [str(p.image_path) for p in pairs]
        splits = [p.split for p in pairs]
    else:
        seen: dict[str, Record] = {}
        for r in sorted(records, key=lambda r: r.id):
            if r.text(spec.section):
                seen.setdefault(r.study_id or r.id, r)
        ids = sorted(seen)
        texts = [str(seen[i].text(spec.section)) for i in ids]
        paths = None
        splits = [seen[i].split for i in ids]
    dedup = None
    if spec.dedup == "text":
        kept, dedup = dedup_by_text(ids, texts)
        rows = kept.tolist()
        ids, texts, splits = (
            [ids[i] for i in rows],
            [texts[i] for i in rows],
            [splits[i] for i in rows],
        )
        paths = None if paths is None else [paths[i] for i in rows]
    keys = [normalise_text(t) for t in texts]
    if len(ids) < 3:
        raise InputError(
            f"retrieval {spec.name!r}: dataset {spec.dataset!r} has {len(ids)} usable rows "
            f"(kind {spec.kind}, section {spec.section}): at least 3 are needed"
        )
    rng = np.random.default_rng(spec.split_seed)
    if spec.split == "official":
        test = np.flatnonzero(np.array([s == "test" for s in splits]))
        if test.size == 0:
            raise InputError(
                f"retrieval {spec.name!r}: dataset {spec.dataset!r} has no official test split: "
                'set split = "random"'
            )
    else:  # one stratum: a random split by whole texts, the first draw of ``rng``
        test = group_split(keys, spec.test_fraction, seed=rng)[1]
    train = np.setdiff1d(np.arange(len(ids)), test)
    if spec.max_test is not None and test.size > spec.max_test:
        test = np.sort(rng.permutation(test)[: spec.max_test])
    # one text never on both sides (an official split may share texts): such train rows go
    apart = np.intersect1d(train, split_rows(len(ids), test, groups=keys)[0])
    shared = train.size - apart.size
    train = apart
    if spec.max_train is not None and train.size > spec.max_train:
        train = np.sort(rng.permutation(train)[: spec.max_train])
    keep = np.sort(np.concatenate([train, test]))
    at = np.searchsorted(keep, test).astype(np.int64)
    kept_ids = [ids[i] for i in keep]
    text_items = Items(kept_ids, [texts[i] for i in keep], "text")
    image_items = None if paths is None else Items(kept_ids, [paths[i] for i in keep], "image")
    return RetrievalData(text_items, image_items, at, dedup, int(shared))


def retrieval_splits_data(spec: RetrievalSpec, records: list[Record]) -> list[RetrievalData]:
    """:func:`retrieval_data` once per seed of ``spec.splits``: each seed draws its own random
    test split and its own ``max_test`` / ``max_train`` subsets, so the rows kept may differ."""
    return [retrieval_data(replace(spec, split_seed=seed), records) for seed in spec.splits]


@dataclass(frozen=True)
class Gallery:
    """The rest of an ``all-distinct`` retrieval gallery: one item per distinct text outside
    the task, as texts (what the target encoder embeds) and, for image-report, the frontal
    image of the same study (what the source encoder embeds; None for report-report, whose
    source encoder embeds the texts)."""

    texts: Items
    images: Items | None = None

    def source_items(self) -> Items:
        """What the source encoder embeds: the images, or the reports themselves."""
        return self.images if self.images is not None else self.texts


def gallery_items(records: list[Record], section: str, kind: str, rows: Items) -> Gallery:
    """Every distinct ``section`` text of ``records`` outside the task (one per normalised text,
    the lowest id): none equals the text of any of the task's ``rows`` (its training rows, from
    which anchors and pools come, and its test rows), so the gallery beyond the test rows holds
    no anchor, no pool item and no copy of a query's partner. For ``image-report`` only studies
    with a frontal image count (:func:`semalign.data.pairing.study_pairs`)."""
    from semalign.data.pairing import study_pairs

    taken = {normalise_text(str(t)) for t in rows.payloads}
    found: dict[str, tuple[str, str, str | None]] = {}  # key -> (id, text, image path)
    if kind == "image-report":
        for p in sorted(study_pairs(records, section=section), key=lambda p: p.id):
            key = normalise_text(p.text)
            if key not in taken:
                found.setdefault(key, (p.id, p.text, str(p.image_path)))
    else:
        for r in sorted(records, key=lambda r: r.id):
            text = r.text(section)
            if text and (key := normalise_text(text)) not in taken:
                found.setdefault(key, (r.id, text, None))
    ids = [v[0] for v in found.values()]
    texts = Items(ids, [v[1] for v in found.values()], "text")
    if kind != "image-report":
        return Gallery(texts)
    return Gallery(texts, Items(ids, [str(v[2]) for v in found.values()], "image"))


def drawn_pairs(spec: ZeroShotSpec, n_pairs: int) -> NDArray[np.int64] | None:
    """Sorted indices of the anchor pairs some (anchor count, seed) cell of ``spec`` draws, so
    that only those are embedded: the draws of the cells
    (:func:`semalign.tasks.zeroshot_folds.draw_pairs`; every pair
    allowed when the split is not leave-one-out). None under leave-one-out, whose folds may
    draw any pair."""
    if spec.split == "loo":
        return None
    rows = [  # one fold: every pair allowed
        draw_pairs(n_pairs, k, seed) for k in spec.anchors if k <= n_pairs for seed in spec.seeds
    ]
    return np.unique(np.concatenate(rows)).astype(np.int64) if rows else np.zeros(0, np.int64)


def anchor_subset(anchors: AnchorSet, pairs: NDArray[np.int64]) -> tuple[Items, Items, Any, Any]:
    """The images and reports of ``pairs`` only (items, and their rows in ``anchors.images`` /
    ``anchors.reports``): what must be embedded for those pairs."""
    img = np.unique(anchors.image_row[pairs])
    rep = np.unique(anchors.report_row[pairs])
    images = Items([anchors.images.ids[i] for i in img], [anchors.images.payloads[i] for i in img],
                   "image")  # fmt: skip
    reports = Items([anchors.reports.ids[i] for i in rep],
                    [anchors.reports.payloads[i] for i in rep], "text")  # fmt: skip
    return images, reports, img, rep
