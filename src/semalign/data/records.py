"""The one record type every dataset reader yields."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
