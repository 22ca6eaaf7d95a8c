"""Anchor pairs: an image and a report text seen by the two encoders.

- per study, where the dataset pairs images with reports (MIMIC-CXR, IU X-ray with images);
- label-matched, for image collections without reports: each image gets a report drawn (seeded)
  from those with the same set of positive labels.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semalign.data.filters import VIEW_PREFERENCE, one_per_study
from semalign.data.labels import positive_set
from semalign.data.records import Record, Section
from semalign.data.views import is_frontal
from semalign.errors import InputError

PAIRINGS: tuple[str, ...] = ("study", "label-matched")
"""How anchor pairs are formed: :func:`study_pairs` or :func:`label_matched_pairs`."""


@dataclass(frozen=True)
class AnchorPair:
    """One anchor: an image path and a report text, with where each came from."""

    id: str
    image_path: Path
    text: str
    image_id: str
    report_id: str
    patient_id: str | None = None
    study_id: str | None = None
    split: str | None = None
    labels: Mapping[str, float] = field(default_factory=dict)


def study_pairs(
    records: Iterable[Record],
    *,
    section: Section | str = "findings+impression",
    frontal: bool = True,
    prefer: Sequence[str] = VIEW_PREFERENCE,
) -> list[AnchorPair]:
    """One image-report pair per study that has both an image and the chosen report ``section``.

    With ``frontal`` only frontal images qualify; the image follows ``prefer`` (PA before AP),
    ties broken by the smallest id. Pair ids are the study ids.
    """
    eligible = [
        r
        for r in records
        if r.image_paths and r.text(section) and (not frontal or is_frontal(r.view))
    ]
    pairs = []
    for r in one_per_study(eligible, prefer=prefer):
        text = r.text(section)
        assert text is not None and r.image_path is not None
        pairs.append(
            AnchorPair(
                id=r.study_id or r.id,
                image_path=r.image_path,
                text=text,
                image_id=r.id,
                report_id=r.study_id or r.id,
                patient_id=r.patient_id,
                study_id=r.study_id,
                split=r.split,
                labels=dict(r.labels),
            )
        )
    return pairs


def label_matched_pairs(
    images: Iterable[Record],
    reports: Iterable[Record],
    labels: Sequence[str],
    *,
    section: Section | str = "findings+impression",
    seed: int = 0,
) -> list[AnchorPair]:
    """Pair each image with a report whose positive set over ``labels`` is identical.

    Reports of each label set are shuffled with ``seed`` and dealt without replacement, cycling
    when a set has fewer reports than images. Images whose label set no report shares are
    left out. The same inputs and seed give the same pairs.
    """
    if not labels:
        raise InputError("label-matched pairing needs at least one label name to match on")
    pools: dict[frozenset[str], list[Record]] = defaultdict(list)
    for r in reports:
        if r.text(section):
            pools[positive_set(r.labels, labels)].append(r)
    if not pools:
        raise InputError(f"no report has a {section!r} text: choose another --section")
    rng = np.random.default_rng(seed)
    order = {
        key: [pool[i] for i in rng.permutation(len(pool))]
        for key, pool in sorted(pools.items(), key=lambda kv: sorted(kv[0]))
    }
    dealt: dict[frozenset[str], int] = defaultdict(int)
    pairs = []
    for img in images:
        if img.image_path is None:
            continue
        key = positive_set(img.labels, labels)
        pool = order.get(key)
        if not pool:
            continue
        rep = pool[dealt[key] % len(pool)]
        dealt[key] += 1
        text = rep.text(section)
        assert text is not None
        pairs.append(
            AnchorPair(
                id=img.id,
                image_path=img.image_path,
                text=text,
                image_id=img.id,
                report_id=rep.id,
                patient_id=img.patient_id,
                study_id=img.study_id,
                split=img.split,
                labels={n: img.labels.get(n, float("nan")) for n in labels},
            )
        )
    return pairs


PAIR_FIELDS = (
    "id",
    "image_path",
    "text",
    "image_id",
    "report_id",
    "patient_id",
    "study_id",
    "split",
)


def write_pairs(pairs: Sequence[AnchorPair], path: Path) -> Path:
    """Write pairs as ``.csv`` or ``.jsonl`` (by suffix), atomically; labels become
    ``label:<name>`` columns in CSV (blank for NaN) and a ``labels`` object in JSONL (null for
    NaN). Both read back as dataset ``manifest`` and ``semalign embed -i``."""
    import io

    from semalign.artefacts import atomic_write_bytes

    path = Path(path)
    names = sorted({n for p in pairs for n in p.labels})
    buf = io.StringIO()
    if path.suffix == ".jsonl":
        for p in pairs:
            row = {k: _plain(getattr(p, k)) for k in PAIR_FIELDS}
            row["labels"] = {n: _label(v) for n, v in p.labels.items()}
            buf.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif path.suffix == ".csv":
        writer = csv.writer(buf)
        writer.writerow([*PAIR_FIELDS, *(f"label:{n}" for n in names)])
        for p in pairs:
            labels = [_label(p.labels.get(n, float("nan"))) for n in names]
            writer.writerow(
                [_plain(getattr(p, k)) or "" for k in PAIR_FIELDS]
                + ["" if v is None else v for v in labels]
            )
    else:
        raise InputError(f"pairs file {path} must end in .csv or .jsonl")
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Path) else value


def _label(value: float) -> float | None:
    return None if value != value else value
