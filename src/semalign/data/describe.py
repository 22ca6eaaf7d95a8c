"""Counts of a dataset: records, patients, studies, splits, views, and labels by value."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from semalign.data.records import Record


@dataclass
class LabelCounts:
    """How often a label is positive, negative, uncertain, or not mentioned (NaN/absent)."""

    positive: int = 0
    negative: int = 0
    uncertain: int = 0
    missing: int = 0


@dataclass
class DatasetSummary:
    """Counts over the records of one dataset."""

    dataset: str
    records: int = 0
    patients: int = 0
    studies: int = 0
    with_image: int = 0
    with_report: int = 0
    with_findings: int = 0
    with_impression: int = 0
    splits: Counter[str] = field(default_factory=Counter)
    views: Counter[str] = field(default_factory=Counter)
    labels: dict[str, LabelCounts] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the counts."""
        return {
            "dataset": self.dataset,
            "records": self.records,
            "patients": self.patients,
            "studies": self.studies,
            "with_image": self.with_image,
            "with_report": self.with_report,
            "with_findings": self.with_findings,
            "with_impression": self.with_impression,
            "splits": dict(self.splits),
            "views": dict(self.views),
            "labels": {k: vars(v) for k, v in self.labels.items()},
        }


def summarise(records: Iterable[Record], dataset: str = "") -> DatasetSummary:
    """Count ``records`` in one pass (memory: the sets of patient and study ids).

    A label absent from a record that other records carry counts as missing for that record.
    """
    s = DatasetSummary(dataset=dataset)
    patients: set[str] = set()
    studies: set[str] = set()
    values: dict[str, Counter[str]] = {}
    for r in records:
        s.records += 1
        s.dataset = s.dataset or r.dataset
        if r.patient_id is not None:
            patients.add(r.patient_id)
        if r.study_id is not None:
            studies.add(r.study_id)
        s.with_image += bool(r.image_paths)
        s.with_report += bool(r.report)
        s.with_findings += bool(r.findings)
        s.with_impression += bool(r.impression)
        s.splits[r.split or "(none)"] += 1
        s.views[r.view or "(unknown)"] += 1
        for name, v in r.labels.items():
            key = (
                "missing"
                if math.isnan(v)
                else {1.0: "positive", 0.0: "negative", -1.0: "uncertain"}[v]
            )
            values.setdefault(name, Counter())[key] += 1
    s.patients, s.studies = len(patients), len(studies)
    for name, c in values.items():
        absent = s.records - sum(c.values())
        s.labels[name] = LabelCounts(
            c["positive"], c["negative"], c["uncertain"], c["missing"] + absent
        )
    return s


def format_summary(s: DatasetSummary) -> str:
    """A plain-text report of a summary, for the terminal."""
    lines = [
        f"dataset   {s.dataset}",
        f"records   {s.records}   patients {s.patients}   studies {s.studies}",
        f"images    {s.with_image}   reports {s.with_report}   findings {s.with_findings}"
        f"   impression {s.with_impression}",
        "splits    " + "   ".join(f"{k} {v}" for k, v in sorted(s.splits.items())),
        "views     " + "   ".join(f"{k} {v}" for k, v in s.views.most_common()),
    ]
    if s.labels:
        width = max(len(n) for n in s.labels)
        lines.append("")
        lines.append(f"{'label':<{width}}  {'pos':>7} {'neg':>7} {'unc':>7} {'missing':>7}")
        for name, c in s.labels.items():
            lines.append(
                f"{name:<{width}}  {c.positive:>7} {c.negative:>7} {c.uncertain:>7} {c.missing:>7}"
            )
    return "\n".join(lines)
