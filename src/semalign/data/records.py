"""The one record type every dataset reader yields."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Section = Literal["report", "findings", "impression", "findings+impression"]
SECTIONS: tuple[str, ...] = ("report", "findings", "impression", "findings+impression")


@dataclass(frozen=True)
class Record:
    """One sample of a dataset: an image (or a study's images), its report, its labels.

    ``labels`` maps canonical label names (see :mod:`semalign.data.labels`) to 1.0 positive,
    0.0 negative, -1.0 uncertain or NaN not mentioned. ``view`` is a normalised view position
    (``PA``, ``AP``, ``FRONTAL`` when AP/PA is unknown, ``LATERAL``, ``LL``, ...). ``split`` is
    ``train``, ``val``, ``test`` or None. Paths are absolute; nothing is read from them here.
    """

    id: str
    dataset: str
    image_paths: tuple[Path, ...] = ()
    report: str | None = None
    findings: str | None = None
    impression: str | None = None
    labels: Mapping[str, float] = field(default_factory=dict)
    patient_id: str | None = None
    study_id: str | None = None
    view: str | None = None
    split: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def patient_key(self) -> str:
        """The patient this record belongs to, as a grouping key for splits and folds:
        ``dataset/patient_id``, or ``dataset/id`` when the reader knows no patient (the record
        is then its own patient). Namespaced by dataset, so two collections never share one."""
        return f"{self.dataset}/{self.patient_id if self.patient_id else self.id}"

    @property
    def image_path(self) -> Path | None:
        """The first image of the record, or None for a report-only record."""
        return self.image_paths[0] if self.image_paths else None

    def text(self, section: Section | str = "report") -> str | None:
        """The report text of ``section``; None when the record lacks it (no silent fallback).

        ``findings+impression`` joins whichever of the two sections exist.
        """
        if section == "report":
            return self.report or None
        if section == "findings":
            return self.findings or None
        if section == "impression":
            return self.impression or None
        if section == "findings+impression":
            parts = [p for p in (self.findings, self.impression) if p]
            return " ".join(parts) if parts else None
        from semalign.errors import InputError

        raise InputError(f"unknown text section {section!r}: use one of {', '.join(SECTIONS)}")

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN labels become null, paths strings)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "image_paths": [str(p) for p in self.image_paths],
            "report": self.report,
            "findings": self.findings,
            "impression": self.impression,
            "labels": {k: (None if math.isnan(v) else v) for k, v in self.labels.items()},
            "patient_id": self.patient_id,
            "study_id": self.study_id,
            "view": self.view,
            "split": self.split,
        }


CSV_FIELDS = ("id", "dataset", "image", "report", "findings", "impression", "patient_id",
              "study_id", "view", "split")  # fmt: skip


def write_records(records: Iterable[Record], path: Path) -> int:
    """Write records as ``.jsonl`` (``to_json_dict`` per line) or ``.csv`` (one column per field,
    ``image`` the first image path, one column per label holding 1/0/-1/blank), atomically.

    Returns the number written.
    """
    import csv
    import io
    import json

    from semalign.artefacts import atomic_write_bytes

    rows = list(records)
    buf = io.StringIO()
    if path.suffix == ".csv":
        names = sorted({k for r in rows for k in r.labels})
        writer = csv.writer(buf)
        writer.writerow([*CSV_FIELDS, *names])
        for r in rows:
            d = r.to_json_dict()
            d["image"] = d["image_paths"][0] if d["image_paths"] else None
            labels = [d["labels"].get(n) for n in names]
            writer.writerow(
                ["" if d[k] is None else d[k] for k in CSV_FIELDS]
                + ["" if v is None else f"{v:g}" for v in labels]
            )
    else:
        for r in rows:
            buf.write(json.dumps(r.to_json_dict(), ensure_ascii=False) + "\n")
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return len(rows)
